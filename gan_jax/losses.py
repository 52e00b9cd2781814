"""GAN losses, from discriminator logits, chosen by name.

Each loss maps (real_logits (B,), fake_logits (B,)) to (d_loss, g_loss), the
scalars each player *minimises*. D(x) = sigmoid(l), and every log-probability
is computed with log-sigmoid: log D(x) = log_sigmoid(l) and
log(1 - D(x)) = log_sigmoid(-l), which stays finite where log(sigmoid(l))
would underflow to -inf.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

LossFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def value_function(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """The minimax value V(D, G) = E log D(x) + E log(1 - D(G(z)))."""
  return (jnp.mean(jax.nn.log_sigmoid(real_logits))
          + jnp.mean(jax.nn.log_sigmoid(-fake_logits)))


def minimax(real_logits, fake_logits):
  """The primer's zero-sum game: D ascends V, G descends it (saturating G loss).

  d_loss = -V(D, G);  g_loss = E log(1 - D(G(z))).
  """
  d_loss = -value_function(real_logits, fake_logits)
  g_loss = jnp.mean(jax.nn.log_sigmoid(-fake_logits))
  return d_loss, g_loss


def non_saturating(real_logits, fake_logits):
  """D as in minimax; G maximises log D(G(z)) instead, for strong early gradients.

  d_loss = -V(D, G);  g_loss = -E log D(G(z)).
  """
  d_loss = -value_function(real_logits, fake_logits)
  g_loss = -jnp.mean(jax.nn.log_sigmoid(fake_logits))
  return d_loss, g_loss


LOSSES: dict[str, LossFn] = {
    'minimax': minimax,
    'non_saturating': non_saturating,
}


def get_loss(name: str) -> LossFn:
  """Looks a loss up by name; an unknown name lists the valid ones."""
  if name not in LOSSES:
    raise ValueError(
        f'train.loss={name!r} is not a known loss; allowed: {sorted(LOSSES)}')
  return LOSSES[name]
