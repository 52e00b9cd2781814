"""Super-resolution, pix2pix and CycleGAN: losses, gradients, the pool, the evaluator, learning."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import cyclegan as cyclegan_config
from configs import pix2pix as pix2pix_config
from configs import superres as superres_config
from gan_jax import build, optimizers, steps
from gan_jax.data import create_dataset, domains
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import image_metrics
from gan_jax.evaluation.base import shipped_classifier
from gan_jax.evaluation.translation_metrics import Translation
from gan_jax.tasks import cyclegan
from gan_jax.train import train_and_evaluate

LR = 0.05


def _setup(module, variant='tiny', **overrides):
  config = module.get_config(variant)
  config.optim.name = 'sgd'
  config.optim.g_lr = config.optim.d_lr = LR
  for field, value in overrides.items():
    section, name = field.split('.')
    config[section][name] = value
  dataset = create_dataset(config.data, config.seed, None)
  game = build.create_game(config, dataset)
  return config, dataset, game, build.init_state(config, game, dataset)


def _apply(task, params, name, *x):
  return task.module(name).apply({'params': params[name]}, *x)


def _sgd(params, grad):
  return jax.tree.map(lambda p, g: p - LR * g, params, grad)


def _mean_abs(x, y):
  return jnp.mean(jnp.abs(x - y))


def _check_sgd_step(game, state, batch, hand_losses):
  """One simultaneous SGD step moves each player by -lr x the gradient of its hand-written loss."""
  new, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, batch)
  for player in game.task.players:
    loss = lambda p, player=player: hand_losses(
        {**state.params, player: p}, jnp.asarray(batch['a']), jnp.asarray(batch['b']))[player]
    value, grad = jax.value_and_grad(loss)(state.params[player])
    assert optax.tree.norm(grad) > 0, player
    np.testing.assert_allclose(metrics[f'{game.task.players[player].prefix}_loss'], value,
                               rtol=1e-5)
    chex.assert_trees_all_close(new.params[player], _sgd(state.params[player], grad),
                                rtol=1e-4, atol=1e-6)
  return new, metrics


# ---------------------------------------------------------------- CycleGAN


def _cyclegan_hand_losses(task, cycle_weight, identity_weight):
  """CycleGAN's four losses written out (least squares, no pool: see the callers)."""
  def losses(params, a, b):
    g = lambda name, x: _apply(task, params, name, x)
    fake_b, fake_a = g('g_ab', a), g('g_ba', b)
    cycle = _mean_abs(g('g_ba', fake_b), a) + _mean_abs(g('g_ab', fake_a), b)
    out = {}
    for d_name, real, fake, g_name, identity in (
        ('d_b', b, fake_b, 'g_ab', _mean_abs(g('g_ab', b), b)),   # G_ab(b) against b
        ('d_a', a, fake_a, 'g_ba', _mean_abs(g('g_ba', a), a))):
      real_out, fake_out = g(d_name, real), g(d_name, fake)
      out[d_name] = 0.5 * jnp.mean((real_out - 1) ** 2) + 0.5 * jnp.mean(fake_out ** 2)
      out[g_name] = (0.5 * jnp.mean((fake_out - 1) ** 2) + cycle_weight * cycle
                     + identity_weight * cycle_weight * identity)
    return out
  return losses


def test_cyclegan_step_equals_each_players_hand_written_gradient():
  # At step 0 the pools are empty, so each D sees the current fakes (while a
  # pool fills it passes every fake on) and stores them.
  config, dataset, game, state = _setup(cyclegan_config, 'transform,tiny')
  batch = dataset.batch(0, config.train.batch_size)
  new, metrics = _check_sgd_step(game, state, batch, _cyclegan_hand_losses(game.task, 10.0, 0.5))
  fakes = _apply(game.task, state.params, 'g_ab', jnp.asarray(batch['a']))
  pool = new.model_state['d_b']['pool']
  assert float(pool['count']) == config.train.batch_size
  np.testing.assert_allclose(pool['images'][:config.train.batch_size], fakes, atol=1e-5)
  assert not np.any(pool['images'][config.train.batch_size:])
  assert metrics['identity_ab'] > 0


def test_cyclegan_identity_term_reads_g_ab_of_b_against_b():
  # The loss with the wrong identity term (G_ab(a) against a) differs: the
  # test above would notice the swap.
  _, dataset, game, state = _setup(cyclegan_config, 'transform,tiny')
  batch = dataset.batch(0, 8)
  a, b = jnp.asarray(batch['a']), jnp.asarray(batch['b'])
  samples, _ = game.task.generate(state.params, state.model_state, batch, None)
  np.testing.assert_allclose(samples['idt_b'], _apply(game.task, state.params, 'g_ab', b))
  _, (_, metrics) = game.task.judge(state.params, state.model_state, batch, samples,
                                    jax.random.PRNGKey(0))
  np.testing.assert_allclose(metrics['identity_ab'],
                             _mean_abs(_apply(game.task, state.params, 'g_ab', b), b), rtol=1e-6)
  assert abs(float(metrics['identity_ab'])
             - float(_mean_abs(_apply(game.task, state.params, 'g_ab', a), a))) > 1e-4


def test_without_identity_and_pool_the_step_is_the_plain_cycle_objective():
  config, dataset, game, state = _setup(cyclegan_config, 'transform,tiny',
                                        **{'train.identity_weight': 0.0, 'train.pool_size': 0})
  batch = dataset.batch(0, config.train.batch_size)
  new, _ = _check_sgd_step(game, state, batch, _cyclegan_hand_losses(game.task, 10.0, 0.0))
  assert not jax.tree.leaves(new.model_state)


def test_pool_passes_fakes_on_while_it_fills():
  pool = cyclegan.empty_pool(4, (1,))
  first = jnp.arange(3.0)[:, None]
  out, pool = cyclegan.pool_query(pool, first, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(out, first)
  np.testing.assert_array_equal(pool['images'][:3], first)
  assert float(pool['count']) == 3
  # The 4th fills the last slot; the 5th meets a full pool.
  out, pool = cyclegan.pool_query(pool, jnp.array([[3.0]]), jax.random.PRNGKey(1))
  np.testing.assert_array_equal(pool['images'][:, 0], [0, 1, 2, 3])
  assert float(out[0, 0]) == 3.0


def test_a_full_pool_swaps_half_the_fakes_for_a_uniform_stored_one():
  size, n = 10, 4000
  stored = jnp.arange(size, dtype=jnp.float32)[:, None]
  full = {'images': stored, 'count': jnp.float32(size)}
  # One new fake (value -1) at a time against the same full pool: a swap
  # returns a stored value 0..9 and writes -1 into that slot.
  query = jax.jit(jax.vmap(lambda key: cyclegan.pool_query(full, jnp.array([[-1.0]]), key)))
  out, pools = query(jax.random.split(jax.random.PRNGKey(0), n))
  returned = np.asarray(out[:, 0, 0])
  swapped = returned >= 0
  # Binomial(4000, 0.5): standard deviation 0.0079 of the share.
  assert abs(swapped.mean() - cyclegan.POOL_SWAP_PROBABILITY) < 0.04
  counts = np.bincount(returned[swapped].astype(int), minlength=size)
  expected = swapped.sum() / size
  chi2 = np.sum((counts - expected) ** 2 / expected)
  assert chi2 < 30, counts  # chi^2 with 9 dof: P(> 30) ~ 4e-4
  # The swapped slot now holds the new fake; the others are untouched.
  images = np.asarray(pools['images'][..., 0])
  for i in np.flatnonzero(swapped)[:50]:
    assert images[i, int(returned[i])] == -1 and np.sum(images[i] == -1) == 1
  assert np.all(images[~swapped] == np.arange(size))


def test_linear_learning_rate_decay_of_cyclegan():
  config = cyclegan_config.get_config()
  schedule = optimizers.learning_rate_schedule(config.optim, 2e-4)
  np.testing.assert_allclose([schedule(t) for t in (0, 499, 500, 750, 1000, 1200)],
                             [2e-4, 2e-4, 2e-4, 1e-4, 0.0, 0.0], rtol=1e-6, atol=1e-12)
  assert optimizers.learning_rate_schedule(superres_config.get_config().optim, 1e-4) == 1e-4


# ---------------------------------------------------------------- paired tasks


def test_pix2pix_step_equals_the_hand_written_l1_plus_conditional_gan():
  config, dataset, game, state = _setup(pix2pix_config)
  task = game.task

  def losses(params, a, b):
    fake = _apply(task, params, 'generator', a)
    real_logits = _apply(task, params, 'discriminator', b, a)  # D sees (output, input)
    fake_logits = _apply(task, params, 'discriminator', fake, a)
    d = -jnp.mean(jax.nn.log_sigmoid(real_logits)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits))
    g = -jnp.mean(jax.nn.log_sigmoid(fake_logits)) + 100.0 * _mean_abs(fake, b)
    return {'generator': g, 'discriminator': d}
  _check_sgd_step(game, state, dataset.batch(0, config.train.batch_size), losses)


def test_esrgan_step_equals_the_hand_written_relativistic_feature_and_l1_losses():
  config, dataset, game, state = _setup(superres_config, 'esrgan,tiny')
  task, classifier = game.task, shipped_classifier()
  features = lambda x: classifier.features(classifier.params, x)

  def losses(params, a, b):
    fake = _apply(task, params, 'generator', a)
    real, fake_l = _apply(task, params, 'discriminator', b), _apply(task, params,
                                                                    'discriminator', fake)
    r, f = real - jnp.mean(fake_l), fake_l - jnp.mean(real)
    d = -jnp.mean(jax.nn.log_sigmoid(r)) - jnp.mean(jax.nn.log_sigmoid(-f))
    adv = -jnp.mean(jax.nn.log_sigmoid(f)) - jnp.mean(jax.nn.log_sigmoid(-r))
    g = (5e-3 * adv + 1e-2 * _mean_abs(fake, b)
         + jnp.mean((features(fake) - features(b)) ** 2))
    return {'generator': g, 'discriminator': d}
  batch = dataset.batch(0, config.train.batch_size)
  assert batch['a'].shape[1:] == (7, 7, 1)
  _check_sgd_step(game, state, batch, losses)


# ---------------------------------------------------------------- the evaluator


def test_translation_metrics_against_independent_computations():
  config = superres_config.get_config('tiny,box')
  dataset = create_dataset(config.data, 0, None)
  evaluator = Translation('translation', dataset, None, 0, every=0, num_samples=200,
                          batch_size=64)
  truth = dataset.test_b[:200].astype(np.float32) / 127.5 - 1
  low = dataset.test_a[:200].astype(np.float32) / 127.5 - 1
  # The truth shifted by 0.1: L1 0.1, PSNR 10 log10(4 / 0.01) = 26.02 dB.
  results = evaluator.score(truth + 0.1)
  np.testing.assert_allclose(results['l1'], 0.1, rtol=1e-5)
  np.testing.assert_allclose(results['psnr'], 10 * np.log10(4 / 0.01), rtol=1e-5)
  np.testing.assert_allclose(results['ssim'], np.mean(image_metrics.ssim(truth + 0.1, truth)),
                             rtol=1e-6)
  # Nearest upsampling of the box-downsampled input is consistent with it exactly.
  consistent = evaluator.score(domains.upsample(low, 4, 'nearest'))
  assert consistent['lr_l1'] < 1e-6
  labels = dataset.test_labels_a[:200]
  np.testing.assert_allclose(
      results['accuracy'], 100 * classifier_lib.accuracy(shipped_classifier(), truth + 0.1,
                                                         labels), rtol=1e-6)
  # run() translates the test inputs in order, batch by batch (padded last batch).
  seen = []

  def sampler(state, inputs):
    seen.append(inputs['a'].shape[0])
    return jnp.asarray(domains.upsample(np.asarray(inputs['a']), 4, 'nearest'))
  ran = evaluator.run(sampler, None)
  assert seen == [64] * 4
  np.testing.assert_allclose(ran['lr_l1'], consistent['lr_l1'], atol=1e-6)
  np.testing.assert_allclose(ran['psnr'], consistent['psnr'], rtol=1e-5)
  assert evaluator.floor['l1'] == 0 and 'psnr' not in evaluator.floor


# ---------------------------------------------------------------- learning


def _train(config, dataset, num_steps):
  game = build.create_game(config, dataset)
  state = build.init_state(config, game, dataset)
  step = jax.jit(steps.make_train_step(game, config.train.update_rule))
  for t in range(num_steps):
    state, metrics = step(state, dataset.batch(t, config.train.batch_size))
  assert bool(metrics['finite'])
  return game, state


def test_super_resolution_beats_bicubic_upsampling_in_a_short_run():
  config = superres_config.get_config('x2,l1')
  config.model.g_width, config.model.num_blocks = 16, 2
  dataset = create_dataset(config.data, config.seed, None)
  game, state = _train(config, dataset, 300)
  low = dataset.test_a[:300].astype(np.float32) / 127.5 - 1
  truth = dataset.test_b[:300].astype(np.float32) / 127.5 - 1
  sr = game.task.sample(build.sampling_params(game, state), state.model_state, {'a': low})
  sr_psnr = float(np.mean(image_metrics.psnr(sr, truth)))
  bicubic_psnr = float(np.mean(image_metrics.psnr(domains.upsample(low, 2), truth)))
  print(f'x2 PSNR: SRResNet after 300 steps {sr_psnr:.2f} dB, bicubic {bicubic_psnr:.2f} dB')
  assert sr_psnr > bicubic_psnr + 1.0


def test_pix2pix_learns_the_paired_transform_in_a_short_run():
  config = pix2pix_config.get_config()
  config.model.g_width = config.model.d_width = 16
  dataset = create_dataset(config.data, config.seed, None)
  game, state = _train(config, dataset, 200)
  inputs = dataset.test_a[:300].astype(np.float32) / 127.5 - 1
  truth = dataset.test_b[:300].astype(np.float32) / 127.5 - 1
  out = game.task.sample(build.sampling_params(game, state), state.model_state, {'a': inputs})
  l1, identity_l1 = float(_mean_abs(out, truth)), float(_mean_abs(inputs, truth))
  accuracy = classifier_lib.accuracy(shipped_classifier(), out, dataset.test_labels_a[:300])
  print(f'pix2pix after 200 steps: L1 {l1:.3f} (input {identity_l1:.3f}), accuracy {accuracy:.3f}')
  assert l1 < 0.2 * identity_l1 and accuracy > 0.9


def test_cyclegan_translates_unpaired_digits_in_a_short_run():
  # configs/cyclegan.py (load_digits -> MNIST), 200 of its 1,000 steps. Seed
  # 0 measured: accuracy of the translations 0.10 at step 0 (G_ab's output is
  # noise), 0.68 at step 100, 0.77 at 200 (the untranslated inputs: 0.88);
  # cycle L1 1.02 -> 0.11 -> 0.07.
  config = cyclegan_config.get_config()
  dataset = create_dataset(config.data, config.seed, None)
  game = build.create_game(config, dataset)
  state = build.init_state(config, game, dataset)
  inputs = dataset.test_a.astype(np.float32) / 127.5 - 1
  labels, classifier = dataset.test_labels_a, shipped_classifier()

  def measure(state):
    params = build.sampling_params(game, state)
    out = game.task.sample(params, state.model_state, {'a': inputs})
    back = game.task.sample(params, state.model_state, {'cycle_a': inputs})
    return classifier_lib.accuracy(classifier, out, labels), float(_mean_abs(back, inputs))
  before = measure(state)
  step = jax.jit(steps.make_train_step(game, config.train.update_rule))
  for t in range(200):
    state, _ = step(state, dataset.batch(t, config.train.batch_size))
  after = measure(state)
  print(f'CycleGAN load_digits -> MNIST, 200 steps: accuracy {before[0]:.3f} -> {after[0]:.3f}, '
        f'cycle L1 {before[1]:.3f} -> {after[1]:.3f}')
  assert before[0] < 0.3 and after[0] > 0.5
  assert before[1] > 0.5 and after[1] < 0.15


# ---------------------------------------------------------------- the loop


@pytest.mark.parametrize('module,variant', [(superres_config, 'x2,tiny'),
                                            (pix2pix_config, 'tiny'),
                                            (cyclegan_config, 'tiny')])
def test_each_tiny_config_trains_and_evaluates_through_the_loop(tmp_path, module, variant):
  config = module.get_config(variant)
  config.eval.translation.every = 0  # at the end
  config.eval.translation.num_samples = 100
  config.eval.features.every = 0
  config.eval.features.num_samples = 100
  train_and_evaluate(config, str(tmp_path))
  [record] = [json.loads(line) for line in open(tmp_path / 'eval.jsonl')]
  assert record['step'] == config.train.num_steps
  assert 0 <= record['translation/accuracy'] <= 100 and record['features/fid'] > 0
  if config.task != 'cyclegan':
    assert np.isfinite(record['translation/psnr'])
  else:
    assert record['translation/cycle_l1'] > 0
  assert (tmp_path / 'samples_final.png').exists()
  assert not (tmp_path / 'interpolation_final.png').exists()  # the inputs are images


def test_a_bad_image_to_image_config_fails_before_the_workdir(tmp_path):
  config = superres_config.get_config('tiny')
  config.data.transforms_a = ('bicubic_x2',)  # model.scale stays 4
  with pytest.raises(ConfigError, match='model.scale=4 but data.transforms_a'):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()
