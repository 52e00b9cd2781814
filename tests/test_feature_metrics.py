"""FID, KID, precision/recall and density/coverage against direct float64 numpy."""

import jax
import numpy as np
import pytest
import scipy.linalg

from gan_jax.evaluation import feature_metrics as fm


def _gaussian(rng, n, d, shift=0.0, scale=1.0):
  mix = rng.normal(size=(d, d)) / np.sqrt(d)  # correlated, non-diagonal covariance
  return (rng.normal(size=(n, d)) @ mix * scale + shift).astype(np.float32)


# ---------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero():
  x = _gaussian(np.random.default_rng(0), 500, 16, shift=3.0)
  assert abs(fm.frechet_distance(x, x)) < 1e-6 * np.trace(np.cov(x.T))


def test_fid_matches_scipy_sqrtm_closed_form():
  rng = np.random.default_rng(1)
  a = _gaussian(rng, 800, 12)
  b = _gaussian(rng, 600, 12, shift=0.3, scale=1.5)
  a64, b64 = a.astype(np.float64), b.astype(np.float64)
  mu_a, mu_b = a64.mean(0), b64.mean(0)
  cov_a, cov_b = np.cov(a64, rowvar=False), np.cov(b64, rowvar=False)
  covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
  expected = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean)
  np.testing.assert_allclose(fm.frechet_distance(a, b), expected, rtol=1e-5)


def test_fid_moments_match_numpy():
  x = _gaussian(np.random.default_rng(2), 300, 8, shift=5.0)
  mu, cov = fm.gaussian_moments(x)
  np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(cov, np.cov(x.astype(np.float64), rowvar=False),
                             rtol=1e-4, atol=1e-5)


def test_fid_of_gaussians_with_known_moments():
  # N(0, I) vs N(m, s^2 I) in d dims: FD = |m|^2 + d (1 - s)^2.
  mean, std, d = np.full(4, 0.5), 2.0, 4
  fd = fm.frechet_distance_from_moments(np.zeros(d), np.eye(d), mean, std ** 2 * np.eye(d))
  np.testing.assert_allclose(fd, 4 * 0.25 + d * (1 - std) ** 2, rtol=1e-12)


def test_fid_rejects_mismatched_dimensions():
  with pytest.raises(ValueError, match='different dimensions'):
    fm.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


# ---------------------------------------------------------------- KID


def _numpy_mmd2_unbiased(x, y):
  x, y = x.astype(np.float64), y.astype(np.float64)
  d, m, n = x.shape[1], len(x), len(y)
  k = lambda u, v: (u @ v.T / d + 1) ** 3
  k_xx, k_yy, k_xy = k(x, x), k(y, y), k(x, y)
  return ((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
          + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
          - 2 * k_xy.sum() / (m * n))


def test_kid_matches_numpy_on_the_same_subsets():
  rng = np.random.default_rng(3)
  a = _gaussian(rng, 120, 10)
  b = _gaussian(rng, 90, 10, shift=0.2)
  key = jax.random.PRNGKey(7)
  idx_a, idx_b = map(np.asarray, fm.kid_subset_indices(key, 120, 90, 5, 40))
  assert idx_a.shape == idx_b.shape == (5, 40)
  assert all(len(set(row)) == 40 for row in np.concatenate([idx_a, idx_b]))
  mmds = [_numpy_mmd2_unbiased(a[i], b[j]) for i, j in zip(idx_a, idx_b)]
  result = fm.kid(a, b, num_subsets=5, subset_size=40, rng=key)
  np.testing.assert_allclose(result.mean, np.mean(mmds), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(result.std, np.std(mmds), rtol=1e-3, atol=1e-6)


def test_kid_is_unbiased_near_zero_for_one_distribution():
  # Two samples of one law: MMD^2_u has mean 0, so KID is ~0 and can be < 0;
  # a shifted law gives a clearly positive value.
  rng = np.random.default_rng(4)
  a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
  same = fm.kid(a, b, num_subsets=20, subset_size=200)
  shifted = fm.kid(a, b + 1.0, num_subsets=20, subset_size=200)
  assert abs(same.mean) < 3 * same.std + 1e-3
  assert shifted.mean > 10 * abs(same.mean)


def test_kid_rejects_subsets_larger_than_a_set():
  with pytest.raises(ValueError, match='subset_size=50'):
    fm.kid(np.zeros((40, 2)), np.zeros((60, 2)), num_subsets=1, subset_size=50)


# ---------------------------------------------------------------- k-NN metrics


def _numpy_prdc(real, fake, k):
  """Naive float64 k-NN computation straight from the papers' definitions."""
  real, fake = real.astype(np.float64), fake.astype(np.float64)
  dist = lambda u, v: np.sqrt(((u[:, None, :] - v[None, :, :]) ** 2).sum(-1))
  d_rr, d_ff, d_rf = dist(real, real), dist(fake, fake), dist(real, fake)
  # Sorted row i starts with x_i itself (0); entry k is its k-th neighbour.
  r_real = np.sort(d_rr, axis=1)[:, k]
  r_fake = np.sort(d_ff, axis=1)[:, k]
  in_real_ball = d_rf <= r_real[:, None]                 # (N, M)
  return dict(
      precision=np.mean(in_real_ball.any(axis=0)),
      recall=np.mean((d_rf <= r_fake[None, :]).any(axis=1)),
      density=in_real_ball.sum() / (k * fake.shape[0]),
      coverage=np.mean(d_rf.min(axis=1) <= r_real),
      r_real=r_real)


@pytest.mark.parametrize('k', [3, 5])
def test_prdc_matches_naive_numpy(k):
  rng = np.random.default_rng(5 + k)
  real = rng.normal(size=(300, 6)).astype(np.float32)
  fake = (rng.normal(size=(250, 6)) + 0.8).astype(np.float32)
  expected = _numpy_prdc(real, fake, k)
  pr = fm.precision_recall(real, fake, k=k, chunk_size=64)
  dc = fm.density_coverage(real, fake, k=k, chunk_size=64)
  np.testing.assert_allclose(fm.knn_radii(real, k), expected['r_real'], rtol=1e-4)
  np.testing.assert_allclose(pr.precision, expected['precision'], atol=1e-6)
  np.testing.assert_allclose(pr.recall, expected['recall'], atol=1e-6)
  np.testing.assert_allclose(dc.density, expected['density'], rtol=1e-6)
  np.testing.assert_allclose(dc.coverage, expected['coverage'], atol=1e-6)
  # A metric that is 0 or 1 here would not test the ball membership.
  for value in (*pr, dc.coverage):
    assert 0.05 < value < 0.95


def test_prdc_does_not_depend_on_the_chunk_size():
  rng = np.random.default_rng(9)
  real, fake = rng.normal(size=(101, 4)), rng.normal(size=(77, 4)) + 0.3
  chunked = (*fm.precision_recall(real, fake, chunk_size=7),
             *fm.density_coverage(real, fake, chunk_size=7))
  whole = (*fm.precision_recall(real, fake, chunk_size=1000),
           *fm.density_coverage(real, fake, chunk_size=1000))
  np.testing.assert_array_equal(chunked, whole)


def test_knn_radius_counts_duplicates_as_neighbours():
  # Three copies of a point: its 1st and 2nd neighbours are at distance 0.
  x = np.array([[0.0, 0], [0, 0], [0, 0], [3, 4]])
  np.testing.assert_allclose(fm.knn_radii(x, 2), [0, 0, 0, 5])
  np.testing.assert_allclose(fm.knn_radii(x, 3), [5, 5, 5, 5])


def test_identical_sets_have_full_precision_recall_and_coverage():
  x = np.random.default_rng(10).normal(size=(200, 5))
  pr, dc = fm.precision_recall(x, x), fm.density_coverage(x, x)
  assert pr.precision == pr.recall == dc.coverage == 1.0
  # Without ties the closed ball of x_i holds x_i and its k nearest
  # neighbours: sum_i |B_i| = N (k + 1), so density = (k + 1) / k.
  np.testing.assert_allclose(dc.density, 6 / 5, rtol=1e-6)


def test_prdc_rejects_k_not_below_the_set_size():
  with pytest.raises(ValueError, match='k=5'):
    fm.density_coverage(np.zeros((5, 2)), np.zeros((9, 2)), k=5)
