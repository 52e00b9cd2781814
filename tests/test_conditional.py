"""Class-conditional GANs (task 'conditional', configs/cgan.py).

- The projection logit and conditional BatchNorm against values computed by
  hand from the raw parameters; ACGAN's class loss against numpy.
- The task's one-pass gradients against jax.grad of hand-written losses.
- Grids: row r is class r, column c the same z in every row.
- Bad input is one ConfigError line before the workdir is touched.
"""

import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import cgan
from gan_jax import build, steps, visualize
from gan_jax.data import create_dataset
from gan_jax.data.images import embedded_subset
from gan_jax.errors import ConfigError, DataError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.models.conditional import ConditionalDiscriminator
from gan_jax.models.dcgan import ConditionalBatchNorm
from gan_jax.models.mlp import MLPDiscriminator
from gan_jax.tasks import conditional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup(variants):
  config = cgan.get_config(variants)
  config.optim.name = 'sgd'
  dataset = create_dataset(config.data, config.seed, 28)
  game = build.create_game(config, dataset)
  return config, dataset, game, build.init_state(config, game, dataset)


def _leaky(x):
  return np.where(x > 0, x, 0.2 * x)


def test_projection_logit_equals_hand_computed_value():
  d = ConditionalDiscriminator(MLPDiscriminator(hidden=(5,), return_features=True), 3,
                               'projection')
  x = np.random.default_rng(0).normal(size=(4, 2, 2, 1)).astype(np.float32)
  y = np.array([0, 2, 1, 2])
  params = d.init(jax.random.PRNGKey(1), x, y)['params']
  # Random values everywhere, so no term can hide behind a zero initialiser.
  params = jax.tree.map(lambda p: np.random.default_rng(p.size).normal(size=p.shape),
                        params)
  logits, classes = d.apply({'params': params}, x, y)
  inner = params['inner']
  phi = _leaky(x.reshape(4, -1) @ inner['Dense_0']['kernel'] + inner['Dense_0']['bias'])
  psi = (phi @ inner['Dense_1']['kernel'] + inner['Dense_1']['bias'])[:, 0]
  expected = psi + np.sum(params['class_embed']['embedding'][y] * phi, axis=1)
  np.testing.assert_allclose(logits, expected, rtol=1e-5)
  assert classes is None


def test_conditional_batch_norm_equals_hand_computed_value():
  x = np.random.default_rng(0).normal(size=(6, 3, 3, 4)).astype(np.float32) * 2 + 1
  y = np.array([0, 1, 2, 0, 1, 2])
  norm = ConditionalBatchNorm(num_classes=3)
  variables = norm.init(jax.random.PRNGKey(0), x, y, train=True)
  rng = np.random.default_rng(1)
  gamma, beta = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
  params = {'scale': {'embedding': gamma}, 'offset': {'embedding': beta}}
  out, _ = norm.apply({'params': params, **{k: v for k, v in variables.items()
                                             if k != 'params'}},
                      x, y, train=True, mutable=['batch_stats'])
  mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  expected = ((x - mean) / np.sqrt(var + 1e-5) * gamma[y][:, None, None, :]
              + beta[y][:, None, None, :])
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
  # Init: gamma near 1 (N(1, 0.02)), beta 0, one row per class.
  init_gamma = variables['params']['scale']['embedding']
  assert init_gamma.shape == (3, 4) and abs(init_gamma.mean() - 1) < 0.05
  assert not np.any(variables['params']['offset']['embedding'])


def test_class_loss_equals_numpy_cross_entropy():
  logits = np.random.default_rng(0).normal(size=(7, 10))
  labels = np.arange(7) % 10
  log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  expected = -np.mean(log_softmax[np.arange(7), labels])
  np.testing.assert_allclose(conditional.class_loss(logits, labels), expected, rtol=1e-6)


def _hand_losses(game, params, x, y, key):
  """ACGAN's two losses written out from D's and G's outputs (non-saturating)."""
  task = game.task
  z = jax.random.normal(key, (x.shape[0], task.z_dim))
  fake = task.module('generator').apply({'params': params['generator']}, z, y)
  d = lambda v: task.module('discriminator').apply({'params': params['discriminator']}, v, y)
  (l_real, c_real), (l_fake, c_fake) = d(x), d(fake)
  ce = lambda c: -jnp.mean(jax.nn.log_softmax(c)[jnp.arange(len(y)), y])
  w = task.acgan_weight
  d_loss = (-jnp.mean(jnp.log(jax.nn.sigmoid(l_real)))
            - jnp.mean(jnp.log(1 - jax.nn.sigmoid(l_fake))) + w * (ce(c_real) + ce(c_fake)))
  g_loss = -jnp.mean(jnp.log(jax.nn.sigmoid(l_fake))) + w * ce(c_fake)
  return {'discriminator': d_loss, 'generator': g_loss}


def test_acgan_one_pass_gradients_equal_hand_written_grads():
  config, dataset, game, state = _setup('acgan,mlp,tiny')
  game.task.acgan_weight = 0.7
  batch = jax.tree.map(jnp.asarray, dataset.batch(0, 10))
  key = steps.step_key(state)
  losses, grads, (_, metrics) = steps.player_gradients(game, state, batch, key)
  ref = _hand_losses(game, state.params, batch['image'], batch['label'], key)
  for player in ('generator', 'discriminator'):
    own = jax.grad(lambda p, player=player: _hand_losses(
        game, {**state.params, player: p}, batch['image'], batch['label'], key)[player])(
            state.params[player])
    chex.assert_trees_all_close(grads[player], own, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses[player], ref[player], rtol=1e-5)
  assert 0 <= metrics['class_acc_real'] <= 1 and metrics['class_loss_fake'] > 0


def test_labels_change_the_generator():
  config, dataset, game, state = _setup('projection,tiny')
  inputs = game.task.sample_inputs(jax.random.PRNGKey(0), 10)
  sample = build.make_sampler(game)
  a = sample(state, inputs)
  b = sample(state, dict(inputs, label=(inputs['label'] + 1) % 10))
  assert a.shape == (10, 28, 28, 1) and not np.allclose(a, b)
  np.testing.assert_array_equal(inputs['label'], np.arange(10))


def test_grid_rows_are_classes_and_columns_share_z():
  config, dataset, game, state = _setup('concat,tiny')
  inputs = game.task.grid_inputs(jax.random.PRNGKey(0), 30)
  cols = game.task.grid_columns(30)
  assert cols == 3
  labels, z = np.asarray(inputs['label']), np.asarray(inputs['z'])
  np.testing.assert_array_equal(labels.reshape(10, 3), np.repeat(np.arange(10), 3).reshape(10, 3))
  for r in range(10):
    np.testing.assert_array_equal(z[3 * r:3 * r + 3], z[:3])
  assert len(np.unique(z[:3, 0])) == 3
  # The picture: image i sits at row i // 3, column i % 3, pixel for pixel.
  images = np.linspace(-1, 1, 30 * 4).reshape(30, 2, 2, 1)
  grid = visualize.image_grid(images, pad=1, columns=cols)
  assert grid.shape == (10 * 3 + 1, 3 * 3 + 1, 1)
  pixels = np.clip((images + 1) * 127.5, 0, 255).round().astype(np.uint8)
  np.testing.assert_array_equal(grid[1 + 3 * 4:3 + 3 * 4, 1 + 3 * 2:3 + 3 * 2], pixels[14])


def test_embedded_splits_are_disjoint_and_cover_the_digits():
  train, test = embedded_subset('train'), embedded_subset('test')
  assert len(train[0]) == 4000 and len(test[0]) == 1000
  np.testing.assert_array_equal(np.bincount(test[1]), [100] * 10)
  flat = lambda a: {bytes(img) for img in a.reshape(len(a), -1)}
  assert len(flat(test[0])) == 1000 and not flat(train[0]) & flat(test[0])
  # The shipped classifier was trained on exactly the 'train' split.
  split = classifier_lib.digit_split()
  np.testing.assert_array_equal(split.test_labels, test[1])
  np.testing.assert_array_equal(split.train_images, (train[0] / 127.5 - 1.0).astype(np.float32))


@pytest.mark.parametrize('overrides, message', [
    ({'data.digits': (3, 7)}, 'holds only labels [3, 7]'),
    ({'model.num_classes': 5}, 'model.num_classes=5 disagrees'),
    ({'model.name': 'mlp', 'model.g_conditioning': 'cbn'}, "g_conditioning='cbn' needs"),
    ({'model.pack': 2}, 'model.pack=1'),
])
def test_bad_conditional_configs_are_one_config_error(overrides, message):
  config = cgan.get_config('tiny')
  for key, value in overrides.items():
    section, field = key.split('.')
    config[section][field] = value
  dataset = create_dataset(config.data, config.seed, 28)
  with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace(']', r'\]')):
    build.create_game(config, dataset)


def test_unlabelled_data_is_refused():
  config = cgan.get_config('tiny')
  with pytest.raises(ConfigError, match='needs labelled data'):
    build.create_game(config, build.DataSpec('image', (28, 28, 1), 0))


def test_embedded_split_with_tfds_data_is_refused():
  config = cgan.get_config('tiny')
  config.data.source = 'tfds'
  with pytest.raises(DataError, match="data.embedded_split='train' selects embedded"):
    create_dataset(config.data, 0, 28)


def test_held_out_evaluators_refuse_data_that_may_hold_the_held_out_digits():
  config = cgan.get_config('tiny')
  config.data.embedded_split = 'all'
  config.eval.conditional.every = 10
  dataset = create_dataset(config.data, config.seed, 28)
  game = build.create_game(config, dataset)
  from gan_jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match="embedded_split='train'"):
    evaluators.create_evaluators(config.eval, dataset, game.task.sample_inputs, 0)


def test_main_refuses_a_bad_conditioning_in_one_line_without_a_workdir(tmp_path):
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/cgan.py:tiny',
       f'--workdir={workdir}', '--config.model.d_conditioning=proj'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  errors = [l for l in proc.stderr.splitlines() if 'model.d_conditioning' in l]
  assert len(errors) == 1 and "allowed" in errors[0], proc.stderr[-2000:]
  assert not workdir.exists()


def test_a_short_acgan_run_draws_the_digits_it_is_asked_for(tmp_path):
  # 300 steps of narrow DCGANs (~30 s on 2 cores): measured 48.5% of 200
  # digits classified as the label asked for, against 10% by chance.
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  from gan_jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
  config = cgan.get_config('acgan')
  config.train.num_steps = 300
  config.model.g_width = config.model.d_width = 16
  config.log.log_every, config.log.sample_every = 100, 300
  config.log.checkpoint_every, config.log.best_metric = 300, ''
  config.eval.cas.every, config.eval.conditional.every = -1, 0
  config.eval.conditional.num_per_class = 20
  train.train_and_evaluate(config, str(tmp_path))
  record = evaluators.read_jsonl(str(tmp_path / 'eval.jsonl'))[-1]
  assert record['step'] == 300
  assert record['conditional/accuracy'] >= 0.3, record
  assert (tmp_path / 'samples_final.png').exists()
  # The latent interpolation grid: 10 rows (one per class) of 10 steps, 28 + 2 pixels each.
  from PIL import Image  # pylint: disable=g-import-not-at-top
  assert Image.open(tmp_path / 'interpolation_final.png').size == (302, 302)


@pytest.mark.parametrize('model, size, g_cond, d_cond', [
    ('mlp', 28, 'concat', 'projection'), ('mlp', 28, 'concat', 'acgan'),
    ('mlp', 28, 'concat', 'concat'), ('dcgan_mnist', 28, 'cbn', 'projection'),
    ('dcgan_mnist', 28, 'concat', 'acgan'), ('dcgan_mnist', 28, 'cbn', 'concat'),
    ('dcgan64', 64, 'cbn', 'projection')])  # (the MLP has no BatchNorm for 'cbn')
def test_every_model_takes_every_conditioning(model, size, g_cond, d_cond):
  config = cgan.get_config('tiny')
  config.model.name, config.model.g_conditioning, config.model.d_conditioning = (
      model, g_cond, d_cond)
  spec = build.DataSpec('image', (size, size, 1), 10)
  game = build.create_game(config, spec)
  state = build.init_state(config, game, spec)
  rng = np.random.default_rng(0)
  batch = {'image': rng.uniform(-1, 1, (10, size, size, 1)).astype(np.float32),
           'label': np.arange(10, dtype=np.int32)}
  new, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, batch)
  assert np.isfinite(metrics['d_loss']) and np.isfinite(metrics['g_loss'])
  assert ('class_acc_real' in metrics) == (d_cond == 'acgan')
  samples = build.make_sampler(game)(new, game.task.sample_inputs(jax.random.PRNGKey(0), 10))
  assert samples.shape == (10, size, size, 1)
  # The labels reach D's logit (projection, concat): the same images under
  # other labels get other logits. ACGAN's logit ignores y by design: the
  # labels enter only through the class loss of its head.
  d = game.task.module('discriminator')
  variables = {'params': new.params['discriminator'], **new.model_state['discriminator']}
  logits, _ = d.apply(variables, batch['image'], batch['label'], train=False)
  other, _ = d.apply(variables, batch['image'], (batch['label'] + 1) % 10, train=False)
  assert np.allclose(logits, other) == (d_cond == 'acgan')


def test_a_labelled_tfds_dataset_trains_by_name():
  tfds = pytest.importorskip('tensorflow_datasets', reason='needs the [tfds] extra')
  config = cgan.get_config('tiny')
  config.data.source, config.data.embedded_split = 'tfds', 'all'
  config.data.name = 'fashion_mnist'
  with tfds.testing.mock_data(num_examples=200, policy=tfds.testing.MockPolicy.USE_CODE):
    dataset = create_dataset(config.data, config.seed, 28)
  assert dataset.num_classes == 10 and dataset.sample_shape == (28, 28, 1)
  game = build.create_game(config, dataset)
  state = build.init_state(config, game, dataset)
  batch = dataset.batch(0, 10)
  _, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, batch)
  assert np.isfinite(metrics['d_loss'])
  # Its images may hold the held-out digits' kind of data: the held-out evaluators refuse it.
  from gan_jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
  config.eval.conditional.every = 10
  with pytest.raises(ConfigError, match="embedded_split='train'"):
    evaluators.create_evaluators(config.eval, dataset, game.task.sample_inputs, 0)
