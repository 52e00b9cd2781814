"""Generators of token sequences (``task = 'discrete'``, gan_jax/tasks/discrete.py).

Both make L tokens over a vocabulary of V from logits, drawing each with
``estimators.draw``; both return

    {'tokens': (B, L) int32, 'y': (B, L, V) what D sees, 'log_prob': (B,)}

with log_prob = log p(tokens) (given z for the factorised one) and logits
divided by a sampling ``temperature`` (B,) (1 = the model itself).

  AutoregressiveGenerator  p(x) = prod_t p(x_t | x_<t): a GRU reads e(x_<t)
      (or, for gumbel, the relaxed y_<t, so the gradient flows through the
      whole sequence) and a linear head gives the logits of x_t. No z: the
      randomness is the draws. Its exact log p of any sequence
      (``log_prob``, teacher forcing) is what the exact evaluators and the
      MLE baseline use.
  FactorizedGenerator  p(x | z) = prod_t p(x_t | z), z ~ N(0, I): an MLP from
      z to all L x V logits at once (the usual GAN generator with a
      categorical output layer; for binarised digits, L = 784 and V = 2).
      p(x) itself is an integral over z, so it has no exact likelihood.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import estimators


class AutoregressiveGenerator(nn.Module):
  """GRU language model over ``length`` tokens of ``vocab``; see the module docstring.

  Attributes:
    vocab: V.
    length: L (the loop is unrolled: meant for L of tens).
    hidden: the GRU's width.
  """
  vocab: int
  length: int
  hidden: int = 128

  def setup(self):
    self.embed = nn.Dense(self.hidden, use_bias=False)  # e(x) or relaxed y -> R^hidden
    self.cell = nn.GRUCell(self.hidden)
    self.head = nn.Dense(self.vocab)
    self.start = self.param('start', nn.initializers.normal(1.0), (self.hidden,))

  def _step(self, carry, inputs, temperature):
    carry, out = self.cell(carry, inputs)
    return carry, self.head(out) / temperature[:, None]

  def _initial(self, batch):
    carry = jnp.zeros((batch, self.hidden))
    return carry, jnp.broadcast_to(self.start, (batch, self.hidden))

  def __call__(self, gumbel: jax.Array, tau=1.0, estimator: str = 'reinforce',
               temperature: jax.Array | None = None, train: bool = True) -> dict:
    """Samples: gumbel (B, L, V) Gumbel noise -> the dict of the module docstring."""
    del train
    b = gumbel.shape[0]
    temperature = jnp.ones((b,)) if temperature is None else temperature
    carry, inputs = self._initial(b)
    tokens, ys, logits = [], [], []
    for t in range(self.length):
      carry, logit = self._step(carry, inputs, temperature)
      token, y = estimators.draw(logit, gumbel[:, t], tau, estimator)
      tokens.append(token)
      ys.append(y)
      logits.append(logit)
      inputs = self.embed(y)
    tokens, logits = jnp.stack(tokens, 1), jnp.stack(logits, 1)
    return {'tokens': tokens, 'y': jnp.stack(ys, 1),
            'log_prob': estimators.token_log_prob(logits, tokens)}

  def log_prob(self, tokens: jax.Array, temperature: jax.Array | None = None) -> jax.Array:
    """Exact log p(tokens) by teacher forcing: (B, L) int -> (B,).

    With ``temperature`` T (B,) every conditional is softmax(logits / T).
    """
    b = tokens.shape[0]
    temperature = jnp.ones((b,)) if temperature is None else temperature
    carry, inputs = self._initial(b)
    codes = jax.nn.one_hot(tokens, self.vocab)
    logits = []
    for t in range(self.length):
      carry, logit = self._step(carry, inputs, temperature)
      logits.append(logit)
      inputs = self.embed(codes[:, t])
    return estimators.token_log_prob(jnp.stack(logits, 1), tokens)


class FactorizedGenerator(nn.Module):
  """z (B, z_dim) -> L independent categoricals over V: an MLP with ReLU hidden layers.

  Attributes:
    vocab, length: V and L.
    hidden: widths of the hidden layers.
  """
  vocab: int
  length: int
  hidden: Sequence[int] = (256, 256)

  @nn.compact
  def __call__(self, z: jax.Array, gumbel: jax.Array, tau=1.0, estimator: str = 'reinforce',
               temperature: jax.Array | None = None, train: bool = True) -> dict:
    """Samples given z: (B, z_dim), gumbel (B, L, V) -> the dict of the module docstring."""
    del train
    h = z
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    logits = nn.Dense(self.length * self.vocab)(h).reshape(-1, self.length, self.vocab)
    if temperature is not None:
      logits = logits / temperature[:, None, None]
    tokens, y = estimators.draw(logits, gumbel, tau, estimator)
    return {'tokens': tokens, 'y': y, 'log_prob': estimators.token_log_prob(logits, tokens)}
