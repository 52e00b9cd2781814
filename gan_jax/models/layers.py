"""Layers shared by the model families.

``maybe_spectral_norm`` wraps any layer of a discriminator in spectral
normalisation. ``ConvTranspose`` is a transposed convolution with the same
parameters and the same function as ``flax.linen.ConvTranspose``, computed
either by XLA's own ``lax.conv_transpose`` or by an exactly equivalent
"sub-pixel" formulation. The reason is speed on CPU: XLA's CPU backend takes a
very slow path for the weight gradient of a strided transposed convolution
(measured ~100x its forward pass on a 2-core x86 machine), while the sub-pixel
form only contains stride-1 convolutions, whose gradients are fast.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

CONV_TRANSPOSE_IMPLS = ('auto', 'xla', 'subpixel')

Padding = str | Sequence[tuple[int, int]]


def resolve_conv_transpose_impl(impl: str, strides: Sequence[int] = (2, 2),
                                out_channels: int | None = None) -> str:
  """Maps 'auto' to the fastest implementation for the backend, strides and C_out.

  Measured with experiments/benchmark.py (README, Speed): on CPU the sub-pixel
  form avoids XLA's slow strided weight gradient, and on an H100 it made the
  whole DCGAN-64 step about twice as fast as cuDNN's transposed convolution.
  A stride-1 layer is an ordinary convolution either way, and XLA's own is
  faster: even 'subpixel' runs it by XLA's own. TPUs (not measured here) keep the native form. On CPU an output
  layer with few channels is the exception: there XLA's own weight gradient
  is fast and the sub-pixel one is not (experiments/conv_layers.py, batch 64,
  forward + both gradients, ms sub-pixel -> xla: MNIST G3 14x14x64 -> 28x28x1
  93 -> 9.6; DCGAN-64 G4 32x32x64 -> 64x64x3 721 -> 108; the 64- to
  256-channel layers stay 3-9x faster sub-pixel), so C_out <= 4 keeps 'xla'.
  """
  if impl not in CONV_TRANSPOSE_IMPLS:
    raise ValueError(
        f'model.conv_transpose_impl={impl!r}; allowed: {CONV_TRANSPOSE_IMPLS}')
  strided = any(s > 1 for s in strides)
  if impl == 'subpixel' and not strided:
    return 'xla'  # one phase: nothing to rewrite, and XLA's own is faster
  if impl == 'auto':
    few_outputs = (out_channels is not None and out_channels <= 4
                   and jax.default_backend() == 'cpu')
    return ('subpixel' if strided and not few_outputs and jax.default_backend() != 'tpu'
            else 'xla')
  return impl


def _dilated_padding(kernel: int, stride: int,
                     padding: str | tuple[int, int]) -> tuple[int, int]:
  """Padding of the stride-dilated input, as ``lax.conv_transpose`` uses it."""
  if not isinstance(padding, str):
    return tuple(padding)
  if padding == 'SAME':
    total = kernel + stride - 2
    low = kernel - 1 if stride > kernel - 1 else -(-total // 2)
  elif padding == 'VALID':
    total = kernel + stride - 2 + max(kernel - stride, 0)
    low = kernel - 1
  else:
    raise ValueError(f"padding must be 'SAME', 'VALID' or pairs, got {padding!r}")
  return low, total - low


def _phase_taps(kernel: int, stride: int, low: int, phase: int):
  """Kernel taps and input offset that produce output positions o = s*q + phase.

  ``lax.conv_transpose`` computes y[o] = sum_t xd[o + t - low] w[t], where xd
  is x with (s - 1) zeros between samples. Only taps t with
  o + t - low = s*i contribute, i.e. t = t0 + s*j with t0 = (low - phase) mod s,
  and then y[s*q + phase] = sum_j x[q + offset + j] w[t0 + s*j] with
  offset = (phase + t0 - low) / s: a stride-1 correlation.
  """
  t0 = (low - phase) % stride
  return t0, (phase + t0 - low) // stride


def subpixel_conv_transpose(x: jax.Array, kernel: jax.Array,
                            strides: Sequence[int],
                            padding: Padding) -> jax.Array:
  """``lax.conv_transpose(x, kernel, strides, padding)`` via stride-1 convs.

  Each of the s_h * s_w output phases is a stride-1 convolution of x with the
  taps of ``kernel`` that reach that phase; the phases are then interleaved
  (depth-to-space). No multiply by an inserted zero is ever computed.

  Args:
    x: (B, H, W, C_in) input, NHWC.
    kernel: (k_h, k_w, C_in, C_out), HWIO, as ``nn.ConvTranspose`` stores it.
    strides: (s_h, s_w).
    padding: 'SAME', 'VALID' or ((lo_h, hi_h), (lo_w, hi_w)) of the dilated
      input, exactly as ``lax.conv_transpose`` interprets it.

  Returns:
    (B, H_out, W_out, C_out) with H_out = (H - 1) s_h + 1 + lo_h + hi_h - k_h + 1.
  """
  k_h, k_w, _, c_out = kernel.shape
  s_h, s_w = strides
  pads = [padding, padding] if isinstance(padding, str) else list(padding)
  (lo_h, hi_h) = _dilated_padding(k_h, s_h, pads[0])
  (lo_w, hi_w) = _dilated_padding(k_w, s_w, pads[1])
  batch, h, w, _ = x.shape
  out_h = (h - 1) * s_h + 1 + lo_h + hi_h - k_h + 1
  out_w = (w - 1) * s_w + 1 + lo_w + hi_w - k_w + 1
  q_h, q_w = -(-out_h // s_h), -(-out_w // s_w)  # outputs per phase (ceil)

  rows = []
  for p_h in range(s_h):
    t0_h, off_h = _phase_taps(k_h, s_h, lo_h, p_h)
    n_h = len(range(t0_h, k_h, s_h))
    cols = []
    for p_w in range(s_w):
      t0_w, off_w = _phase_taps(k_w, s_w, lo_w, p_w)
      n_w = len(range(t0_w, k_w, s_w))
      if n_h == 0 or n_w == 0:  # kernel smaller than stride: no tap reaches
        cols.append(jnp.zeros((batch, q_h, q_w, c_out), x.dtype))
        continue
      sub_kernel = kernel[t0_h::s_h, t0_w::s_w]
      # Input rows off .. off + q - 1 + n - 1 are read; pad (or crop, when
      # negative) x to exactly that window, then run a VALID convolution.
      window = lax.pad(x, jnp.zeros((), x.dtype), (
          (0, 0, 0),
          (-off_h, q_h - 1 + off_h + n_h - 1 - (h - 1), 0),
          (-off_w, q_w - 1 + off_w + n_w - 1 - (w - 1), 0),
          (0, 0, 0)))
      cols.append(lax.conv_general_dilated(
          window, sub_kernel, (1, 1), 'VALID',
          dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
    rows.append(jnp.stack(cols, axis=3))  # (B, q_h, q_w, s_w, C)
  y = jnp.stack(rows, axis=2)  # (B, q_h, s_h, q_w, s_w, C)
  y = y.reshape(batch, q_h * s_h, q_w * s_w, c_out)
  return y[:, :out_h, :out_w]


def maybe_spectral_norm(layer: nn.Module, enabled: bool,
                        train: bool) -> Callable[[jax.Array], jax.Array]:
  """``layer``, spectrally normalised if ``enabled`` (Miyato et al. 2018).

  The kernel W is used as W / sigma(W), sigma its largest singular value
  (a conv kernel is flattened to (k*k*C_in, C_out)), estimated by one
  power-iteration step per call from a vector u kept in the model state
  ('batch_stats' collection) and updated only when ``train``. The layer's
  parameters keep their names.
  """
  if not enabled:
    return layer
  return functools.partial(nn.SpectralNorm(layer), update_stats=train)


class ConvTranspose(nn.Module):
  """Drop-in ``nn.ConvTranspose`` (same params, same outputs) with a choice of kernel.

  Attributes:
    features: C_out.
    kernel_size: (k_h, k_w).
    strides: (s_h, s_w).
    padding: as ``nn.ConvTranspose``.
    use_bias: add a learned bias.
    impl: 'xla' (``lax.conv_transpose``), 'subpixel' (stride-1 convolutions per
      output phase) or 'auto' (subpixel for strided layers on CPU/GPU, else xla).
    dtype: computation dtype; input, kernel and bias are cast to it (params
      are stored in float32), as flax's own layers do.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Padding = 'SAME'
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
  impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if resolve_conv_transpose_impl(self.impl, self.strides, self.features) == 'xla':
      y = lax.conv_transpose(x, kernel, tuple(self.strides), self.padding,
                             dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    else:
      y = subpixel_conv_transpose(x, kernel, self.strides, self.padding)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,)).astype(self.dtype)
    return y
