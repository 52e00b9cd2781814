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

from gan_jax.models.conv import Conv
from gan_jax.models.layers import ConvTranspose, maybe_spectral_norm

dcgan_init = nn.initializers.normal(stddev=0.02)


def _scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + dcgan_init(key, shape, dtype)


def batch_norm(train: bool, axis_name: str | None, dtype: Any, affine: bool = True,
                name: str | None = None) -> nn.BatchNorm:
  # PyTorch-style BatchNorm (momentum 0.1 on the running stats, eps 1e-5),
  # scale initialised N(1, 0.02) as in the DCGAN paper's reference code.
  # Statistics are reduced in float32 whatever ``dtype`` the output has.
  return nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5,
      use_scale=affine, use_bias=affine, scale_init=_scale_init,
      axis_name=axis_name, dtype=dtype, name=name)


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and offset are looked up per class (Dumoulin et al. 2017).

  y = gamma[label] * (x - mean) / sqrt(var + eps) + beta[label], the
  statistics over the batch as in ``batch_norm`` (running averages in eval
  mode); gamma starts at 1 + N(0, 0.02) and beta at 0, as DCGAN's BatchNorm.

  x (B, ..., C), labels (B,) int in [0, num_classes) -> (B, ..., C).
  """
  num_classes: int
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, train: bool = True) -> jax.Array:
    channels = x.shape[-1]
    x = batch_norm(train, self.axis_name, self.dtype, affine=False, name='norm')(x)
    gamma = nn.Embed(self.num_classes, channels, embedding_init=_scale_init, name='scale')
    beta = nn.Embed(self.num_classes, channels, embedding_init=nn.initializers.zeros,
                    name='offset')
    per_row = (x.shape[0],) + (1,) * (x.ndim - 2) + (channels,)
    return (x * gamma(labels).reshape(per_row).astype(x.dtype)
            + beta(labels).reshape(per_row).astype(x.dtype))


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
    num_classes: > 0 makes every BatchNorm a ``ConditionalBatchNorm`` on the
      ``labels`` (B,) passed to the call (``model.g_conditioning = 'cbn'``).
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
  num_classes: int = 0

  def _norm(self, x, train, labels):
    if not self.num_classes:
      return batch_norm(train, self.axis_name, self.dtype)(x)
    return ConditionalBatchNorm(self.num_classes, self.axis_name, self.dtype)(
        x, labels, train)

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True,
               labels: jax.Array | None = None) -> jax.Array:
    x = nn.Dense(self.base_size * self.base_size * self.features[0],
                 use_bias=False, kernel_init=dcgan_init, dtype=self.dtype)(z)
    x = x.reshape(z.shape[0], self.base_size, self.base_size, self.features[0])
    x = nn.relu(self._norm(x, train, labels))
    out_features = (*self.features[1:], self.out_channels)
    for i, (features, stride) in enumerate(zip(out_features, self.strides)):
      is_output = i == len(out_features) - 1
      x = ConvTranspose(
          features, (self.kernel_size,) * 2, (stride, stride),
          padding=self.padding, use_bias=is_output and self.out_bias,
          kernel_init=dcgan_init, impl=self.conv_transpose_impl, dtype=self.dtype)(x)
      if not is_output:
        x = nn.relu(self._norm(x, train, labels))
    return jnp.tanh(x).astype(jnp.float32)


class DCGANDiscriminator(nn.Module):
  """D: images (B, H, W, C) -> logits (B,); D(x) = sigmoid(logit).

  Strided convolutions with ``features`` channels, then a dense layer to one
  logit (for the 64x64 geometry this dense layer is the k4 'valid' conv of the
  PyTorch example, with the same 8,192 weights). Only the input layer may have
  a bias (``in_bias``); the others are followed by BatchNorm, or, with
  ``batch_norm=False`` (R3GAN's D has no normalisation), have a bias. With
  ``spectral_norm`` every conv and the dense layer are spectrally normalised
  (see layers.maybe_spectral_norm); BatchNorm stays. ``dtype`` as in the
  generator; the logits are float32. ``conv_impl`` chooses how the
  convolutions are computed ('auto' | 'xla' | 'patches' | 'space_to_depth' |
  'patches_vjp', see models/conv.py): the same function and parameters
  (``Conv`` is a drop-in ``nn.Conv``) whichever it is.
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
  return_features: bool = False
  conv_impl: str = 'auto'
  batch_norm: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True):
    for i, (features, stride) in enumerate(zip(self.features, self.strides)):
      normalised = i > 0 and self.batch_norm
      conv = Conv(features, (self.kernel_size,) * 2, (stride, stride),
                  padding=self.padding,
                  use_bias=self.in_bias if i == 0 else not normalised,
                  kernel_init=dcgan_init, dtype=self.dtype, impl=self.conv_impl)
      x = maybe_spectral_norm(conv, self.spectral_norm, train)(x)
      if normalised:
        x = batch_norm(train, self.axis_name, self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    phi = x.reshape(x.shape[0], -1)
    dense = nn.Dense(1, use_bias=self.out_bias, kernel_init=dcgan_init, dtype=self.dtype)
    logits = maybe_spectral_norm(dense, self.spectral_norm, train)(phi)[:, 0].astype(jnp.float32)
    return (logits, phi.astype(jnp.float32)) if self.return_features else logits
