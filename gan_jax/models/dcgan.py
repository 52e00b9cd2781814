"""DCGAN generator and discriminator (Radford et al. 2016).

BatchNorm in every layer except the generator output and the discriminator
input, ReLU in G, LeakyReLU(0.2) in D, tanh output, N(0, 0.02) weights. No
conv biases where BatchNorm follows (BatchNorm's offset plays that role).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import ConvTranspose, maybe_spectral_norm

dcgan_init = nn.initializers.normal(stddev=0.02)


def _batch_norm(train: bool, axis_name: str | None, dtype: Any) -> nn.BatchNorm:
  # PyTorch-style BatchNorm (momentum 0.1 on the running stats, eps 1e-5),
  # scale initialised N(1, 0.02) as in the DCGAN paper's reference code.
  # Statistics are reduced in float32 whatever ``dtype`` the output has.
  return nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5,
      scale_init=lambda k, s, d=jnp.float32: 1.0 + dcgan_init(k, s, d),
      axis_name=axis_name, dtype=dtype)


class DCGANGenerator(nn.Module):
  """G: z (B, z_dim) -> images (B, H, W, C) in [-1, 1].

  z is projected by a dense layer to a (base, base, features[0]) map, then each
  transposed convolution i (kernel k, stride strides[i]) maps to features[i+1]
  channels; the last one maps to ``out_channels`` and ends in tanh. With 'SAME'
  padding H = W = base * prod(strides).

  Attributes:
    base_size: spatial size of the projected map.
    features: channels of the projected map and of each hidden layer.
    strides: one stride per transposed convolution (len(features) of them).
    kernel_size: square kernel size of the transposed convolutions.
    out_channels: C.
    padding: padding of the transposed convolutions.
    out_bias: whether the output layer has a bias.
    conv_transpose_impl: 'auto' | 'xla' | 'subpixel' (see layers.ConvTranspose).
    axis_name: device axis over which BatchNorm statistics are averaged.
    dtype: computation dtype (``model.dtype``): float32, or bfloat16 for the
      matmuls and convolutions on accelerators. Params stay float32 and the
      output is float32.
  """
  base_size: int
  features: Sequence[int]
  strides: Sequence[int]
  kernel_size: int
  out_channels: int
  padding: str | Sequence[tuple[int, int]] = 'SAME'
  out_bias: bool = False
  conv_transpose_impl: str = 'auto'
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    x = nn.Dense(self.base_size * self.base_size * self.features[0],
                 use_bias=False, kernel_init=dcgan_init, dtype=self.dtype)(z)
    x = x.reshape(z.shape[0], self.base_size, self.base_size, self.features[0])
    x = nn.relu(_batch_norm(train, self.axis_name, self.dtype)(x))
    out_features = (*self.features[1:], self.out_channels)
    for i, (features, stride) in enumerate(zip(out_features, self.strides)):
      is_output = i == len(out_features) - 1
      x = ConvTranspose(
          features, (self.kernel_size,) * 2, (stride, stride),
          padding=self.padding, use_bias=is_output and self.out_bias,
          kernel_init=dcgan_init, impl=self.conv_transpose_impl, dtype=self.dtype)(x)
      if not is_output:
        x = nn.relu(_batch_norm(train, self.axis_name, self.dtype)(x))
    return jnp.tanh(x).astype(jnp.float32)


class DCGANDiscriminator(nn.Module):
  """D: images (B, H, W, C) -> logits (B,); D(x) = sigmoid(logit).

  Strided convolutions with ``features`` channels, then a dense layer to one
  logit (for the 64x64 geometry this dense layer is the k4 'valid' conv of the
  PyTorch example, with the same 8,192 weights). Only the input layer may have
  a bias (``in_bias``); the others are followed by BatchNorm. With
  ``spectral_norm`` every conv and the dense layer are spectrally normalised
  (see layers.maybe_spectral_norm); BatchNorm stays. ``dtype`` as in the
  generator; the logits are float32.
  """
  features: Sequence[int]
  strides: Sequence[int]
  kernel_size: int
  padding: str | Sequence[tuple[int, int]] = 'SAME'
  in_bias: bool = True
  out_bias: bool = True
  axis_name: str | None = None
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    for i, (features, stride) in enumerate(zip(self.features, self.strides)):
      conv = nn.Conv(features, (self.kernel_size,) * 2, (stride, stride),
                     padding=self.padding, use_bias=i == 0 and self.in_bias,
                     kernel_init=dcgan_init, dtype=self.dtype)
      x = maybe_spectral_norm(conv, self.spectral_norm, train)(x)
      if i > 0:
        x = _batch_norm(train, self.axis_name, self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = x.reshape(x.shape[0], -1)
    dense = nn.Dense(1, use_bias=self.out_bias, kernel_init=dcgan_init, dtype=self.dtype)
    return maybe_spectral_norm(dense, self.spectral_norm, train)(x)[:, 0].astype(jnp.float32)
