"""Image-quality metrics between pairs of images: PSNR and SSIM, on a region.

Images are float ``(N, H, W, C)`` arrays (or one ``(H, W, C)`` image, so the
functions vmap over images), by default in [-1, 1] as the generators emit
them. A region ``mask`` is ``(N, H, W, 1)`` or ``(H, W, 1)``, broadcast over
channels (and over images), with 1 = the pixel counts; the inpainting metric
"on the hole" passes ``1 - M`` for an inpainting mask M (1 = known). Masks are
read as binary (a value > 0.5 counts); ``gan_jax.inpainting.check_mask``
validates them. An empty region gives NaN (0/0) rather than an error, since
these functions are traced under jit.

Both functions are pure JAX, jit-compiled, float32.

SSIM's map comes from dm-pix (``dm_pix.ssim(..., return_map=True)``), which
filters with a 'valid' convolution: for an H x W image it returns an
(H - 10) x (W - 10) map whose entry [i, j] is the SSIM of the 11 x 11 window
centred on pixel (i + 5, j + 5). So that every pixel, hole pixels at the border
included, has its own window, ``ssim`` first pads both images by 5 pixels with
edge-including reflection (numpy's 'symmetric', scipy.ndimage's 'reflect',
as skimage does): the map is then H x W and entry [i, j] is the window centred
on pixel (i, j). At pixels >= 5 from the border it is exactly the unpadded map.
"""

from __future__ import annotations

import dm_pix
import jax
import jax.numpy as jnp

# Wang et al. 2004's constants, as in tf.image.ssim, dm-pix and skimage.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
  """Mean of values (..., H, W, C) over the last three axes where mask > 0.5."""
  axes = (-3, -2, -1)
  if mask is None:
    return jnp.mean(values, axis=axes)
  keep = jnp.broadcast_to(mask > 0.5, values.shape)
  # where, not a product: a NaN or inf outside the region must not leak in.
  total = jnp.sum(jnp.where(keep, values, 0.0), axis=axes)
  return total / jnp.sum(keep, axis=axes, dtype=values.dtype)


@jax.jit
def psnr(a: jax.Array, b: jax.Array, mask: jax.Array | None = None,
         data_range: float = 2.0) -> jax.Array:
  """Peak signal-to-noise ratio of each image pair, in dB, on a region.

  PSNR = 10 log10(R^2 / MSE),  MSE = sum_{p: mask_p = 1, c} (a_pc - b_pc)^2
                                     / (C |{p: mask_p = 1}|),

  with R = ``data_range`` (2 for images in [-1, 1]). This is
  ``dm_pix.psnr(a / R, b / R)`` when mask is None (dm-pix fixes R = 1 and has
  no region, hence the two lines here). Identical images give +inf.

  Args:
    a, b: (N, H, W, C) or (H, W, C) float images.
    mask: None (every pixel) or (N, H, W, 1) / (H, W, 1), 1 = the pixel counts.
    data_range: R, max - min of the value range.

  Returns:
    (N,) float32 (a scalar for one image).
  """
  a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
  mse = _masked_mean(jnp.square(a - b), mask)
  return 10.0 * jnp.log10(jnp.square(data_range) / mse)


@jax.jit
def ssim_map(a: jax.Array, b: jax.Array, data_range: float = 2.0,
             low: float = -1.0) -> jax.Array:
  """The image-sized SSIM map of each image pair (Wang et al. 2004).

  S_p = (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2)),

  with mu, s^2, s_ab the local means, variances and covariance under an 11 x 11
  Gaussian window (sigma 1.5) centred on pixel p, C1 = (0.01 R)^2,
  C2 = (0.03 R)^2, R = ``data_range``. Both images are first shifted to
  [0, R] (x - ``low``): SSIM's luminance term is not shift-invariant and
  assumes non-negative intensities. After the shift the values are those of
  the same images rescaled to [0, 255] with R = 255 (S is invariant to scaling
  the images and R together), the convention of tf.image.ssim and skimage on
  uint8 images. The images
  are reflect-padded by 5 pixels (edge included) so the map is H x W and
  aligned with the image (see the module docstring); per channel, no colour
  transform.

  Args:
    a, b: (N, H, W, C) or (H, W, C) float images in [low, low + data_range].
    data_range: R.
    low: the lowest value of the range (-1 for [-1, 1], 0 for [0, 1]).

  Returns:
    (N, H, W, C) float32 (or (H, W, C)), 1 where the windows agree exactly.
  """
  half = SSIM_FILTER_SIZE // 2
  pad = [(0, 0)] * (jnp.ndim(a) - 3) + [(half, half), (half, half), (0, 0)]
  a, b = (jnp.pad(jnp.asarray(x, jnp.float32) - low, pad, mode='symmetric')
          for x in (a, b))
  return dm_pix.ssim(a, b, max_val=data_range, filter_size=SSIM_FILTER_SIZE,
                     filter_sigma=SSIM_FILTER_SIGMA, k1=SSIM_K1, k2=SSIM_K2,
                     return_map=True)


@jax.jit
def ssim(a: jax.Array, b: jax.Array, mask: jax.Array | None = None,
         data_range: float = 2.0, low: float = -1.0) -> jax.Array:
  """Mean SSIM of each image pair over a region's window centres.

  SSIM = sum_{p: mask_p = 1, c} S_pc / (C |{p: mask_p = 1}|),

  S the image-sized map of ``ssim_map`` (S_p: the Gaussian window centred on
  pixel p, reflect-padded at the border). A pixel counts iff it is in the
  region; the window around it may reach outside (near the boundary of an
  inpainted hole it sees known pixels, which then agree exactly).

  With mask None every pixel counts, border windows included. tf.image.ssim,
  dm_pix.ssim and skimage's structural_similarity instead average only the
  windows that fit in the image (centres >= 5 from the border, 18 x 18 of a
  28 x 28 image): pass a mask of those centres to reproduce their value.

  Args:
    a, b: (N, H, W, C) or (H, W, C) float images in [low, low + data_range].
    mask: None (every pixel) or (N, H, W, 1) / (H, W, 1), 1 = the pixel counts.
    data_range: R (2 for [-1, 1]).
    low: the lowest value of the range (-1 for [-1, 1]).

  Returns:
    (N,) float32 in [-1, 1] (a scalar for one image); 1 for identical images.
  """
  return _masked_mean(ssim_map(a, b, data_range, low), mask)
