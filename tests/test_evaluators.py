"""Evaluators on hand-made generators, the best-checkpoint tracker, eval.jsonl, and gan_jax.evaluate."""

import json
import math
import os
import subprocess
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import toy2d
from gan_jax import evaluate, train
from gan_jax.config_checks import ConfigError
from gan_jax.data import toy
from gan_jax.data.images import ImageArrayDataset
from gan_jax.evaluation import classifier
from gan_jax.evaluation import evaluators as ev
from gan_jax.data import stacked_mnist

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_IMAGES = 500  # generated and reference digits per image test: fast, still decisive


class _State(NamedTuple):
  """Stands in for a TrainState: step () for one seed, (N,) for N stacked seeds."""
  step: jax.Array = jnp.zeros((), jnp.int32)


def _draw_z(z_dim):
  """The unconditional task's sampler inputs: {'z': N(0, I) of (n, z_dim)}."""
  return lambda rng, n: {'z': jax.random.normal(rng, (n, z_dim))}


def _config(**entries):
  config = ml_collections.ConfigDict()
  for name, entry in entries.items():
    config[name] = entry
  return config


@pytest.fixture(scope='module')
def digits():
  images = np.round((np.concatenate([classifier.digit_split().train_images,
                                     classifier.digit_split().test_images]) + 1) * 127.5)
  return ImageArrayDataset(images.astype(np.uint8), 0, 'embedded digits')


@pytest.fixture(scope='module')
def image_evaluator(digits):
  return ev.create_evaluators(
      _config(features=dict(type='image_features', every=10, num_samples=N_IMAGES,
                            kid_subsets=20)), digits, draw_inputs=_draw_z(4), seed=0)[0]


def _real_image_sampler(digits):
  """Returns real digits outside both reference sets, in order, whatever z is."""
  perm = np.random.default_rng(ev.REAL_SET_SEED).permutation(len(digits))
  held_out = digits.images[perm[2 * N_IMAGES:]].astype(np.float32) / 127.5 - 1
  used = [0]

  def sample(state, inputs):
    del state
    n = len(inputs['z'])
    out = held_out[used[0]:used[0] + n]
    used[0] += n
    return out
  return sample


def test_image_features_real_generator_scores_near_the_floor(digits, image_evaluator):
  floor = image_evaluator.floor
  assert set(floor) == {'fid', 'kid', 'kid_std', 'precision', 'recall', 'density',
                        'coverage', 'inception_score', 'classes_seen', 'label_kl'}
  # Real vs real with 500 digits a side: small but not zero (finite samples).
  assert 0 < floor['fid'] < 10 and floor['classes_seen'] == 10
  assert floor['inception_score'] > 8.5 and floor['label_kl'] < 0.05
  result = image_evaluator.run(_real_image_sampler(digits), _State())
  assert 0.5 * floor['fid'] < result['fid'] < 2 * floor['fid']
  assert result['precision'] > 0.8 and result['recall'] > 0.8
  assert result['classes_seen'] == 10


def test_image_features_collapsed_generator_scores_far_worse(digits, image_evaluator):
  one_digit = digits.images[:1].astype(np.float32) / 127.5 - 1
  result = image_evaluator.run(lambda s, inputs: np.repeat(one_digit, len(inputs['z']), 0),
                               _State())
  assert result['fid'] > 50 * image_evaluator.floor['fid']
  assert result['classes_seen'] == 1
  np.testing.assert_allclose(result['label_kl'], math.log(10), rtol=1e-5)
  np.testing.assert_allclose(result['inception_score'], 1.0, atol=1e-4)
  # One point lies in the k-NN balls of only a few of the 500 real digits.
  assert result['recall'] < 0.01 and result['coverage'] < 0.05


@pytest.mark.parametrize('name', ['ring', 'grid'])
def test_mixture_modes_of_exact_mode_means(name):
  dataset = toy.ToyMixture(toy.TOY_DATASETS[name], seed=3)
  (evaluator,) = ev.create_evaluators(
      _config(modes=dict(type='mixture_modes', every=0)), dataset, draw_inputs=_draw_z(2),
      seed=0)
  means = dataset.mixture.means.astype(np.float32)
  k = len(means)
  result = evaluator.run(lambda s, inputs: means[np.arange(len(inputs['z'])) % k], _State())
  assert result['modes'] == k and result['hq_percent'] == 100.0
  # 2,500 samples over k modes: counts differ by at most one.
  assert abs(result['reverse_kl']) < 1e-4  # float32 round-off either side of 0
  # True samples: every mode, ~98.9% within 3 std (1 - exp(-9/2)), KL ~ (k-1)/(2N).
  assert evaluator.floor['modes'] == k
  assert 98 < evaluator.floor['hq_percent'] < 99.7
  assert evaluator.floor['reverse_kl'] < 0.02


def test_stacked_mnist_modes_of_real_and_collapsed_images():
  dataset = stacked_mnist.create_stacked_mnist(seed=0, num=2000)
  assert dataset.sample_shape == (28, 28, 3) and len(dataset) == 2000
  (evaluator,) = ev.create_evaluators(
      ev.default_eval_config(dataset), dataset, draw_inputs=_draw_z(2), seed=0)
  # 2,000 real triples over 1,000 modes: ~1000 (1 - e^-2) = 865 seen.
  assert 800 < evaluator.floor['modes'] < 920
  one = dataset.images[:1].astype(np.float32) / 127.5 - 1
  result = evaluator.run(lambda s, inputs: np.repeat(one, len(inputs['z']), 0), _State())
  assert result['modes'] == 1
  np.testing.assert_allclose(result['kl'], math.log(1000), rtol=1e-5)


def test_stacked_triples_are_labelled_digits():
  images, labels = stacked_mnist.stacked_triples(num=50, seed=1)
  assert images.shape == (50, 28, 28, 3) and images.dtype == np.uint8
  clf = classifier.load_classifier()
  predicted = classifier.predict_stacked_digits(clf, images / 127.5 - 1)
  assert np.mean(predicted == labels) > 0.95
  again, _ = stacked_mnist.stacked_triples(num=50, seed=1)
  np.testing.assert_array_equal(images, again)


def test_registry_errors_name_the_valid_choices(digits):
  ring = toy.ToyMixture(toy.TOY_DATASETS['ring'], 0)
  with pytest.raises(ConfigError, match=r"allowed: \['cas', 'class_conditional', "
                                        r"'exact_distribution', 'grammar', 'image_features', "
                                        r"'mixture_modes', 'stacked_mnist', 'translation'\]"):
    ev.create_evaluators(_config(x=dict(type='fid', every=1)), ring, _draw_z(2), 0)
  with pytest.raises(ConfigError, match=r"unknown options \['samples'\].*num_samples"):
    ev.create_evaluators(_config(x=dict(type='mixture_modes', every=1, samples=9)),
                         ring, _draw_z(2), 0)
  with pytest.raises(ConfigError, match="'every' is missing"):
    ev.create_evaluators(_config(x=dict(type='mixture_modes')), ring, _draw_z(2), 0)
  with pytest.raises(ConfigError, match=r'every=-2'):
    ev.create_evaluators(_config(x=dict(type='mixture_modes', every=-2)), ring, _draw_z(2), 0)
  with pytest.raises(ConfigError, match=r'needs samples of shape \(28, 28, 1\); the '
                                        r'data has \(2,\)'):
    ev.create_evaluators(_config(x=dict(type='image_features', every=1)), ring, _draw_z(2), 0)
  with pytest.raises(ConfigError, match='needs a 2-D mixture'):
    ev.create_evaluators(_config(x=dict(type='mixture_modes', every=1)), digits, _draw_z(2), 0)
  with pytest.raises(ConfigError, match=r'num_samples <= 2500'):
    ev.create_evaluators(_config(x=dict(type='image_features', every=1, num_samples=3000)),
                         digits, _draw_z(2), 0)


def test_run_due_schedules_prefixes_and_averages_seeds():
  dataset = toy.ToyMixture(toy.TOY_DATASETS['ring'], 0)
  evaluators = ev.create_evaluators(
      _config(often=dict(type='mixture_modes', every=10, num_samples=80),
              end=dict(type='mixture_modes', every=0, num_samples=80)), dataset,
      _draw_z(2), 0)
  means = dataset.mixture.means.astype(np.float32)
  calls = []

  def sample(state, inputs):  # seed i puts all its samples on modes 0..i
    n = len(inputs['z'])
    calls.append(n)
    return means[np.arange(n) % (int(state.step) + 1)]

  assert ev.run_due(evaluators, 15, sample, _State()) == {}
  assert set(ev.run_due(evaluators, 20, sample, _State())) == {
      'often/modes', 'often/hq_percent', 'often/reverse_kl'}
  assert set(ev.run_due(evaluators, 23, sample, _State(), final=True)) == {
      f'{n}/{m}' for n in ('often', 'end') for m in ('modes', 'hq_percent', 'reverse_kl')}
  stacked = _State(jnp.arange(3))  # seed i samples modes 0..i: 1, 2, 3 modes
  results = ev.run_due(evaluators, 10, sample, stacked)
  np.testing.assert_allclose(results['often/modes'], 2.0)
  np.testing.assert_allclose(results['often/modes_stderr'], 1 / np.sqrt(3))
  assert calls and set(calls) == {80}  # one batch of num_samples per call


def test_best_tracker_picks_the_best_and_survives_a_restart(tmp_path):
  tracker = ev.BestTracker(str(tmp_path), 'features/fid', 'min')
  assert tracker.is_best({'features/fid': 30.0}, 100)
  assert not tracker.is_best({'other/x': 1.0}, 150)          # metric not evaluated
  assert tracker.is_best({'features/fid': 12.0}, 200)
  assert not tracker.is_best({'features/fid': 15.0}, 300)
  assert not tracker.is_best({'features/fid': float('nan')}, 350)
  assert not tracker.is_best({'features/fid': 12.0}, 400)    # ties do not count
  resumed = ev.BestTracker(str(tmp_path), 'features/fid', 'min')
  assert (resumed.value, resumed.step) == (12.0, 200)
  assert not resumed.is_best({'features/fid': 13.0}, 500)
  assert resumed.is_best({'features/fid': 11.0}, 600)
  with open(tmp_path / ev.BEST_FILE) as f:
    assert json.load(f) == {'metric': 'features/fid', 'mode': 'min', 'value': 11.0,
                            'step': 600}
  # Another metric or mode starts afresh; 'max' prefers larger values.
  other = ev.BestTracker(str(tmp_path), 'modes/modes', 'max')
  assert other.value is None
  assert other.is_best({'modes/modes': 5.0}, 1) and other.is_best({'modes/modes': 6.0}, 2)
  assert not other.is_best({'modes/modes': 4.0}, 3)
  with pytest.raises(ConfigError, match=r"allowed: \('min', 'max'\)"):
    ev.BestTracker(str(tmp_path), 'x', 'lowest')


def test_append_jsonl_writes_one_strict_json_line_per_record(tmp_path):
  path = str(tmp_path / ev.EVAL_LOG)
  ev.append_jsonl(path, {'step': 10, 'features/fid': np.float32(3.5)})
  ev.append_jsonl(path, {'step': np.int64(20), 'features/fid': float('nan'),
                         'modes/kl': float('inf')})
  with open(path) as f:
    lines = f.read().splitlines()
  assert len(lines) == 2
  assert [json.loads(line) for line in lines] == [
      {'step': 10, 'features/fid': 3.5},
      {'step': 20, 'features/fid': None, 'modes/kl': None}]
  with open(path, 'a') as f:
    f.write('{"step": 30, "feat')  # a line torn by a crash
  assert [r['step'] for r in ev.read_jsonl(path)] == [10, 20]


def _train_tiny(workdir):
  config = toy2d.get_config('tiny')
  return config, train.train_and_evaluate(config, workdir)


def test_evaluate_command_scores_a_trained_workdir(tmp_path):
  workdir = str(tmp_path / 'run')
  config, state = _train_tiny(workdir)
  env = dict(os.environ, PYTHONPATH=REPO)
  out = subprocess.run([sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={workdir}'],
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
                       check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  assert '| modes/modes |' in out.stdout and 'real-vs-real floor' in out.stdout
  with open(os.path.join(workdir, evaluate.RESULT_FILE)) as f:
    record = json.load(f)
  keys = {'modes/modes', 'modes/hq_percent', 'modes/reverse_kl'}
  assert record['step'] == config.train.num_steps and record['which'] == 'latest'
  assert set(record['results']) == set(record['floor']) == keys
  assert all(math.isfinite(v) for v in record['floor'].values())
  assert 0 <= record['results']['modes/modes'] <= 8
  assert 0 <= record['results']['modes/hq_percent'] <= 100
  # The KL is over high-quality samples only: undefined (NaN) when there are none.
  assert (math.isfinite(record['results']['modes/reverse_kl'])
          or record['results']['modes/modes'] == 0)

  # --which=best: absent until a best checkpoint is saved, then restored.
  bad = subprocess.run([sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={workdir}',
                        '--which=best'], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=120, check=False)
  assert bad.returncode == 1 and 'best/checkpoints' in bad.stderr
  best = ev.best_checkpointer(workdir)
  best.save(state)
  best.close()
  eval_config = _config(modes=dict(type='mixture_modes', every=0, num_samples=100))
  record = evaluate.evaluate(workdir, 'best', eval_config)
  assert record['which'] == 'best' and record['step'] == config.train.num_steps
  # The same generator, fewer samples: the values of the latest checkpoint's run.
  game = train.create_game(config, (2,))
  sample = train.make_sampler(game)
  (evaluator,) = ev.create_evaluators(eval_config, toy.ToyMixture(
      toy.TOY_DATASETS['ring'], config.seed), game.task.sample_inputs, config.seed)
  expected = evaluator.run(sample, jax.device_get(state))
  np.testing.assert_equal(record['results'], {f'modes/{k}': v for k, v in expected.items()})


def _toy_with_eval(every=2, best='modes/hq_percent', mode='max'):
  config = toy2d.get_config('tiny')
  config.train.num_steps = 6
  config.eval.modes = dict(type='mixture_modes', every=every, num_samples=200)
  config.log.best_metric, config.log.best_mode = best, mode
  return config


def test_training_runs_the_evaluators_and_keeps_the_best_checkpoint(tmp_path):
  workdir = str(tmp_path / 'run')
  config = _toy_with_eval()
  state = train.train_and_evaluate(config, workdir)
  records = ev.read_jsonl(os.path.join(workdir, ev.EVAL_LOG))
  assert [r['step'] for r in records] == [2, 4, 6]
  with open(os.path.join(workdir, 'eval_floor.json')) as f:
    floor = json.load(f)
  assert set(floor) == {'modes/modes', 'modes/hq_percent', 'modes/reverse_kl'}
  # 2-D Gaussian: P(|x - mode| < 3 std) = 1 - exp(-4.5) = 98.9%.
  assert floor['modes/modes'] == 8 and floor['modes/hq_percent'] > 95

  # The last record is the final state scored by an evaluator built afresh.
  game = train.create_game(config, (2,))
  sample = train.make_sampler(game)
  (fresh,) = ev.create_evaluators(config.eval, toy.ToyMixture(
      toy.TOY_DATASETS['ring'], config.seed), game.task.sample_inputs, config.seed)
  last = {k: v for k, v in records[-1].items() if k != 'step'}
  expected = {f'modes/{k}': v for k, v in fresh.run(sample, state).items()}
  assert last == {k: None if math.isnan(v) else v for k, v in expected.items()}

  # best.json names the first step with the highest value; best/ holds that state.
  values = [r['modes/hq_percent'] for r in records]
  best_step = records[int(np.argmax(values))]['step']
  with open(os.path.join(workdir, ev.BEST_FILE)) as f:
    assert json.load(f) == {'metric': 'modes/hq_percent', 'mode': 'max',
                            'value': max(values), 'step': best_step}
  record = evaluate.evaluate(workdir, 'best', config.eval)
  assert record['step'] == best_step
  assert record['results']['modes/hq_percent'] == max(values)


def test_unknown_best_metric_fails_before_the_workdir_is_made(tmp_path):
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError, match=r"log.best_metric='modes/fid'.*allowed: "
                     r"\['modes/hq_percent', 'modes/modes', 'modes/reverse_kl'\]"):
    train.train_and_evaluate(_toy_with_eval(best='modes/fid'), str(workdir))
  assert not workdir.exists()


def test_an_evaluator_with_every_minus_one_is_off(tmp_path):
  config = _toy_with_eval(every=-1, best='')
  train.train_and_evaluate(config, str(tmp_path))
  assert not os.path.exists(os.path.join(tmp_path, ev.EVAL_LOG))
