"""Multi-layer perceptron generator and discriminator, for flat and 2-D data.

Options beyond the plain ReLU / LeakyReLU stacks give PacGAN's 2-D networks
(Lin et al. 2018, the authors' config): a G with BatchNorm after each hidden
layer (``batch_norm``; its dense layers then have no bias), a D of maxout
layers (``maxout_pieces``), and weights drawn N(0, ``init_std``).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.dcgan import batch_norm
from gan_jax.models.layers import maybe_spectral_norm

OUTPUT_ACTIVATIONS = {'none': lambda x: x, 'tanh': jnp.tanh}


def _kernel_init(init_std: float):
  # 0 keeps flax's default (LeCun normal), which the MLP configs were tuned with.
  return nn.initializers.normal(init_std) if init_std else nn.initializers.lecun_normal()


class MLPGenerator(nn.Module):
  """G: z (B, z_dim) -> samples (B, *out_shape); ReLU hidden layers.

  Hidden layer: h = relu(W h + b), or with ``batch_norm``
  h = relu(BN(W h)) (BatchNorm's offset replaces the bias).

  Attributes:
    hidden: widths of the hidden layers.
    out_shape: shape of one sample, e.g. (2,) or (28, 28, 1).
    output_activation: 'none' (unbounded data such as the 2-D mixtures) or
      'tanh' (images in [-1, 1]).
    batch_norm: BatchNorm after each hidden dense layer (batch statistics in
      training, running averages in eval mode).
    init_std: > 0: dense kernels drawn N(0, init_std); 0: LeCun normal.
    axis_name: device axis over which BatchNorm statistics are averaged.
  """
  hidden: Sequence[int]
  out_shape: Sequence[int]
  output_activation: str = 'none'
  batch_norm: bool = False
  init_std: float = 0.0
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    init = _kernel_init(self.init_std)
    x = z
    for width in self.hidden:
      x = nn.Dense(width, use_bias=not self.batch_norm, kernel_init=init)(x)
      if self.batch_norm:
        x = batch_norm(train, self.axis_name, jnp.float32)(x)
      x = nn.relu(x)
    size = 1
    for d in self.out_shape:
      size *= d
    x = nn.Dense(size, kernel_init=init)(x)
    x = OUTPUT_ACTIVATIONS[self.output_activation](x)
    return x.reshape(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
  """D: samples (B, ...) -> logits (B,).

  Hidden layer: h = leaky_relu(W h + b, 0.2), or with ``maxout_pieces`` k > 1
  the maxout unit h_j = max_{p < k} (W h + b)_{j k + p} (Goodfellow et al.
  2013), which needs no other nonlinearity.

  Attributes:
    hidden: widths of the hidden layers (units, before the k pieces).
    spectral_norm: spectrally normalise every dense layer.
    return_features: return (logits (B,), phi (B, hidden[-1])), phi the last
      hidden layer (for the conditional heads, models/conditional.py).
    maxout_pieces: 1: LeakyReLU layers; k > 1: maxout layers of k pieces.
    init_std: > 0: dense kernels drawn N(0, init_std); 0: LeCun normal.
  """
  hidden: Sequence[int]
  spectral_norm: bool = False
  return_features: bool = False
  maxout_pieces: int = 1
  init_std: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True):
    init = _kernel_init(self.init_std)
    dense = lambda width: maybe_spectral_norm(nn.Dense(width, kernel_init=init),
                                              self.spectral_norm, train)
    x = x.reshape(x.shape[0], -1)
    k = self.maxout_pieces
    for width in self.hidden:
      if k > 1:
        x = jnp.max(dense(width * k)(x).reshape(x.shape[0], width, k), axis=-1)
      else:
        x = nn.leaky_relu(dense(width)(x), 0.2)
    logits = dense(1)(x)[:, 0]
    return (logits, x) if self.return_features else logits
