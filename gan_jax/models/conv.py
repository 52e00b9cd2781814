"""2-D convolution by several exactly equivalent formulations.

``conv2d(x, kernel, strides, padding, impl)`` computes

    y[b, i, j, o] = sum_{u, v, c} xp[b, s_h i + u, s_w j + v, c] kernel[u, v, c, o]

for x (B, H, W, C_in) NHWC, kernel (k_h, k_w, C_in, C_out) HWIO (as
``flax.linen.Conv`` stores it), xp = x zero-padded by ``padding``, and y
(B, H_o, W_o, C_out) with H_o = floor((H + lo_h + hi_h - k_h) / s_h) + 1.
Every ``impl`` returns the same numbers up to float rounding, and so do their
gradients wrt x and kernel; they differ only in which XLA operations do the
work, which matters for speed on XLA:CPU (see ``resolve_conv_impl``):

  xla             ``lax.conv_general_dilated``.
  patches         im2col: the k_h k_w taps of every output position as one
                  (B H_o W_o, k_h k_w C_in) matrix, times the kernel reshaped
                  to (k_h k_w C_in, C_out): one matmul.
  space_to_depth  for k divisible by s: pad, fold each s x s block of pixels
                  into channels (s^2 C_in of them), then a stride-1 XLA conv
                  with a (k/s, k/s, s^2 C_in, C_out) kernel.
  patches_vjp     the XLA conv forward and input gradient, with the weight
                  gradient dW = P^T g as one matmul of the patches P
                  (B H_o W_o, k_h k_w C_in) and the cotangent g (B H_o W_o, C_out).

``Conv`` is a drop-in ``nn.Conv`` (same parameter names, shapes, init and
outputs) with an ``impl`` attribute.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

CONV_IMPLS = ('auto', 'xla', 'patches', 'space_to_depth', 'patches_vjp')

DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')

Padding = str | Sequence[tuple[int, int]]
Pads = tuple[tuple[int, int], tuple[int, int]]


def _check_impl(impl: str) -> None:
  if impl not in CONV_IMPLS:
    raise ValueError(f'model.conv_impl={impl!r}; allowed: {CONV_IMPLS}')


def resolve_conv_impl(impl: str, kernel_size: Sequence[int], strides: Sequence[int],
                      in_channels: int, in_hw: Sequence[int] | None = None) -> str:
  """Maps 'auto' to the fastest formulation for the backend and the layer.

  Other names are checked (a layer that ``impl`` cannot compute raises) and
  returned as they are. ``in_hw`` is the input's (H, W); without it 'auto'
  is 'xla'. ``in_channels`` is part of the layer's shape, but no rule needed it.

  On CPU, for a strided layer, 'auto' is 'patches_vjp' when H W >= 48^2,
  'patches' when H W <= 8^2, and 'xla' in between. XLA:CPU's weight gradient
  is a conv whose window is the whole H_o x W_o output map, which falls off a
  cliff for large maps, while dW = P^T g is one ordinary matmul; on tiny maps
  the im2col matmul beats XLA's conv in all three passes. Measured with
  experiments/conv_layers.py (--layers=D1,D2,D3,D4 --repeats=5) on 2 AMD EPYC
  cores, batch 64, fwd + input grad + weight grad, each its own jit, medians
  in ms, xla / patches / space_to_depth / patches_vjp (PyTorch 2.13, 2 threads):
    MNIST D1    28x28x1 -> 14x14x64 k5 s2:       6.1 / 7.2 / - / 7.2      (16.2)
      (a rerun: 7.6 / 5.0 / - / 7.8: ~1 ms either way, within the noise)
    MNIST D2    14x14x64 -> 7x7x128 k5 s2:      57.8 / 130 / - / 85.3     (38.4)
    DCGAN-64 D1 64x64x3 -> 32x32x64 k4 s2:       179 / 81 / 212 / 46.2    (38.4)
      (weight grad alone 153 / 55 / 189 / 21; a rerun 180 / 70 / 174 / 37)
    DCGAN-64 D2 32x32x64 -> 16x16x128:           378 / 485 / 531 / 403    (131)
    DCGAN-64 D3 16x16x128 -> 8x8x256:            207 / 273 / 472 / 255    (125)
    DCGAN-64 D4 8x8x256 -> 4x4x512:              229 / 153 / 261 / 210    (146)
      (a rerun: 181 / 144 / 203 / 191)
  Earlier runs on the same machine with one core taken by another job (one
  thread pinned, fwd + both gradients in one jit) ranked them alike, and put
  the 48^2 line: 64x64 inputs with 3, 6, 12, 24 and 48 channels all ran ~2x
  faster as patches_vjp (e.g. 12: 768 -> 371 ms), 56x56x1 k5 37 -> 29, while
  32x32x3 (11.1 vs 11.3) and 32x32x12 (54 vs 54) tied. space_to_depth never
  won a layer: XLA's weight gradient of the folded conv is slower still,
  though its input gradient is the fastest on DCGAN-64 D2 (57 vs 129 ms).
  GPU and TPU (not measured here) keep the vendor convolutions: 'xla'.
  """
  _check_impl(impl)
  if impl == 'space_to_depth' and any(k % s for k, s in zip(kernel_size, strides)):
    raise ValueError(f"model.conv_impl='space_to_depth' needs kernel sizes divisible by "
                     f'the strides, got kernel {tuple(kernel_size)} and strides '
                     f"{tuple(strides)}; use 'auto', 'xla', 'patches' or 'patches_vjp'")
  if impl != 'auto':
    return impl
  del in_channels
  if jax.default_backend() != 'cpu' or all(s == 1 for s in strides) or in_hw is None:
    return 'xla'
  pixels = in_hw[0] * in_hw[1]
  if pixels >= 48 * 48:
    return 'patches_vjp'
  return 'patches' if pixels <= 8 * 8 else 'xla'


def explicit_padding(padding: Padding, in_hw: Sequence[int], kernel_hw: Sequence[int],
                     strides: Sequence[int]) -> Pads:
  """((lo_h, hi_h), (lo_w, hi_w)) for 'SAME', 'VALID' or explicit pairs.

  'SAME' pads by max((ceil(H / s) - 1) s + k - H, 0) in total, the smaller half
  low, as ``lax.conv_general_dilated`` does, so that H_o = ceil(H / s).
  """
  if isinstance(padding, str):
    if padding not in ('SAME', 'VALID'):
      raise ValueError(f"conv padding={padding!r}; allowed: 'SAME', 'VALID' or "
                       '((lo_h, hi_h), (lo_w, hi_w))')
    return tuple(lax.padtype_to_pads(tuple(in_hw), tuple(kernel_hw), tuple(strides),
                                     padding))
  # As nn.Conv: an int p in place of a pair means (p, p).
  pads = tuple((int(p), int(p)) if isinstance(p, int) else tuple(int(v) for v in p)
               for p in padding)
  if len(pads) != 2 or any(len(pair) != 2 for pair in pads):
    raise ValueError(f'conv padding={padding!r}; explicit padding must be '
                     '((lo_h, hi_h), (lo_w, hi_w))')
  return pads


def _out_size(size: int, kernel: int, stride: int, pad: tuple[int, int]) -> int:
  return (size + pad[0] + pad[1] - kernel) // stride + 1


def xla_conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int], pads: Pads) -> jax.Array:
  """``lax.conv_general_dilated`` in NHWC/HWIO: the reference formulation."""
  return lax.conv_general_dilated(x, kernel, tuple(strides), pads,
                                  dimension_numbers=DIMENSION_NUMBERS)


def extract_patches(x: jax.Array, kernel_hw: Sequence[int], strides: Sequence[int],
                    pads: Pads) -> jax.Array:
  """im2col: (B, H, W, C) -> (B, H_o, W_o, k_h k_w C), features ordered (u, v, c).

  patches[b, i, j, (u, v, c)] = xp[b, s_h i + u, s_w j + v, c]: one strided
  slice of the padded input per tap (u, v), concatenated on the channel axis,
  so that ``kernel.reshape(k_h k_w C, C_out)`` (HWIO order) multiplies it
  directly. Negative padding crops, as in ``lax.conv_general_dilated``.

  ``lax.conv_general_dilated_patches`` gives the same numbers with features
  ordered (c, u, v), as a grouped convolution with a one-hot kernel. As the
  'patches' formulation (one thread, batch 64, ms slices vs it) its forward
  pass was about as fast (DCGAN-64 D 2: 229 vs 215; D 4: 76 vs 117) but its
  input gradient, XLA's transpose of that grouped conv, was 1.5-20x slower
  (MNIST D 2: 28 vs 576; DCGAN-64 D 2: 161 vs 1560), so slices it is.
  """
  batch, h, w, c = x.shape
  (k_h, k_w), (s_h, s_w) = kernel_hw, strides
  out_h, out_w = _out_size(h, k_h, s_h, pads[0]), _out_size(w, k_w, s_w, pads[1])
  xp = lax.pad(x, jnp.zeros((), x.dtype),
               ((0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)))
  taps = [lax.slice(xp, (0, u, v, 0),
                    (batch, u + s_h * (out_h - 1) + 1, v + s_w * (out_w - 1) + 1, c),
                    (1, s_h, s_w, 1))
          for u in range(k_h) for v in range(k_w)]
  return jnp.concatenate(taps, axis=-1)


def patches_conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                 pads: Pads) -> jax.Array:
  """y = P W: patches (B, H_o, W_o, k_h k_w C_in) times kernel (k_h k_w C_in, C_out)."""
  k_h, k_w, c_in, c_out = kernel.shape
  p = extract_patches(x, (k_h, k_w), strides, pads)
  return lax.dot_general(p, kernel.reshape(k_h * k_w * c_in, c_out),
                         (((3,), (0,)), ((), ())))


def space_to_depth_conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                        pads: Pads) -> jax.Array:
  """The strided conv as a stride-1 conv on s_h s_w C_in channels (k % s == 0).

  With u = s a + p and v = s b + q (0 <= p, q < s),
      y[i, j] = sum_{a, b} X[i + a, j + b, (p, q, c)] W'[a, b, (p, q, c)],
  X[I, J, (p, q, c)] = xp[s I + p, s J + q, c] (space-to-depth of the padded
  input, itself zero-padded up to a multiple of s: the extra rows only reach
  outputs past H_o, which are cropped) and W'[a, b, (p, q, c)] = W[s a + p, s b + q, c].
  """
  k_h, k_w, c_in, c_out = kernel.shape
  s_h, s_w = strides
  resolve_conv_impl('space_to_depth', (k_h, k_w), strides, c_in)  # raises unless k % s == 0
  batch, h, w, _ = x.shape
  out_h, out_w = _out_size(h, k_h, s_h, pads[0]), _out_size(w, k_w, s_w, pads[1])
  (lo_h, hi_h), (lo_w, hi_w) = pads
  h_p, w_p = h + lo_h + hi_h, w + lo_w + hi_w
  xp = lax.pad(x, jnp.zeros((), x.dtype), (
      (0, 0, 0), (lo_h, hi_h + (-h_p) % s_h, 0), (lo_w, hi_w + (-w_p) % s_w, 0), (0, 0, 0)))
  h_s, w_s = xp.shape[1] // s_h, xp.shape[2] // s_w
  xs = xp.reshape(batch, h_s, s_h, w_s, s_w, c_in).transpose(0, 1, 3, 2, 4, 5)
  xs = xs.reshape(batch, h_s, w_s, s_h * s_w * c_in)
  ks = kernel.reshape(k_h // s_h, s_h, k_w // s_w, s_w, c_in, c_out).transpose(0, 2, 1, 3, 4, 5)
  ks = ks.reshape(k_h // s_h, k_w // s_w, s_h * s_w * c_in, c_out)
  y = xla_conv(xs, ks, (1, 1), ((0, 0), (0, 0)))
  return y[:, :out_h, :out_w]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def patches_vjp_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                     pads: Pads) -> jax.Array:
  """The XLA conv, differentiated with dW = P^T g as one matmul.

  Forward and dL/dx are XLA's; dL/dW[(u, v, c), o] = sum_n P[n, (u, v, c)] g[n, o]
  over the n = B H_o W_o output positions, P the patches of ``extract_patches``
  (recomputed in the backward pass rather than stored). Reverse mode only
  (a ``jax.custom_vjp``): no ``jax.jvp`` through it, but grad-of-grad works,
  as gradient penalties need.
  """
  return xla_conv(x, kernel, strides, pads)


def _patches_vjp_fwd(x, kernel, strides, pads):
  return xla_conv(x, kernel, strides, pads), (x, kernel)


def _patches_vjp_bwd(strides, pads, residuals, g):
  x, kernel = residuals
  _, x_vjp = jax.vjp(lambda x: xla_conv(x, kernel, strides, pads), x)
  (dx,) = x_vjp(g)
  p = extract_patches(x, kernel.shape[:2], strides, pads)
  p = p.reshape(-1, p.shape[-1])
  # g^T P (C_out, k_h k_w C_in), then a transpose of that small result:
  # XLA:CPU ran this orientation faster than P^T g, which copies P to
  # transpose it (DCGAN-64 D1 weight gradient: 19 vs 26 ms, three runs).
  dw_t = lax.dot_general(g.reshape(p.shape[0], -1).astype(p.dtype), p, (((0,), (0,)), ((), ())))
  return dx, dw_t.T.reshape(kernel.shape).astype(kernel.dtype)


patches_vjp_conv.defvjp(_patches_vjp_fwd, _patches_vjp_bwd)


def conv2d(x: jax.Array, kernel: jax.Array, strides: Sequence[int] = (1, 1),
           padding: Padding = 'SAME', impl: str = 'auto') -> jax.Array:
  """``lax.conv_general_dilated(x, kernel, strides, padding)`` by ``impl``.

  Args:
    x: (B, H, W, C_in), NHWC.
    kernel: (k_h, k_w, C_in, C_out), HWIO.
    strides: (s_h, s_w).
    padding: 'SAME', 'VALID' or ((lo_h, hi_h), (lo_w, hi_w)).
    impl: one of ``CONV_IMPLS``; 'auto' picks by backend and layer shape.

  Returns:
    (B, H_o, W_o, C_out), H_o = floor((H + lo_h + hi_h - k_h) / s_h) + 1.
  """
  if x.ndim != 4 or kernel.ndim != 4 or x.shape[-1] != kernel.shape[2]:
    raise ValueError(f'conv2d needs x (B, H, W, C_in) and kernel (k_h, k_w, C_in, C_out), '
                     f'got {x.shape} and {kernel.shape}')
  k_h, k_w, c_in, _ = kernel.shape
  strides = (strides, strides) if isinstance(strides, int) else tuple(int(s) for s in strides)
  impl = resolve_conv_impl(impl, (k_h, k_w), strides, c_in, x.shape[1:3])
  pads = explicit_padding(padding, x.shape[1:3], (k_h, k_w), strides)
  return _FORMULATIONS[impl](x, kernel, strides, pads)


_FORMULATIONS = {
    'xla': xla_conv,
    'patches': patches_conv,
    'space_to_depth': space_to_depth_conv,
    'patches_vjp': patches_vjp_conv,
}


class Conv(nn.Module):
  """Drop-in ``nn.Conv`` for 2-D NHWC inputs, computed by ``conv2d(..., impl)``.

  Same parameters ('kernel' (k_h, k_w, C_in, C_out) and 'bias' (C_out,), both
  ``param_dtype``), same initialisers and same outputs as ``nn.Conv`` with
  these arguments, so checkpoints of one load into the other.

  Attributes:
    features: C_out.
    kernel_size: (k_h, k_w).
    strides: (s_h, s_w).
    padding: 'SAME', 'VALID' or ((lo_h, hi_h), (lo_w, hi_w)).
    use_bias: add a learned bias.
    dtype: computation dtype; input, kernel and bias are cast to it (None:
      promoted from the input and params), as flax's own layers do.
    param_dtype: dtype of the stored parameters.
    kernel_init, bias_init: as ``nn.Conv``.
    impl: one of ``CONV_IMPLS`` (see ``resolve_conv_impl``).
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Padding = 'SAME'
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f'Conv expects NHWC inputs (B, H, W, C), got shape {x.shape}')
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features), self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = conv2d(x, kernel, self.strides, self.padding, self.impl)
    return y if bias is None else y + bias
