"""Each player's optimizer, chosen by name (``optim.name``), and optimism.

``create_optimizer(config.optim, lr)`` builds one player's optax
transformation; the game takes one per player, so separate learning rates
(``optim.g_lr``, ``optim.d_lr``: the two time-scale update rule, TTUR) are
just two calls. ``optimistic()`` is chained after an optimizer by the
'optimistic' update rule (see steps.py).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gan_jax.state import adam

# name -> (learning rate, config.optim) -> transformation.
OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    # Adam as DCGAN uses it (b1 0.5 in the configs).
    'adam': lambda lr, cfg: adam(lr, cfg.b1, cfg.b2),
    # Plain gradient descent, params <- params - lr * grad: the update rules'
    # textbook form (the Dirac-GAN's closed-form rates assume it).
    'sgd': lambda lr, cfg: optax.sgd(lr),
}


def create_optimizer(cfg, learning_rate: float) -> optax.GradientTransformation:
  """One player's optimizer: ``OPTIMIZERS[cfg.name]`` at ``learning_rate``.

  Args:
    cfg: ``config.optim`` (name, b1, b2; b1 and b2 are Adam's only).
    learning_rate: this player's step size.
  """
  if cfg.name not in OPTIMIZERS:
    raise ValueError(f'optim.name={cfg.name!r} is not a known optimizer; '
                     f'allowed: {sorted(OPTIMIZERS)}')
  return OPTIMIZERS[cfg.name](learning_rate, cfg)


class OptimisticState(NamedTuple):
  """The previous step's update u_{t-1}, and how many updates were made."""
  previous: optax.Updates
  count: jax.Array


def optimistic() -> optax.GradientTransformation:
  """Optimism: u_t -> 2 u_t - u_{t-1}, chained after a base optimizer.

  With SGD (u_t = -lr g_t) this is optimistic gradient descent (OGDA,
  Daskalakis et al. 2018): x_{t+1} = x_t - 2 lr g_t + lr g_{t-1}; with Adam it
  is their Optimistic Adam. The first update has no predecessor and is passed
  through unchanged, so step 1 equals the base optimizer's.
  """
  def init(params):
    return OptimisticState(jax.tree.map(jnp.zeros_like, params),
                           jnp.zeros((), jnp.int32))

  def update(updates, state, params=None):
    del params
    started = state.count > 0
    out = jax.tree.map(lambda u, p: jnp.where(started, 2 * u - p, u),
                       updates, state.previous)
    return out, OptimisticState(updates, state.count + 1)

  return optax.GradientTransformation(init, update)
