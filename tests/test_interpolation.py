"""Latent interpolation grids (build.slerp, build.interpolation_inputs)."""

import numpy as np

from configs import cgan, dcgan
from gan_jax import build


def test_slerp_ends_at_its_endpoints_and_stays_on_the_sphere():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
  b = b / np.linalg.norm(b, axis=1, keepdims=True) * np.linalg.norm(a, axis=1, keepdims=True)
  t = np.linspace(0, 1, 7)
  path = np.asarray(build.slerp(a, b, t))
  assert path.shape == (3, 7, 5)
  np.testing.assert_allclose(path[:, 0], a, atol=1e-5)
  np.testing.assert_allclose(path[:, -1], b, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(path, axis=-1),
                             np.repeat(np.linalg.norm(a, axis=1)[:, None], 7, 1), rtol=1e-5)
  # The midpoint of two unit vectors is their normalised sum.
  u, v = np.eye(5)[:1], np.eye(5)[1:2]
  mid = np.asarray(build.slerp(u, v, np.array([0.5])))[0, 0]
  np.testing.assert_allclose(mid, (u + v)[0] / np.sqrt(2), atol=1e-6)
  # Parallel rows: the straight line.
  np.testing.assert_allclose(np.asarray(build.slerp(u, 2 * u, np.array([0.5])))[0, 0],
                             1.5 * u[0], atol=1e-6)


def test_interpolation_rows_walk_between_two_draws_and_keep_their_class():
  config = cgan.get_config('tiny')
  game = build.create_game(config, build.DataSpec('image', (28, 28, 1), 10))
  inputs = build.interpolation_inputs(config, game, rows=10, cols=4)
  z = np.asarray(inputs['z']).reshape(10, 4, -1)
  labels = np.asarray(inputs['label']).reshape(10, 4)
  np.testing.assert_array_equal(labels, np.repeat(np.arange(10)[:, None], 4, 1))
  assert not np.allclose(z[:, 0], z[:, -1])
  assert all(len(np.unique(z[r, :, 0])) == 4 for r in range(10))
  # Unconditional: each row its own pair of z.
  config = dcgan.get_config('tiny')
  game = build.create_game(config, build.DataSpec('image', (28, 28, 1), 0))
  z = np.asarray(build.interpolation_inputs(config, game, rows=3, cols=5)['z']).reshape(3, 5, -1)
  assert len(np.unique(z[:, 0, 0])) == 3
  # Spherical, not straight: two draws of z in 100-d are nearly orthogonal, so
  # a line would dip to ~0.71 of their norm halfway; the slerp path does not.
  norms = np.linalg.norm(z, axis=-1)
  assert np.all(norms[:, 2] >= 0.95 * norms[:, [0, -1]].min(axis=1)), norms
  again = build.interpolation_inputs(config, game, rows=3, cols=5)['z']
  np.testing.assert_array_equal(np.asarray(again).reshape(3, 5, -1), z)  # fixed keys
