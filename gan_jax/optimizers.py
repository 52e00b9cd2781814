"""Each player's optimizer, chosen by name (``optim.name``), and optimism.

``create_optimizer(config.optim, lr)`` builds one player's optax
transformation; the game takes one per player, so separate learning rates
(``optim.g_lr``, ``optim.d_lr``: the two time-scale update rule, TTUR) are
just two calls. The 'optimistic' update rule chains
``optax.scale_by_optimistic_gradient`` after it (``steps.player_optimizer``).
"""

from __future__ import annotations

from typing import Callable

import optax

from gan_jax import validation
from gan_jax.errors import ConfigError
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
    raise ConfigError(f'optim.name={cfg.name!r} is not a known optimizer; '
                     f'allowed: {sorted(OPTIMIZERS)}')
  return OPTIMIZERS[cfg.name](learning_rate, cfg)


def validate_config(o) -> None:
  """Raises ConfigError for the first invalid field of ``config.optim``."""
  validation.choice('optim.name', o.name, OPTIMIZERS)
  for field in ('g_lr', 'd_lr'):
    validation.positive(f'optim.{field}', o[field])
  for field in ('b1', 'b2'):
    validation.unit_interval(f'optim.{field}', o[field])
