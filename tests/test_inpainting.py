"""Inpainting maths against hand values, dense float64 solves and brute-force loops."""

import jax
import numpy as np
import pytest

from gan_jax import inpainting as ip
from gan_jax.errors import ConfigError, DataError


def _images(seed, shape):
  return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


# ---------------------------------------------------------------- masks


def test_fixed_masks_hide_the_stated_region():
  hidden = {name: 1 - ip.make_masks(name, 2, (28, 28, 1))[..., 0]
            for name in ('center', 'left', 'right')}
  expected = {name: np.zeros((2, 28, 28)) for name in hidden}
  expected['center'][:, 7:21, 7:21] = 1  # the centre 14 x 14 square, a quarter
  expected['left'][:, :, :14] = 1
  expected['right'][:, :, 14:] = 1
  for name in hidden:
    np.testing.assert_array_equal(hidden[name], expected[name], err_msg=name)


@pytest.mark.parametrize('name, fraction', [('random50', 0.5), ('random80', 0.8)])
def test_random_masks_hide_exactly_their_fraction_per_image(name, fraction):
  masks = ip.make_masks(name, 20, (28, 28), seed=3)
  assert masks.shape == (20, 28, 28, 1) and masks.dtype == np.float32
  np.testing.assert_array_equal((masks == 0).sum(axis=(1, 2, 3)), round(fraction * 784))
  assert len({m.tobytes() for m in masks}) == 20  # a new pattern per image
  # Spread over the image, not in a corner: the left half hides about its
  # share (a hypergeometric count, sd about 7 pixels at 50%, 6 at 80%).
  left = (masks[:, :, :14] == 0).sum(axis=(1, 2, 3))
  assert np.all(np.abs(left - fraction * 392) < 50)


def test_blocks_are_four_squares_of_side_h_over_4():
  masks = ip.make_masks('blocks', 50, (28, 28), seed=1)
  hidden = (masks == 0).sum(axis=(1, 2, 3))
  assert np.all((49 <= hidden) & (hidden <= 4 * 49))  # they may overlap
  # Every missing pixel lies in a 7 x 7 block of missing pixels.
  for m in masks[:10, ..., 0]:
    covered = np.zeros_like(m, bool)
    for r in range(22):
      for c in range(22):
        if np.all(m[r:r + 7, c:c + 7] == 0):
          covered[r:r + 7, c:c + 7] = True
    np.testing.assert_array_equal(covered, m == 0)


def test_masks_are_deterministic_and_mask_i_does_not_depend_on_num():
  a = ip.make_masks('blocks', 6, (28, 28), seed=5)
  np.testing.assert_array_equal(a, ip.make_masks('blocks', 6, (28, 28), seed=5))
  np.testing.assert_array_equal(a[:3], ip.make_masks('blocks', 3, (28, 28, 1), seed=5))
  assert not np.array_equal(a, ip.make_masks('blocks', 6, (28, 28), seed=6))


def test_unknown_mask_lists_the_known_ones():
  with pytest.raises(ConfigError, match=r"mask='centre' is not a known mask; allowed: "
                                        r"\['blocks', 'center'"):
    ip.make_masks('centre', 1, (28, 28))


def test_check_mask_accepts_every_registered_mask():
  for name in ip.MASKS:
    ip.check_mask(ip.make_masks(name, 5, (28, 28)))


@pytest.mark.parametrize('value, message', [
    (1.0, r'mask\[1\] hides no pixel'), (0.0, r'mask\[1\] hides every pixel'),
    (0.5, r'mask\[1, 0, 0, 0\] = 0.5; mask values must be exactly 0')])
def test_check_mask_rejects_no_hole_no_context_and_non_binary(value, message):
  masks = ip.make_masks('center', 3, (8, 8))
  masks[1] = value
  with pytest.raises(DataError, match=message):
    ip.check_mask(masks)
  with pytest.raises(DataError, match='must be'):
    ip.check_mask(masks[..., 0])


# ---------------------------------------------------------------- losses


def test_importance_weights_by_hand_with_border_windows():
  mask = np.ones((5, 5, 1), np.float32)
  mask[0, 0] = mask[2, 2] = 0
  # Missing pixels among the in-image pixels of each 3 x 3 window: 6 at an
  # edge, 9 inside; 0 on the missing pixels themselves.
  expected = np.array([[0, 1 / 6, 0, 0, 0],
                       [1 / 6, 2 / 9, 1 / 9, 1 / 9, 0],
                       [0, 1 / 9, 0, 1 / 9, 0],
                       [0, 1 / 9, 1 / 9, 1 / 9, 0],
                       [0, 0, 0, 0, 0]])
  np.testing.assert_allclose(ip.importance_weights(mask, window=3)[..., 0], expected,
                             rtol=1e-6)
  batch = np.stack([mask, np.ones_like(mask)])
  np.testing.assert_allclose(ip.importance_weights(batch, 3)[0], expected[..., None],
                             rtol=1e-6)
  np.testing.assert_array_equal(ip.importance_weights(batch, 3)[1], 0)
  with pytest.raises(ConfigError, match='window=4; must be an odd positive integer'):
    ip.importance_weights(mask, window=4)


def test_contextual_loss_by_hand():
  fake = np.array([[[[1.0], [0.5]], [[-1.0], [0.0]]]], np.float32)
  image = np.array([[[[0.0], [0.0]], [[0.0], [0.25]]]], np.float32)
  weights = np.array([[[[1.0], [0.5]], [[0.0], [2.0]]]], np.float32)
  # |1 * 1| + |0.5 * 0.5| + |0 * (-1)| + |2 * (-0.25)|
  np.testing.assert_allclose(ip.contextual_loss(fake, image, weights), [1.75], rtol=1e-6)


def test_prior_loss_is_log_one_minus_d_and_finite_for_large_logits():
  logits = np.array([0.0, 2.0, -3.0, 100.0], np.float32)
  expected = np.log(1 - 1 / (1 + np.exp(-np.float64(logits[:3]))))
  np.testing.assert_allclose(ip.prior_loss(logits)[:3], expected, rtol=1e-6)
  np.testing.assert_allclose(ip.prior_loss(logits)[3], -100.0, rtol=1e-6)


# ---------------------------------------------------------------- filling


def test_paste_back_leaves_known_pixels_bit_identical():
  image = _images(0, (3, 28, 28, 3))
  masks = ip.make_masks('random50', 3, (28, 28), seed=0)
  known = np.broadcast_to(masks > 0, image.shape)
  fill = np.where(known, np.nan, _images(1, image.shape))  # arithmetic would leak NaN
  out = np.asarray(ip.paste_back(fill, image, masks))
  np.testing.assert_array_equal(out[known].view(np.uint32), image[known].view(np.uint32))
  np.testing.assert_array_equal(out[~known], fill[~known])


def test_mean_fill_puts_the_mean_in_the_hole():
  image, mean = _images(2, (2, 8, 8, 1)), _images(3, (8, 8, 1))
  masks = ip.make_masks('center', 2, (8, 8))
  out = np.asarray(ip.mean_fill(image, masks, mean))
  np.testing.assert_array_equal(out[masks > 0], image[masks > 0])
  np.testing.assert_array_equal(out[:, 2:6, 2:6], np.broadcast_to(mean[2:6, 2:6], (2, 4, 4, 1)))


def _dense_laplacian(h, w):
  """The 4-neighbour graph Laplacian of an h x w grid, Neumann borders, float64."""
  lap = np.zeros((h * w, h * w))
  for r in range(h):
    for c in range(w):
      for dr, dc in ((0, 1), (1, 0)):
        if r + dr < h and c + dc < w:
          i, j = r * w + c, (r + dr) * w + c + dc
          lap[i, i] += 1
          lap[j, j] += 1
          lap[i, j] -= 1
          lap[j, i] -= 1
  return lap


def _dense_blend(g, y, known):
  """(P L P) x_h = P (L g - L y_k) solved densely on one (H, W) channel."""
  lap = _dense_laplacian(*g.shape)
  g, y, hole = np.float64(g).ravel(), np.float64(y).ravel(), ~known.ravel()
  y_k = np.where(hole, 0.0, y)
  rhs = lap @ g - lap @ y_k
  x = y.copy()
  x[hole] = np.linalg.solve(lap[np.ix_(hole, hole)], rhs[hole])
  return x.reshape(known.shape)


def test_poisson_blend_equals_a_dense_solve():
  fill, image = _images(4, (2, 8, 8, 2)), _images(5, (2, 8, 8, 2))
  masks = np.ones((2, 8, 8, 1), np.float32)
  masks[0, 2:5, 3:7] = 0  # a 3 x 4 hole touching nothing
  masks[1, 0:3, 4:8] = 0  # a 3 x 4 hole in the top-right corner (two borders)
  hole = np.broadcast_to(masks == 0, image.shape)
  # The image's hole is ignored: not even NaN there leaks into the result.
  got = np.asarray(ip.poisson_blend(fill, np.where(hole, np.nan, image), masks))
  for n in range(2):
    for c in range(2):
      expected = _dense_blend(fill[n, ..., c], image[n, ..., c], masks[n, ..., 0] > 0)
      np.testing.assert_allclose(got[n, ..., c], expected, atol=1e-5, err_msg=f'{n} {c}')
  np.testing.assert_array_equal(got[~hole], image[~hole])


def test_poisson_blend_of_the_truth_or_the_truth_plus_a_constant_is_the_truth():
  truth = _images(6, (2, 28, 28, 1))
  masks = np.concatenate([ip.make_masks('center', 1, (28, 28)),
                          ip.make_masks('left', 1, (28, 28))])
  corrupted = np.where(masks > 0, truth, 0.0).astype(np.float32)
  np.testing.assert_allclose(ip.poisson_blend(truth, corrupted, masks), truth, atol=1e-6)
  # A constant offset of the whole fill leaves every gradient as the truth's,
  # and the known pixels at the hole's boundary pin the offset back to 0.
  blended = ip.poisson_blend(truth + 0.7, corrupted, masks)
  np.testing.assert_allclose(blended, truth, atol=1e-4)
  # One image at a time (vmap) is the same program.
  np.testing.assert_allclose(jax.vmap(ip.poisson_blend)(truth + 0.7, corrupted, masks),
                             blended, atol=1e-6)


# ---------------------------------------------------------------- nearest neighbour


def test_nearest_neighbour_fill_equals_a_brute_force_loop():
  train = _images(7, (23, 6, 6, 2))
  image = _images(8, (7, 6, 6, 2))
  masks = ip.make_masks('random50', 7, (6, 6), seed=2)
  # Make some answers unambiguous: corrupted copies of training images.
  image[:3] = np.where(masks[:3] > 0, train[[5, 17, 5]], 0.0)
  expected = [int(np.argmin([np.sum(masks[n] * (t - image[n]) ** 2) for t in train]))
              for n in range(7)]
  corrupted = np.where(masks > 0, image, np.nan)  # the hole's values are ignored
  filled, k = ip.nearest_neighbour_fill(corrupted, masks, train, chunk=3)  # 3 blocks, padded
  np.testing.assert_array_equal(k, expected)
  assert list(k[:3]) == [5, 17, 5] and k.dtype == np.int32
  np.testing.assert_array_equal(filled, np.where(masks > 0, image, train[expected]))
  _, k_all = ip.nearest_neighbour_fill(corrupted, masks, train)  # one block
  np.testing.assert_array_equal(k_all, expected)
