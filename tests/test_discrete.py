"""The discrete task: its data, generators, evaluators, a step of each estimator, learning, bad input."""

import itertools
import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import discrete as discrete_config
from gan_jax import build, steps
from gan_jax.data import create_dataset
from gan_jax.data import discrete as discrete_data
from gan_jax.errors import ConfigError, DataError
from gan_jax.evaluation import discrete_metrics
from gan_jax.evaluation.evaluators import create_evaluator
from gan_jax.train import train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(arg='tiny'):
  return discrete_config.get_config(arg)


def game_and_state(cfg):
  dataset = create_dataset(cfg.data, cfg.seed, None)
  game = build.create_game(cfg, dataset)
  return dataset, game, build.init_state(cfg, game, dataset)


# --- data -------------------------------------------------------------------

def test_bit_probabilities_match_a_direct_computation():
  length = 6
  protos = discrete_data.bit_prototypes(length)
  table = dict(zip(map(tuple, discrete_data.all_bit_strings(length).tolist()),
                   np.exp(discrete_data.bit_log_probs(length))))
  assert len(table) == 2 ** length
  for bits in itertools.product((0, 1), repeat=length):
    direct = 0.0
    for w, proto in zip(discrete_data.BIT_WEIGHTS, protos):
      p = 1.0
      for b, c in zip(bits, proto):
        p *= discrete_data.BIT_FLIP if b != c else 1 - discrete_data.BIT_FLIP
      direct += w * p
    np.testing.assert_allclose(table[bits], direct, rtol=1e-10)
  # Batches are draws from the table: empirical frequencies within 4 standard errors.
  data = discrete_data.BitStrings(length, seed=3)
  draws = np.concatenate([data.batch(t, 1000)['tokens'] for t in range(20)])
  index = draws @ (2 ** np.arange(length - 1, -1, -1))
  freq = np.bincount(index, minlength=2 ** length) / len(index)
  p = np.exp(data.log_probs)
  np.testing.assert_array_less(np.abs(freq - p), 4 * np.sqrt(p * (1 - p) / len(index)) + 1e-4)


def test_grammar_language_is_a_distribution_and_training_set_is_fixed():
  language = discrete_data.grammar_language()
  np.testing.assert_allclose(sum(p for _, p in language), 1.0, rtol=1e-12)
  # 'alice sleeps' = NP -> Name (0.2) x Name -> alice (0.5) x VP -> Vi (0.25) x sleeps (0.6)
  np.testing.assert_allclose(dict(language)[('alice', 'sleeps')], 0.2 * 0.5 * 0.25 * 0.6)
  a, b = discrete_data.GrammarStrings(8, 100, 0), discrete_data.GrammarStrings(8, 100, 5)
  np.testing.assert_array_equal(a.train, b.train)  # the run's seed only shuffles
  assert a.decode(a.sequences[0]).split() == list(language[0][0])
  assert not np.array_equal(a.batch(0, 10)['tokens'], b.batch(0, 10)['tokens'])


def test_binarised_images_are_zero_or_one():
  cfg = config('mnist,tiny')
  data = create_dataset(cfg.data, 0, None)
  assert set(np.unique(data.images).tolist()) == {0, 255}
  assert set(np.unique(data.batch(0, 8)['image']).tolist()) <= {-1.0, 1.0}


# --- generators -------------------------------------------------------------

def test_autoregressive_probabilities_sum_to_one_and_match_its_draws():
  cfg = config('bits,tiny')
  cfg.data.seq_length = 5
  _, game, state = game_and_state(cfg)
  task, params = game.task, state.params
  every = jnp.asarray(discrete_data.all_bit_strings(5))
  for temperature in (1.0, 0.5):
    log_p = task.sample(params, state.model_state,
                        {'score': every, 'temperature': jnp.full((32,), temperature)})
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, rtol=1e-5)
  # The sampling pass's log p (hard draws fed back) is the teacher-forced one.
  inputs = task.sample_inputs(jax.random.PRNGKey(1), 64)
  out = task._generate(params['generator'], inputs)  # pylint: disable=protected-access
  np.testing.assert_allclose(out['log_prob'], task.log_prob(params['generator'], out['tokens']),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(task.sample(params, state.model_state, inputs), out['tokens'])


def test_tempered_draws_follow_the_tempered_probabilities():
  cfg = config('bits,tiny')
  cfg.data.seq_length = 5
  _, game, state = game_and_state(cfg)
  task, n = game.task, 20_000
  every = jnp.asarray(discrete_data.all_bit_strings(5))
  for temperature in (0.5, 2.0):
    inputs = task.sample_inputs(jax.random.PRNGKey(2), n)
    tokens = np.asarray(task.sample(state.params, state.model_state,
                                    {**inputs, 'temperature': jnp.full((n,), temperature)}))
    freq = np.bincount(tokens @ (2 ** np.arange(4, -1, -1)), minlength=32) / n
    p = np.exp(np.asarray(task.sample(state.params, state.model_state, {
        'score': every, 'temperature': jnp.full((32,), temperature)}), np.float64))
    np.testing.assert_array_less(np.abs(freq - p), 4 * np.sqrt(p * (1 - p) / n) + 1e-4)


# --- the step ---------------------------------------------------------------

@pytest.mark.parametrize('estimator', discrete_config.ESTIMATORS)
def test_each_estimator_takes_a_finite_step_and_d_sees_the_right_samples(estimator):
  cfg = config(f'{estimator},tiny')
  dataset, game, state = game_and_state(cfg)
  batch = dataset.batch(0, cfg.train.batch_size)
  step = jax.jit(steps.make_train_step(game, 'simultaneous'))
  new, metrics = step(state, batch)
  assert float(metrics['finite']) == 1.0
  assert float(new.model_state['generator']['step']) == 1.0
  for p in ('generator', 'discriminator'):
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: jnp.any(a != b), state.params[p],
                                         new.params[p]))
    assert any(bool(m) for m in moved), (estimator, p)
  # What D sees of the fakes: relaxed (not one-hot) for gumbel only.
  inputs = game.task._train_inputs(jax.random.PRNGKey(0), 16)  # pylint: disable=protected-access
  y = game.task._generate(state.params['generator'], inputs, 0.5, estimator)['y']  # pylint: disable=protected-access
  one_hot = bool(jnp.all((y == 0) | (y == 1)))
  assert one_hot == (estimator != 'gumbel')


def test_reinforce_gradient_is_the_hand_written_surrogate():
  cfg = config('reinforce,tiny')
  dataset, game, state = game_and_state(cfg)
  task = game.task
  batch = dataset.batch(0, cfg.train.batch_size)
  rng = jax.random.PRNGKey(7)
  state = state.replace(model_state={**state.model_state, 'generator': {
      'step': jnp.asarray(3.0), 'baseline': jnp.asarray(-0.4)}})
  _, grads, (new_state, _) = steps.player_gradients(game, state, batch, rng)

  def by_hand(g_params):
    out = task._generate(g_params, task._train_inputs(rng, 16), 1.0, 'reinforce')  # pylint: disable=protected-access
    logit = task.critic(state.params['discriminator'], out['y'])
    reward = jnp.log(jax.nn.sigmoid(logit))
    return -jnp.mean(jax.lax.stop_gradient(reward + 0.4) * out['log_prob'])
  expected = jax.grad(by_hand)(state.params['generator'])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               grads['generator'], expected)
  out = task._generate(state.params['generator'], task._train_inputs(rng, 16))  # pylint: disable=protected-access
  mean_reward = jnp.mean(jnp.log(jax.nn.sigmoid(task.critic(state.params['discriminator'],
                                                            out['y']))))
  np.testing.assert_allclose(new_state['generator']['baseline'], 0.9 * -0.4 + 0.1 * mean_reward,
                             rtol=1e-5)


# --- evaluators -------------------------------------------------------------

def uniform_sampler(length):
  return lambda state, inputs: jnp.full(inputs['score'].shape[:1], -length * math.log(2))


def test_exact_metrics_are_zero_on_the_data_and_closed_form_for_uniform():
  data = discrete_data.BitStrings(8, 0)
  ev = create_evaluator('exact', dict(type='exact_distribution', every=0), data,
                        lambda rng, n: {'gumbel': jnp.zeros((n, 8, 2))}, 0)
  assert ev.floor == pytest.approx({'kl': 0.0, 'tv': 0.0, 'valid_mass': 1.0, 'reverse_kl': 0.0},
                                  abs=1e-12)
  p = np.exp(data.log_probs)
  got = ev.run(uniform_sampler(8), None)
  np.testing.assert_allclose(got['kl'], np.sum(p * np.log(p * 256)), rtol=1e-6)
  np.testing.assert_allclose(got['reverse_kl'], np.mean(np.log(1 / 256 / p)), rtol=1e-6)
  np.testing.assert_allclose(got['tv'], 0.5 * np.abs(p - 1 / 256).sum(), rtol=1e-6)
  # The grammar's table does not hold the whole space: the valid mass of a
  # uniform G over 18^8 sequences is 6,240 / 18^8 and its TV almost 1.
  grammar = discrete_data.GrammarStrings(8, 100, 0)
  ev = create_evaluator('exact', dict(type='exact_distribution', every=0), grammar,
                        lambda rng, n: {'gumbel': jnp.zeros((n, 8, 18))}, 0)
  got = ev.run(lambda s, i: jnp.full(i['score'].shape[:1], -8 * math.log(18)), None)
  np.testing.assert_allclose(got['valid_mass'], 6240 / 18 ** 8, rtol=1e-6)
  assert 'reverse_kl' not in got and got['tv'] > 0.999


def test_grammar_metrics_by_hand():
  grammar = discrete_data.GrammarStrings(8, 200, 0)
  ev = create_evaluator('g', dict(type='grammar', every=0, num_samples=100), grammar,
                        lambda rng, n: {'gumbel': jnp.zeros((n, 8, 18))}, 0)
  assert ev.floor['valid_percent'] == 100.0
  train = grammar.train[0]
  novel = next(s for s in grammar.sequences if tuple(s) not in ev.train)
  garbage = np.ones(8, np.int32)  # 'a a a a a a a a'
  samples = np.stack([train, train, novel, garbage])
  got = ev.score(samples)
  assert got['valid_percent'] == 75.0
  assert got['unique_percent'] == pytest.approx(200 / 3)
  assert got['novel_percent'] == 50.0
  log_p = dict(zip(map(tuple, grammar.sequences.tolist()), grammar.log_probs))
  np.testing.assert_allclose(got['grammar_nll'],
                             -(2 * log_p[tuple(train)] + log_p[tuple(novel)]) / 3)


# --- learning ---------------------------------------------------------------

@pytest.mark.parametrize('estimator,steps_,bound', [('mle', 300, 0.1), ('reinforce', 600, 1.5)])
def test_training_lowers_the_exact_kl(tmp_path, estimator, steps_, bound):
  cfg = config(f'{estimator},bits')
  cfg.data.seq_length = 6
  cfg.train.num_steps = steps_
  cfg.train.batch_size = 128
  cfg.eval.exact.every = steps_
  cfg.eval.exact.temperatures = (1.0,)
  cfg.log.plots = False
  cfg.log.log_every = cfg.log.sample_every = cfg.log.checkpoint_every = steps_
  train_and_evaluate(cfg, str(tmp_path))
  records = [json.loads(line) for line in open(tmp_path / 'eval.jsonl')]
  kl = records[-1]['exact/kl']
  p = np.exp(discrete_data.bit_log_probs(6))
  uniform_kl = np.sum(p * np.log(p * 64))  # 0.8 nats
  assert kl < bound * uniform_kl if estimator != 'mle' else kl < bound, (kl, uniform_kl)


# --- bad input --------------------------------------------------------------

@pytest.mark.parametrize('field,value,message', [
    ('train.tau0', 0.0, 'train.tau0=0.0'),
    ('train.tau_min', -1.0, 'train.tau_min=-1.0'),
    ('train.estimator', 'gumbell', "did you mean 'gumbel'"),
    ('data.seq_length', 20, 'data.seq_length=20'),
    ('train.regularizers', ('r1',), 'train.regularizers'),
    ('model.name', 'dcgan_mnist', "model.name='dcgan_mnist'"),
])
def test_bad_fields_name_themselves(field, value, message):
  cfg = config('tiny')
  section, name = field.split('.')
  cfg[section][name] = value
  with pytest.raises((ConfigError, DataError), match=message.replace('(', r'\(')):
    game_and_state(cfg)


def test_bad_combinations():
  cfg = config('reinforce,tiny')
  cfg.train.loss = 'wasserstein'
  with pytest.raises(ConfigError, match="train.loss='wasserstein'"):
    game_and_state(cfg)
  cfg = config('grammar,tiny')
  cfg.data.seq_length = 6
  with pytest.raises(ConfigError, match='longest sentence'):
    game_and_state(cfg)
  cfg = config('mle,mnist,tiny')
  with pytest.raises(ConfigError, match='needs a likelihood'):
    game_and_state(cfg)
  cfg = config('tiny')
  cfg.task = 'unconditional'
  with pytest.raises(ConfigError, match="allowed: task='discrete'"):
    train_and_evaluate(cfg, '/nonexistent/never')
  cfg = config('tiny')
  cfg.data.name = 'ring'
  with pytest.raises(ConfigError, match='needs discrete data'):
    game_and_state(cfg)
  data = discrete_data.BitStrings(6, 0)
  with pytest.raises(ConfigError, match='mixture'):
    create_evaluator('m', dict(type='mixture_modes', every=0), data, None, 0)
  with pytest.raises(ConfigError, match='temperatures'):
    create_evaluator('e', dict(type='exact_distribution', every=0, temperatures=(0.0,)), data,
                     lambda rng, n: {'gumbel': jnp.zeros((n, 6, 2))}, 0)
  with pytest.raises(ConfigError, match='autoregressive'):
    create_evaluator('e', dict(type='exact_distribution', every=0), data,
                     lambda rng, n: {'z': jnp.zeros((n, 4))}, 0)


def test_cli_refuses_bad_temperature_before_the_workdir(tmp_path):
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/discrete.py:tiny',
       f'--workdir={workdir}', '--config.train.tau0=-1'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  assert 'train.tau0=-1' in proc.stderr.strip().splitlines()[-1]
  assert not workdir.exists()


def test_cli_trains_each_data_set(tmp_path):
  for data in discrete_config.DATA:
    workdir = tmp_path / data
    proc = subprocess.run(
        [sys.executable, '-m', 'gan_jax.main', f'--config=configs/discrete.py:bgan,{data},tiny',
         f'--workdir={workdir}'], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (workdir / 'samples_final.png').exists()
