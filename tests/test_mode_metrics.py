"""Mode counting, reverse KL and Inception Score on hand-made inputs with known answers."""

import numpy as np
import pytest

from gan_jax.evaluation import mode_metrics as mm


def test_ring_and_grid_modes_are_the_pacgan_mixtures():
  ring, grid = mm.ring_modes(), mm.grid_modes()
  angles = 2 * np.pi * np.arange(8) / 8
  np.testing.assert_allclose(ring.means, np.stack([np.cos(angles), np.sin(angles)], 1),
                             atol=1e-12)
  assert ring.std == 0.01
  axis = [-4, -2, 0, 2, 4]
  assert sorted(map(tuple, grid.means)) == [(x, y) for x in axis for y in axis]
  assert grid.std == 0.05


def test_points_on_three_ring_modes_plus_junk():
  ring = mm.ring_modes()
  samples = np.concatenate([
      np.repeat(ring.means[[0]], 10, 0),
      np.repeat(ring.means[[2]], 5, 0),
      np.repeat(ring.means[[5]], 5, 0),
      np.zeros((5, 2)),             # the centre: distance 1 = 100 std from every mode
      np.full((5, 2), 7.0)])        # far outside the ring
  result = mm.mode_coverage(samples, ring.means, ring.std)
  assert result.modes_captured == 3
  np.testing.assert_allclose(result.high_quality_percent, 100 * 20 / 30, rtol=1e-6)
  np.testing.assert_array_equal(result.counts, [10, 0, 5, 0, 0, 5, 0, 0])
  # p = (1/2, 1/4, 1/4) on 3 of 8 modes: KL = 1/2 log 4 + 2 (1/4) log 2 = 1.5 log 2.
  np.testing.assert_allclose(result.reverse_kl, 1.5 * np.log(2), rtol=1e-6)


def test_high_quality_threshold_is_three_std():
  grid = mm.grid_modes()
  unit = np.array([0.6, 0.8])  # a unit vector off the axes
  samples = grid.means[[0, 1, 2]] + np.array([2.9, 3.1, 2.99])[:, None] * grid.std * unit
  result = mm.mode_coverage(samples, grid.means, grid.std)
  np.testing.assert_array_equal(np.flatnonzero(result.counts), [0, 2])
  np.testing.assert_allclose(result.high_quality_percent, 200 / 3, rtol=1e-6)


def test_true_grid_samples_cover_all_modes():
  grid = mm.grid_modes()
  rng = np.random.default_rng(0)
  n = 20000
  samples = grid.means[rng.integers(25, size=n)] + grid.std * rng.normal(size=(n, 2))
  result = mm.mode_coverage(samples, grid.means, grid.std)
  assert result.modes_captured == 25
  # P(|x - mu| < 3 std) for a 2-D isotropic Gaussian is 1 - exp(-9/2) = 98.89%;
  # the binomial std of the estimate is 0.07 points.
  np.testing.assert_allclose(result.high_quality_percent, 100 * (1 - np.exp(-4.5)),
                             atol=0.3)
  # KL of a multinomial histogram to its true uniform law: ~ (K - 1) / (2 n).
  assert result.reverse_kl < 5 * 24 / (2 * n)


def test_collapse_onto_one_mode_gives_log_k():
  ring = mm.ring_modes()
  result = mm.mode_coverage(np.repeat(ring.means[[3]], 50, 0), ring.means, ring.std)
  assert result.modes_captured == 1
  np.testing.assert_allclose(result.reverse_kl, np.log(8), rtol=1e-6)


def test_no_high_quality_samples_gives_nan_kl():
  ring = mm.ring_modes()
  result = mm.mode_coverage(np.zeros((4, 2)), ring.means, ring.std)
  assert result.modes_captured == 0 and result.high_quality_percent == 0
  assert np.isnan(result.reverse_kl)


def test_stacked_mnist_counts_triples():
  triples = [[1, 2, 3]] * 6 + [[3, 2, 1]] * 2 + [[0, 0, 0]] * 2 + [[9, 9, 9]] * 2
  result = mm.stacked_mnist_modes(np.array(triples))
  assert result.num_seen == 4
  np.testing.assert_array_equal(np.flatnonzero(result.counts), [0, 123, 321, 999])
  p = np.array([6, 2, 2, 2]) / 12
  np.testing.assert_allclose(result.kl_to_uniform, np.sum(p * np.log(1000 * p)),
                             rtol=1e-5)


def test_stacked_mnist_all_modes_once_is_uniform():
  digits = np.array(np.meshgrid(*[np.arange(10)] * 3, indexing='ij')).reshape(3, -1).T
  result = mm.stacked_mnist_modes(digits)
  assert result.num_seen == 1000
  np.testing.assert_allclose(result.kl_to_uniform, 0.0, atol=1e-5)


def test_label_histogram_stats():
  result = mm.label_histogram_stats(np.array([0, 0, 1, 1]), num_classes=4)
  assert result.num_seen == 2
  np.testing.assert_allclose(result.kl_to_uniform, np.log(2), rtol=1e-6)


def test_label_histogram_rejects_out_of_range_labels():
  with pytest.raises(ValueError, match=r'\[0, 10\)'):
    mm.label_histogram_stats(np.array([0, 10]), num_classes=10)
  with pytest.raises(ValueError, match=r'\(N, 3\)'):
    mm.stacked_mnist_modes(np.zeros((4, 2), int))


def test_inception_score_extremes():
  np.testing.assert_allclose(mm.inception_score(np.eye(10)), 10.0, rtol=1e-5)
  np.testing.assert_allclose(mm.inception_score(np.tile(np.eye(10)[[4]], (7, 1))), 1.0,
                             rtol=1e-6)
  np.testing.assert_allclose(mm.inception_score(np.full((5, 10), 0.1)), 1.0, rtol=1e-6)


def test_inception_score_matches_numpy():
  probs = np.random.default_rng(0).dirichlet(np.full(10, 0.3), size=64)
  marginal = probs.mean(0)
  expected = np.exp(np.mean(np.sum(probs * (np.log(probs) - np.log(marginal)), 1)))
  np.testing.assert_allclose(mm.inception_score(probs), expected, rtol=1e-5)
