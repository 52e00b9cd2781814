"""Multi-layer perceptron generator and discriminator, for flat and 2-D data."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import maybe_spectral_norm

OUTPUT_ACTIVATIONS = {'none': lambda x: x, 'tanh': jnp.tanh}


class MLPGenerator(nn.Module):
  """G: z (B, z_dim) -> samples (B, *out_shape); ReLU hidden layers.

  Attributes:
    hidden: widths of the hidden layers.
    out_shape: shape of one sample, e.g. (2,) or (28, 28, 1).
    output_activation: 'none' (unbounded data such as the 2-D mixtures) or
      'tanh' (images in [-1, 1]).
  """
  hidden: Sequence[int]
  out_shape: Sequence[int]
  output_activation: str = 'none'

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    del train  # no BatchNorm or dropout
    x = z
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    size = 1
    for d in self.out_shape:
      size *= d
    x = nn.Dense(size)(x)
    x = OUTPUT_ACTIVATIONS[self.output_activation](x)
    return x.reshape(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
  """D: samples (B, ...) -> logits (B,); LeakyReLU(0.2) hidden layers.

  Attributes:
    hidden: widths of the hidden layers.
    spectral_norm: spectrally normalise every dense layer.
    return_features: return (logits (B,), phi (B, hidden[-1])), phi the last
      hidden layer (for the conditional heads, models/conditional.py).
  """
  hidden: Sequence[int]
  spectral_norm: bool = False
  return_features: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True):
    dense = lambda width: maybe_spectral_norm(nn.Dense(width), self.spectral_norm, train)
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.leaky_relu(dense(width)(x), 0.2)
    logits = dense(1)(x)[:, 0]
    return (logits, x) if self.return_features else logits
