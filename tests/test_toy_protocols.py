"""The pieces of the published 2-D protocols: mixtures by parameters, a fixed
training set, unequal weights, PacGAN's networks and the configs that name them."""

import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import toy2d
from gan_jax import config_checks, models
from gan_jax.data import FixedMixturePoints, ToyMixture, create_dataset, toy
from gan_jax.errors import ConfigError
from gan_jax.evaluation import mode_metrics as mm


def _with(cfg, fields):
  cfg = cfg.copy_and_resolve_references()
  for k, v in fields.items():
    cfg[k] = v
  return cfg


def test_mixture_parameters_set_the_geometry():
  ring = toy.create_mixture(_with(toy2d.get_config().data, dict(num_modes=5, radius=2.0)))
  np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 2.0)
  np.testing.assert_allclose(ring.means[1], 2 * np.array([np.cos(0.4 * np.pi),
                                                          np.sin(0.4 * np.pi)]))
  assert ring.std == 0.01  # the ring's default when mixture_std is 0
  grid = toy.create_mixture(_with(toy2d.get_config('grid').data,
                                  dict(grid_side=3, spacing=1.5, mixture_std=0.2)))
  assert grid.std == 0.2
  np.testing.assert_allclose(sorted(set(grid.means[:, 0])), [-1.5, 0.0, 1.5])
  assert len(grid.means) == 9


def test_unequal_weights_are_sampled_in_proportion():
  cfg = _with(toy2d.get_config().data, dict(num_modes=4, mode_weights=(1.0, 1.0, 0.1, 2.0)))
  data = create_dataset(cfg, seed=0, image_size=None)
  labels = np.concatenate([data.batch(t, 1000)['label'] for t in range(40)])
  freq = np.bincount(labels, minlength=4) / labels.size
  expected = np.array([1, 1, 0.1, 2]) / 4.1
  # 40,000 draws: a binomial standard error of at most 0.0025 per mode.
  np.testing.assert_allclose(freq, expected, atol=0.01)
  # Points sit on the mode their label names.
  batch = data.batch(0, 500)
  d = np.linalg.norm(batch['x'] - data.mixture.means[batch['label']], axis=1)
  assert d.max() < 6 * data.mixture.std


def test_equal_weights_keep_the_draw_of_earlier_runs():
  # Runs made before the weights existed drew modes by rng.integers: same batches.
  data = create_dataset(toy2d.get_config().data, seed=3, image_size=None)
  rng = np.random.default_rng([3, 7])
  modes = rng.integers(8, size=16)
  x = toy.ring().means[modes] + 0.01 * rng.standard_normal((16, 2))
  np.testing.assert_array_equal(data.batch(7, 16)['x'], x.astype(np.float32))


def test_fixed_points_are_each_seen_once_per_epoch():
  cfg = _with(toy2d.get_config().data, dict(num_points=1000))
  data = create_dataset(cfg, seed=0, image_size=None)
  assert isinstance(data, FixedMixturePoints) and len(data) == 1000
  epoch = np.concatenate([data.batch(t, 100)['x'] for t in range(10)])
  # One epoch is a permutation of the 1,000 fixed points ...
  np.testing.assert_array_equal(np.sort(epoch, axis=0), np.sort(data.points[0], axis=0))
  # ... the next one another order of the same points.
  nxt = np.concatenate([data.batch(t, 100)['x'] for t in range(10, 20)])
  np.testing.assert_array_equal(np.sort(nxt, axis=0), np.sort(epoch, axis=0))
  assert not np.array_equal(nxt, epoch)
  # Reseeding reshuffles but keeps the training set; shards split a batch.
  other = data.reseeded(5)
  assert other.points is data.points
  halves = [data.batch(3, 100, shard, 2)['x'] for shard in (0, 1)]
  np.testing.assert_array_equal(np.concatenate(halves), data.batch(3, 100)['x'])
  assert isinstance(create_dataset(toy2d.get_config().data, 0, None), ToyMixture)


@pytest.mark.parametrize('fields, message', [
    (dict(mode_weights=(1.0, 2.0)), 'data.mode_weights has 2 entries; must be () or 8'),
    (dict(mode_weights=(1.0,) * 7 + (-1.0,)), 'data.mode_weights'),
    (dict(mixture_std=-0.1), 'data.mixture_std=-0.1; must be a number in [0, inf)'),
    (dict(num_points=-5), 'data.num_points=-5; must be an integer >= 0'),
    (dict(num_modes=0), 'data.num_modes=0; must be a positive integer'),
])
def test_bad_mixture_fields_are_one_line_errors(fields, message):
  config = toy2d.get_config('tiny')
  for k, v in fields.items():
    config.data[k] = v
  with pytest.raises(ConfigError, match=re.escape(message)):
    config_checks.validate(config)


def test_weighted_coverage_against_hand_computed_counts():
  means = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
  # 3 HQ samples on mode 0, 1 on mode 1, none on mode 2, one junk point.
  samples = np.array([[0, 0], [0.01, 0], [0, 0.01], [10, 0], [5, 5]], np.float32)
  weights = np.array([0.5, 0.25, 0.25])
  m = mm.mode_coverage(samples, means, 0.1, weights, 2)
  p = np.array([0.75, 0.25])
  np.testing.assert_allclose(m.reverse_kl, np.sum(p * np.log(p / weights[:2])), rtol=1e-5)
  assert int(m.modes_captured) == 1  # mode 1 has 1 HQ sample, fewer than 2
  np.testing.assert_allclose(m.high_quality_percent, 80.0)
  assert int(mm.mode_coverage(samples, means, 0.1).modes_captured) == 2


def _mlp_cfg(**fields):
  cfg = ml_collections.ConfigDict(dict(
      name='mlp', g_hidden=(6, 6), d_hidden=(3,), output_activation='none',
      d_spectral_norm=False, pack=1))
  cfg.update(fields)
  return cfg


def test_maxout_discriminator_matches_numpy():
  _, disc = models.create_models(_mlp_cfg(d_maxout_pieces=4), (2,))
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 2))
  params = disc.init(jax.random.PRNGKey(1), x)['params']
  w0, b0 = np.asarray(params['Dense_0']['kernel']), np.asarray(params['Dense_0']['bias'])
  w1, b1 = np.asarray(params['Dense_1']['kernel']), np.asarray(params['Dense_1']['bias'])
  assert w0.shape == (2, 12)  # 3 units x 4 pieces
  h = (np.asarray(x) @ w0 + b0).reshape(5, 3, 4).max(axis=-1)
  np.testing.assert_allclose(disc.apply({'params': params}, x), (h @ w1 + b1)[:, 0],
                             rtol=1e-5, atol=1e-6)


def test_batchnorm_generator_has_no_hidden_bias_and_normalises():
  gen, _ = models.create_models(_mlp_cfg(g_batch_norm=True, init_std=0.02), (2,))
  z = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
  variables = gen.init(jax.random.PRNGKey(1), z)
  params = variables['params']
  assert 'bias' not in params['Dense_0'] and 'bias' in params['Dense_2']
  assert abs(float(jnp.std(params['Dense_1']['kernel'])) - 0.02) < 0.01
  # In training mode each hidden unit is normalised over the batch before ReLU.
  # The running mean moves 0.1 of the way to the batch mean (from 0).
  _, state = gen.apply(variables, z, train=True, mutable=['batch_stats'])
  pre = z @ params['Dense_0']['kernel']
  np.testing.assert_allclose(state['batch_stats']['BatchNorm_0']['mean'],
                             0.1 * jnp.mean(pre, 0), rtol=1e-4, atol=1e-7)
  # Eval mode uses the running statistics: another output for the same z.
  assert not np.allclose(gen.apply(variables, z, train=False),
                         gen.apply(variables, z, train=True, mutable=['batch_stats'])[0])


def test_pacgan_config_builds_the_published_networks():
  config = toy2d.get_config('ring,pacgan')
  config_checks.validate(config)
  gen, disc = models.create_models(config.model, (2,))
  z = jnp.zeros((4, config.model.z_dim))
  g_params = gen.init(jax.random.PRNGKey(0), z)['params']
  d_params = disc.init(jax.random.PRNGKey(0), jnp.zeros((4, 2)))['params']
  assert [g_params[f'Dense_{i}']['kernel'].shape for i in range(5)] == [
      (2, 400), (400, 400), (400, 400), (400, 400), (400, 2)]
  assert [d_params[f'Dense_{i}']['kernel'].shape for i in range(4)] == [
      (2, 1000), (200, 1000), (200, 1000), (200, 1)]
  assert (config.data.num_points, config.train.batch_size, config.optim.b1,
          config.train.num_steps) == (100_000, 100, 0.8, 400_000)
  r3 = toy2d.get_config('grid,pacgan,gdpp,r3gan')
  assert (r3.train.loss, tuple(r3.train.regularizers), r3.optim.b1, r3.train.batch_size,
          r3.train.num_steps) == ('relativistic_pairing', ('r1', 'r2'), 0.0, 512, 25_000)


def test_unbalanced_variant_downweights_the_stated_modes():
  for arg, minor in (('ring,unbalanced', [1, 3, 5, 7]), ('unbalanced,grid', list(range(10)))):
    config = toy2d.get_config(arg)
    weights = np.array(config.data.mode_weights)
    np.testing.assert_array_equal(np.flatnonzero(weights < 1), minor)
    assert set(weights[weights < 1]) == {0.05}
    assert config.eval.modes.min_hq_per_mode == 50
    config_checks.validate(config)


def test_dcgan_discriminator_without_batchnorm_has_biases_instead():
  from configs import stacked_mnist  # pylint: disable=g-import-not-at-top
  config = stacked_mnist.get_config('small_d,r3gan')
  config_checks.validate(config)
  _, disc = models.create_models(config.model, (28, 28, 3))
  x = jnp.zeros((2, 28, 28, 3))
  variables = disc.init(jax.random.PRNGKey(0), x)
  assert 'batch_stats' not in variables
  assert 'bias' in variables['params']['Conv_1']
  # D's logit of one image no longer depends on the rest of the batch.
  images = jax.random.normal(jax.random.PRNGKey(1), (4, 28, 28, 3))
  np.testing.assert_allclose(disc.apply(variables, images)[:1], disc.apply(variables, images[:1]),
                             rtol=1e-5, atol=1e-6)
  _, with_bn = models.create_models(stacked_mnist.get_config('small_d').model, (28, 28, 3))
  assert 'batch_stats' in with_bn.init(jax.random.PRNGKey(0), x)
