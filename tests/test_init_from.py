"""train.init_from: some players of a new run start from a finished run's checkpoint."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from configs import superres as superres_config
from experiments import sweep as sweep_lib
from gan_jax import build, init_from, trained
from gan_jax.data import create_dataset
from gan_jax.errors import ConfigError
from gan_jax.train import train_and_evaluate


def _config(variant='x2,tiny', **train):
  config = superres_config.get_config(variant)
  for entry in config.eval.values():
    entry.every = -1  # no evaluators: only the state matters here
  for name, value in train.items():
    config.train[name] = value
  return config


@pytest.fixture(scope='module')
def source(tmp_path_factory):
  """A finished 4-step x2 L1 run: its workdir and final state."""
  workdir = str(tmp_path_factory.mktemp('source'))
  config = _config('x2,l1,tiny')
  train_and_evaluate(config, workdir)
  state, _, _ = trained.restore(workdir, config, trained.load_dataset(config))
  return workdir, state


def _fresh(config):
  dataset = create_dataset(config.data, config.seed, None)
  game = build.create_game(config, dataset)
  return game, build.init_state(config, game, dataset, config.train.num_seeds)


def _equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_the_generator_comes_from_the_source_and_the_discriminator_from_the_seed(source):
  workdir, src = source
  config = _config('x2,srgan,tiny', init_from=workdir)
  config.seed = 7  # another seed: nothing but init_from can make G equal the source's
  game, state = _fresh(config)
  got = init_from.initialise_from(state, config, game)
  assert _equal(got.params['generator'], src.params['generator'])
  assert not _equal(state.params['generator'], src.params['generator'])
  assert _equal(got.ema_params['generator'], src.ema_params['generator'])
  assert _equal(got.params['discriminator'], state.params['discriminator'])
  assert _equal(got.opt_state['discriminator'], state.opt_state['discriminator'])
  # G's Adam state is new, not the source's (which has counted 4 updates).
  assert _equal(got.opt_state['generator'],
                game.txs['generator'].init(src.params['generator']))
  assert not _equal(got.opt_state['generator'], src.opt_state['generator'])
  assert int(got.step) == 0


def test_through_the_loop_a_generator_that_does_not_move_stays_the_source(source, tmp_path):
  workdir, src = source
  config = _config('x2,srgan,tiny', init_from=workdir)
  # Adam moves each weight by about its rate per step: 4 steps at 1e-12 leave G
  # where it began, which only init_from can make the source's.
  config.optim.g_lr = 1e-12
  config.seed = 7
  final = train_and_evaluate(config, str(tmp_path))
  moved = lambda a, b: max(float(np.max(np.abs(x - y)))
                           for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert moved(final.params['generator'], src.params['generator']) < 1e-10
  _, fresh = _fresh(config)
  assert moved(fresh.params['generator'], src.params['generator']) > 1e-2
  assert not _equal(final.params['discriminator'], src.params['discriminator'])


def test_several_seeds_all_start_from_the_source(source):
  workdir, src = source
  config = _config('x2,srgan,tiny', init_from=workdir, num_seeds=2)
  game, state = _fresh(config)
  got = init_from.initialise_from(state, config, game)
  for seed in range(2):
    assert _equal(jax.tree.map(lambda x, s=seed: x[s], got.params['generator']),
                  src.params['generator'])
  d = got.params['discriminator']
  assert not _equal(jax.tree.map(lambda x: x[0], d), jax.tree.map(lambda x: x[1], d))


def test_bad_sources_fail_with_one_line_naming_the_field(source, tmp_path):
  workdir, _ = source
  with pytest.raises(ConfigError, match=r"train.init_from='.*nowhere' holds no config.json"):
    train_and_evaluate(_config(init_from=str(tmp_path / 'nowhere')), str(tmp_path / 'a'))
  with pytest.raises(ConfigError, match=r"train.init_players=\('critic',\): \['critic'\]; "
                                        r"allowed: .*\['discriminator', 'generator'\]"):
    train_and_evaluate(_config(init_from=workdir, init_players=('critic',)),
                       str(tmp_path / 'b'))
  for name in 'ab':
    assert not (tmp_path / name).exists()  # refused before the workdir is touched

  wider = _config('x2,srgan,tiny', init_from=workdir)
  wider.model.g_width = 8
  game, state = _fresh(wider)
  with pytest.raises(ConfigError, match=r"the params of player 'generator' differ from this "
                                        r"run's .*\(.*8.*\).*\(.*4.*\)"):
    init_from.initialise_from(state, wider, game)


def test_an_unfinished_source_is_refused(source, tmp_path):
  workdir, _ = source
  partial = str(tmp_path / 'partial')
  shutil.copytree(workdir, partial)
  shutil.rmtree(os.path.join(partial, 'checkpoints', '4'))  # as if stopped at step 2
  config = _config('x2,srgan,tiny', init_from=partial)
  game, state = _fresh(config)
  with pytest.raises(ConfigError, match=r'newest checkpoint is at step 2 of its 4; '
                                        r'allowed: a finished run'):
    init_from.initialise_from(state, config, game)


def test_a_source_of_several_seeds_is_refused(source, tmp_path):
  workdir, _ = source
  seeded = str(tmp_path / 'seeded')
  shutil.copytree(workdir, seeded)
  path = os.path.join(seeded, 'config.json')
  with open(path) as f:
    saved = json.load(f)
  saved['train']['num_seeds'] = 2  # which of its seeds' generators would it be?
  with open(path, 'w') as f:
    json.dump(saved, f)
  with pytest.raises(ConfigError, match=r"train.init_from='.*seeded' trained 2 seeds; "
                                        r"allowed: a run of one seed"):
    train_and_evaluate(_config(init_from=seeded), str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_the_superres_sweep_fine_tunes_each_scale_from_its_l1_run_listed_before(tmp_path):
  spec, overrides = sweep_lib.load_sweep(os.path.join(sweep_lib.ROOT, 'experiments',
                                                      'sweeps', 'superres.py'))
  runs = sweep_lib.make_runs(spec, overrides, str(tmp_path))
  names = [r.name for r in runs]
  tuned = [r for r in runs if 'train.init_from' in r.overrides]
  assert len(tuned) == 4 and len(runs) == 6
  for run in tuned:
    argv = sweep_lib.command(run, spec, [])
    [flag] = [a for a in argv if a.startswith('--config.train.init_from=')]
    source_dir = flag.split('=', 1)[1]
    assert os.path.dirname(source_dir) == str(tmp_path)
    source_run = runs[names.index(os.path.basename(source_dir))]
    assert names.index(source_run.name) < names.index(run.name)
    assert source_run.overrides['train.adversarial_weight'] == 0
    assert source_run.overrides['model.scale'] == run.overrides['model.scale']
