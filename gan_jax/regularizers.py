"""Penalties on the discriminator, added to its loss, chosen by name.

``train.regularizers`` names any of ``REGULARIZERS``; each is a function
(critic, real, fake, rng, axis_name) -> scalar, where ``critic(x)`` gives D's
logits in training mode (its model-state update dropped); the task adds
weight * penalty to L_D, with the weight read from the config field the entry
names. Gradients are of D's logit (before any sigmoid) with respect to its
input; one row per logit, so a PacGAN pack counts as one input.

  r1: (Mescheder et al. 2018) 1/2 E_x |grad_x D(x)|^2 on real samples,
    weight gamma = train.r1_gamma: gamma/2 E|grad D|^2 in total.
  r2: the same on generated samples, weight train.r2_gamma.
  gradient_penalty: WGAN-GP (Gulrajani et al. 2017) E (|grad D(x_hat)| - 1)^2
    at random interpolates x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per
    sample; weight lambda = train.gp_lambda (10 in the paper).

Spectral normalisation (``model.d_spectral_norm``) and label smoothing
(``train.label_smoothing``) are the other two regularisers of the game; they
live in the model and in the loss.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import validation
from gan_jax.errors import ConfigError
from gan_jax.modeling import device_draw

# A small constant inside the square root keeps the norm's gradient finite
# where D's input gradient is exactly zero (sqrt'(0) is infinite).
_NORM_EPS = 1e-12


Critic = Callable[[jax.Array], jax.Array]  # x (B, ...) -> logits (B / pack,)


def input_gradients(critic: Critic, x: jax.Array) -> jax.Array:
  """grad_x of D's logits, as (num_logits, features): one row per logit.

  ``critic`` runs D in training mode (BatchNorm on this batch); the task drops
  the model-state update of this extra pass.
  """
  def total_logit(x):
    logits = critic(x)
    return jnp.sum(logits), logits.shape[0]

  grads, num_logits = jax.grad(total_logit, has_aux=True)(x)
  # Consecutive rows form a PacGAN pack, so the reshape groups each pack.
  return grads.reshape(num_logits, -1)


def _half_mean_squared_norm(grads: jax.Array) -> jax.Array:
  return 0.5 * jnp.mean(jnp.sum(jnp.square(grads), axis=1))


def r1(critic: Critic, real, fake, rng, axis_name=None) -> jax.Array:
  """1/2 E_x |grad_x D(x)|^2 over the real batch."""
  del fake, rng, axis_name
  return _half_mean_squared_norm(input_gradients(critic, real))


def r2(critic: Critic, real, fake, rng, axis_name=None) -> jax.Array:
  """1/2 E |grad D(G(z))|^2 over the generated batch."""
  del real, rng, axis_name
  return _half_mean_squared_norm(input_gradients(critic, fake))


def gradient_penalty(critic: Critic, real, fake, rng, axis_name=None) -> jax.Array:
  """E (|grad D(x_hat)| - 1)^2, x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1].

  eps is drawn for the global batch and sliced per device, like z.
  """
  eps = device_draw(jax.random.uniform, rng,
                    (real.shape[0],) + (1,) * (real.ndim - 1), axis_name)
  grads = input_gradients(critic, eps * real + (1 - eps) * fake)
  norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=1) + _NORM_EPS)
  return jnp.mean(jnp.square(norms - 1))


class Regularizer(NamedTuple):
  """A penalty and the ``config.train`` field that holds its weight."""
  fn: Callable[..., jax.Array]
  weight_field: str


REGULARIZERS: dict[str, Regularizer] = {
    'r1': Regularizer(r1, 'r1_gamma'),
    'r2': Regularizer(r2, 'r2_gamma'),
    'gradient_penalty': Regularizer(gradient_penalty, 'gp_lambda'),
}


def create_penalties(train_cfg) -> tuple[tuple[str, Callable[..., jax.Array], float], ...]:
  """(name, fn, weight) for each name in ``train_cfg.regularizers``, for a task."""
  penalties = []
  for name in train_cfg.regularizers:
    if name not in REGULARIZERS:
      raise ConfigError(f'train.regularizers: {name!r} is not a known regulariser; '
                       f'allowed: {sorted(REGULARIZERS)}')
    fn, field = REGULARIZERS[name]
    penalties.append((name, fn, float(train_cfg[field])))
  return tuple(penalties)


def add_penalties(penalties, critic: Critic, real, fake, rng, axis_name, d_loss, metrics):
  """D's loss plus each weighted penalty of ``create_penalties``, in order.

  Penalty i is weight * fn(critic, real, stop_gradient(fake), fold_in(rng, i),
  axis_name), so no gradient reaches G through it; each is also written to
  ``metrics['<name>_penalty']``. Returns the new d_loss.
  """
  for i, (name, penalty, weight) in enumerate(penalties):
    value = weight * penalty(critic, real, lax.stop_gradient(fake),
                             jax.random.fold_in(rng, i), axis_name)
    metrics[f'{name}_penalty'] = value
    d_loss = d_loss + value
  return d_loss


def validate_config(t) -> None:
  """Raises ConfigError for ``train.regularizers`` and the penalty weights."""
  if isinstance(t.regularizers, str) or not all(isinstance(r, str) for r in t.regularizers):
    raise ConfigError(f'train.regularizers={t.regularizers!r}; must be a tuple of '
                      "names, e.g. ('r1',); allowed names: "
                      f'{", ".join(repr(r) for r in sorted(REGULARIZERS))}')
  for i, name in enumerate(t.regularizers):
    validation.choice(f'train.regularizers[{i}]', name, REGULARIZERS)
  for entry in REGULARIZERS.values():
    validation.at_least_zero(f'train.{entry.weight_field}', t[entry.weight_field])
