"""Image-to-image networks: SRResNet, the pix2pix U-Net, the CycleGAN ResNet and PatchGAN.

Every generator maps (B, h, w, C) images in [-1, 1] to (B, H, W, C) images in
[-1, 1] (tanh; the SRResNet's output is linear, as Ledig et al.'s); upsampling is sub-pixel (a stride-1 convolution to r^2 times
the channels, then ``pixel_shuffle``), never a strided transposed
convolution, whose weight gradient XLA:CPU computes very slowly (see
models/layers.py). Normalisation is instance norm (flax's ``InstanceNorm``,
no running statistics, hence no model state) or none; dropout is left out
(pix2pix's dropout noise is its only source of randomness, and Isola et al.
report it barely changes the output).

A convolution followed directly by instance norm has no bias: the norm
subtracts each channel's mean over the image, so a per-channel bias cancels
exactly and its gradient is zero up to rounding. Left in, those dead
parameters are moved by Adam's normalised step from that rounding noise
alone, differently on every device layout (the 8-device check in
tests/tasks_parallel_check.py differed from one device only there). The
sub-pixel convolutions keep theirs: after the shuffle, one output channel
mixes four biases, and only their mean cancels.

  SRResNet         Ledig et al. 2017 without BatchNorm (as ESRGAN):
                   conv3 -> ``num_blocks`` residual blocks (conv3-ReLU-conv3 + x)
                   -> conv3 + the first features -> log2(scale) x (conv3 to 4F,
                   pixel shuffle x2, ReLU) -> conv3 to C (linear).
  UNet             Isola et al. 2017: stride-2 k4 convs down (LeakyReLU 0.2,
                   instance norm after the first), back up by sub-pixel convs,
                   each level concatenated with its mirror (skip connections).
  ResnetTranslator Zhu et al. 2017 (Johnson et al.'s net): conv7, two stride-2
                   convs down, ``num_blocks`` residual blocks, two sub-pixel
                   ups, conv7 to C, instance norm + ReLU between.
  PatchGAN         Isola et al. 2017: k4 convs (strides 2, 2, 1), LeakyReLU
                   0.2, instance norm after the first, then a k4 conv to one
                   logit per patch: (B, H / 4, W / 4). ``conditional``: D(x, y)
                   on the channel concatenation of an input y (resized to x's
                   size by nearest repetition if smaller) and x.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
  """(B, H, W, r*r*C) -> (B, r*H, r*W, C): channel block (i, j) becomes pixel offset (i, j)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h, w, r, r, c // (r * r))
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * r, w * r, c // (r * r))


def _norm(kind: str):
  return nn.InstanceNorm() if kind == 'instance' else (lambda x: x)


class ResidualBlock(nn.Module):
  """x + norm(conv3(relu(norm(conv3(x))))): the same channels in and out."""
  norm: str = 'none'

  @nn.compact
  def __call__(self, x):
    f, biased = x.shape[-1], self.norm != 'instance'
    y = nn.relu(_norm(self.norm)(nn.Conv(f, (3, 3), use_bias=biased)(x)))
    return x + _norm(self.norm)(nn.Conv(f, (3, 3), use_bias=biased)(y))


class SubPixelUp(nn.Module):
  """x2 upsampling: conv3 to 4 x ``features``, pixel shuffle, norm, ReLU."""
  features: int
  norm: str = 'none'

  @nn.compact
  def __call__(self, x):
    x = pixel_shuffle(nn.Conv(4 * self.features, (3, 3))(x), 2)
    return nn.relu(_norm(self.norm)(x))


class SRResNet(nn.Module):
  """Low-res (B, h, w, C) -> high-res (B, scale h, scale w, C); see the module docstring."""
  scale: int
  out_channels: int
  features: int = 64
  num_blocks: int = 8

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # no BatchNorm, no dropout
    head = nn.relu(nn.Conv(self.features, (3, 3))(x))
    y = head
    for _ in range(self.num_blocks):
      y = ResidualBlock()(y)
    y = nn.Conv(self.features, (3, 3))(y) + head
    for _ in range(int(math.log2(self.scale))):
      y = SubPixelUp(self.features)(y)
    # Linear, as SRResNet's: a tanh here saturated at the background's -1
    # within 50 steps of an L1 loss (mean |G(a) - b| stuck at 0.27, the
    # strokes' share), its gradient then too small to bring the strokes back.
    return nn.Conv(self.out_channels, (3, 3))(y)


class UNet(nn.Module):
  """(B, H, W, C) -> (B, H, W, C) with skips; ``features[i]`` the channels at level i.

  H and W must be divisible by 2^len(features) (28 -> 14 -> 7 for two levels).
  """
  out_channels: int
  features: tuple[int, ...] = (64, 128)

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train
    skips, y = [], x
    for i, f in enumerate(self.features):
      y = nn.Conv(f, (4, 4), strides=(2, 2), use_bias=i == 0)(
          y if i == 0 else nn.leaky_relu(y, 0.2))
      if i:
        y = nn.InstanceNorm()(y)
      skips.append(y)
    y = nn.leaky_relu(y, 0.2)
    y = nn.InstanceNorm()(nn.Conv(self.features[-1], (3, 3), use_bias=False)(y))  # bottleneck
    for i in reversed(range(len(self.features))):
      y = jnp.concatenate([y, skips[i]], axis=-1)
      out = self.features[i - 1] if i else self.features[0]
      y = SubPixelUp(out, 'instance')(y)
    y = jnp.concatenate([y, x], axis=-1)
    return jnp.tanh(nn.Conv(self.out_channels, (3, 3))(y))


class ResnetTranslator(nn.Module):
  """(B, H, W, C) -> (B, H, W, C), H and W divisible by 4; see the module docstring."""
  out_channels: int
  features: int = 64
  num_blocks: int = 6

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train
    f = self.features
    y = nn.relu(nn.InstanceNorm()(nn.Conv(f, (7, 7), use_bias=False)(x)))
    for mult in (2, 4):
      conv = nn.Conv(mult * f, (3, 3), strides=(2, 2), use_bias=False)
      y = nn.relu(nn.InstanceNorm()(conv(y)))
    for _ in range(self.num_blocks):
      y = ResidualBlock('instance')(y)
    for mult in (2, 1):
      y = SubPixelUp(mult * f, 'instance')(y)
    return jnp.tanh(nn.Conv(self.out_channels, (7, 7))(y))


class PatchGAN(nn.Module):
  """x (B, H, W, C) [, y (B, h, w, C')] -> patch logits (B, H / 4, W / 4)."""
  features: int = 64
  conditional: bool = False

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    del train
    if self.conditional:
      factor = x.shape[1] // y.shape[1]
      if factor > 1:
        y = y.repeat(factor, axis=1).repeat(factor, axis=2)
      x = jnp.concatenate([x, y], axis=-1)
    f = self.features
    h = nn.leaky_relu(nn.Conv(f, (4, 4), strides=(2, 2))(x), 0.2)
    conv = nn.Conv(2 * f, (4, 4), strides=(2, 2), use_bias=False)
    h = nn.leaky_relu(nn.InstanceNorm()(conv(h)), 0.2)
    h = nn.leaky_relu(nn.InstanceNorm()(nn.Conv(4 * f, (4, 4), use_bias=False)(h)), 0.2)
    return nn.Conv(1, (4, 4))(h)[..., 0]
