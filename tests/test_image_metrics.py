"""PSNR and SSIM against hand values and an independent scipy SSIM."""

import dm_pix
import jax
import numpy as np
import pytest
from scipy import ndimage

from gan_jax.evaluation import image_metrics as im


def _pair(seed, shape=(2, 28, 28, 1), noise=0.3):
  rng = np.random.default_rng(seed)
  a = rng.uniform(-1, 1, shape).astype(np.float32)
  b = np.clip(a + rng.normal(0, noise, shape), -1, 1).astype(np.float32)
  return a, b


def _scipy_ssim_map(a, b, data_range=2.0, low=-1.0):
  """Wang et al.'s SSIM map of one (H, W) pair, float64, on images shifted to [0, R].

  scipy's 'reflect' boundary repeats the edge pixel, the padding image_metrics
  documents; at pixels >= 5 from the border the boundary plays no part.
  """
  a, b = np.float64(a) - low, np.float64(b) - low
  blur = lambda x: ndimage.gaussian_filter(x, 1.5, truncate=5 / 1.5, mode='reflect')
  mu_a, mu_b = blur(a), blur(b)
  var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
  cov = blur(a * b) - mu_a * mu_b
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
          / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))


# ---------------------------------------------------------------- PSNR


def test_psnr_of_an_offset_on_the_masked_pixels_is_exact():
  a = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 4, 4, 3)).astype(np.float32)
  mask = np.zeros((2, 4, 4, 1), np.float32)
  mask[0, 1:3, 1:3] = 1  # 4 pixels
  mask[1, :, 0] = 1      # 4 other pixels
  b = np.where(mask > 0, a + 0.1, a).astype(np.float32)
  # On the mask every difference is 0.1: MSE = 0.01, PSNR = 10 log10(2^2 / 0.01).
  np.testing.assert_allclose(im.psnr(a, b, mask), [10 * np.log10(400)] * 2, rtol=1e-5)
  # Over all 16 pixels 4 differ: MSE = 0.01 / 4.
  np.testing.assert_allclose(im.psnr(a, b), [10 * np.log10(1600)] * 2, rtol=1e-5)
  # A [0, 1] range: R = 1.
  np.testing.assert_allclose(im.psnr(a, b, mask, data_range=1.0), [20.0] * 2, rtol=1e-5)


def test_psnr_ignores_what_lies_outside_the_mask():
  a, b = _pair(1)
  mask = np.zeros((1, 28, 28, 1), np.float32)
  mask[..., 10:15, 10:15, :] = 1
  far = b.copy()
  far[:, :5] = np.nan  # not even a NaN outside the region leaks in
  np.testing.assert_array_equal(im.psnr(a, far, mask), im.psnr(a, b, mask))


def test_psnr_without_a_mask_is_dm_pix_on_the_unit_range():
  a, b = _pair(2, (2, 28, 28, 3))
  np.testing.assert_allclose(im.psnr(a, b), dm_pix.psnr(a / 2, b / 2), rtol=1e-5)


def test_psnr_of_identical_images_is_infinite():
  a, _ = _pair(3)
  assert np.all(np.isposinf(im.psnr(a, a)))


# ---------------------------------------------------------------- SSIM


def test_ssim_of_identical_images_is_one():
  a, _ = _pair(4, (2, 28, 28, 3))
  mask = np.zeros((28, 28, 1), np.float32)
  mask[7:21, 7:21] = 1
  np.testing.assert_allclose(im.ssim(a, a), 1.0, rtol=1e-6)
  np.testing.assert_allclose(im.ssim(a, a, mask), 1.0, rtol=1e-6)


@pytest.mark.parametrize('ca, cb', [(0.5, -0.25), (-1.0, 1.0), (0.2, 0.2)])
def test_ssim_of_constant_images_is_the_luminance_term(ca, cb):
  a = np.full((2, 28, 28, 1), ca, np.float32)
  b = np.full((2, 28, 28, 1), cb, np.float32)
  # No variance: SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1), the means
  # taken on [0, 2] (x + 1), C1 = (0.01 * 2)^2.
  mu_a, mu_b, c1 = ca + 1, cb + 1, (0.01 * 2) ** 2
  expected = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
  np.testing.assert_allclose(im.ssim(a, b), [expected] * 2, rtol=1e-4, atol=1e-6)


def test_ssim_map_matches_a_scipy_reference():
  a, b = _pair(5, (2, 28, 28, 3))
  got = np.asarray(im.ssim_map(a, b))
  assert got.shape == a.shape
  expected = np.stack([np.stack([_scipy_ssim_map(a[n, ..., c], b[n, ..., c])
                                 for c in range(3)], -1) for n in range(2)])
  interior = (slice(None), slice(5, -5), slice(5, -5))
  np.testing.assert_allclose(got[interior], expected[interior], atol=1e-5)
  np.testing.assert_allclose(got, expected, atol=1e-5)  # the reflected border too
  np.testing.assert_allclose(im.ssim(a, b), expected.mean(axis=(1, 2, 3)), atol=1e-5)


def test_ssim_over_the_interior_centres_is_the_usual_whole_image_ssim():
  a, b = _pair(6)
  interior = np.zeros((28, 28, 1), np.float32)
  interior[5:-5, 5:-5] = 1
  usual = jax.jit(dm_pix.ssim)((a + 1) / 2, (b + 1) / 2)  # the 'valid' map, on [0, 1]
  np.testing.assert_allclose(im.ssim(a, b, interior), usual, atol=1e-5)


def test_ssim_on_the_range_0_255_is_the_same():
  a, b = _pair(7)
  on_255 = [(x + 1) * 127.5 for x in (a, b)]
  np.testing.assert_allclose(im.ssim(*on_255, data_range=255.0, low=0.0), im.ssim(a, b),
                             atol=1e-5)


def test_masked_ssim_is_the_mean_of_the_map_over_the_mask_only():
  a, b = _pair(8)
  mask = np.zeros((2, 28, 28, 1), np.float32)
  mask[:, 12:16, 12:16] = 1
  mask[1, 20:22, 3:6] = 1
  smap = np.asarray(im.ssim_map(a, b))
  expected = [smap[n][mask[n] > 0].mean() for n in range(2)]
  np.testing.assert_allclose(im.ssim(a, b, mask), expected, rtol=1e-6)
  # The windows centred on the mask reach 5 pixels beyond it; pixels farther
  # away play no part, pixels on the mask do.
  far = b.copy()
  far[:, :6] = -b[:, :6]
  np.testing.assert_array_equal(im.ssim(a, far, mask), im.ssim(a, b, mask))
  near = b.copy()
  near[:, 13, 13] = -b[:, 13, 13]
  assert np.all(im.ssim(a, near, mask) != im.ssim(a, b, mask))


def test_metrics_vmap_over_images():
  a, b = _pair(9)
  mask = np.zeros((2, 28, 28, 1), np.float32)
  mask[:, 7:21, 7:21] = 1
  np.testing.assert_allclose(jax.vmap(im.ssim)(a, b, mask), im.ssim(a, b, mask), rtol=1e-6)
  np.testing.assert_allclose(jax.vmap(im.psnr)(a, b, mask), im.psnr(a, b, mask), rtol=1e-6)
