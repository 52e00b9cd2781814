"""Each player's optimizer, chosen by name (``optim.name``), and optimism.

``create_optimizer(config.optim, lr)`` builds one player's optax
transformation; the game takes one per player, so separate learning rates
(``optim.g_lr``, ``optim.d_lr``: the two time-scale update rule, TTUR) are
just two calls. The 'optimistic' update rule chains
``optax.scale_by_optimistic_gradient`` after it (``steps.player_optimizer``).
"""

from __future__ import annotations

import numbers
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


def learning_rate_schedule(cfg, learning_rate: float):
  """``learning_rate``, or CycleGAN's linear decay when ``optim.lr_decay_steps`` > 0.

  lr(t) = learning_rate * (1 - clip((t - s) / n, 0, 1)), s =
  ``optim.lr_decay_start`` and n = ``optim.lr_decay_steps``, t the player's
  own update count: constant for s updates, then linearly to 0 over the next
  n (Zhu et al. 2017: 100 epochs constant, 100 decaying). Configs saved
  before the fields existed have no decay.
  """
  steps = cfg.get('lr_decay_steps', 0)
  if not steps:
    return learning_rate
  return optax.linear_schedule(learning_rate, 0.0, steps, cfg.get('lr_decay_start', 0))


def create_optimizer(cfg, learning_rate: float) -> optax.GradientTransformation:
  """One player's optimizer: ``OPTIMIZERS[cfg.name]`` at ``learning_rate`` (or its schedule).

  Args:
    cfg: ``config.optim`` (name, b1, b2; b1 and b2 are Adam's only;
      lr_decay_start, lr_decay_steps: see ``learning_rate_schedule``).
    learning_rate: this player's step size.
  """
  if cfg.name not in OPTIMIZERS:
    raise ConfigError(f'optim.name={cfg.name!r} is not a known optimizer; '
                     f'allowed: {sorted(OPTIMIZERS)}')
  return OPTIMIZERS[cfg.name](learning_rate_schedule(cfg, learning_rate), cfg)


def validate_config(o) -> None:
  """Raises ConfigError for the first invalid field of ``config.optim``."""
  validation.choice('optim.name', o.name, OPTIMIZERS)
  for field in ('g_lr', 'd_lr'):
    validation.positive(f'optim.{field}', o[field])
  for field in ('b1', 'b2'):
    validation.unit_interval(f'optim.{field}', o[field])
  for field in ('lr_decay_start', 'lr_decay_steps'):
    value = o.get(field, 0)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
      raise ConfigError(f'optim.{field}={value!r}; must be an integer >= 0')
