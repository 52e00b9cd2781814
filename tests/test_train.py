"""End to end: the tiny configs train, write their outputs, resume, and fail cleanly."""

import glob
import logging
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from configs import dcgan, toy2d
from gan_jax import losses, train
from gan_jax.checkpoint import Checkpointer
from gan_jax.config_checks import ConfigError
from gan_jax.data import toy
from gan_jax.data.images import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEEDS_TFDS = 'needs the [tfds] extra: pip install -e ".[tfds]"'


def _tfds():
  """tensorflow_datasets, or the test is skipped naming the extra that installs it."""
  return pytest.importorskip('tensorflow_datasets', reason=NEEDS_TFDS)


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves((
      state.params['generator'], state.params['discriminator'],
      state.opt_state['generator'], state.model_state['generator']))]


def test_tiny_dcgan_writes_grids_events_checkpoint_and_resumes(tmp_path):
  workdir = str(tmp_path / 'run')
  config = dcgan.get_config('tiny')
  config.data.source = 'embedded'
  state = train.train_and_evaluate(config, workdir)
  assert int(state.step) == 4
  files = os.listdir(workdir)
  assert {'samples_000002.png', 'samples_000004.png', 'samples_final.png',
          'config.json', 'data.json'} <= set(files)
  assert glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4']
  assert 'profile' not in files  # log.profile_steps = 0: off
  # flax's table of each player: its total of parameters is the state's.
  with open(os.path.join(workdir, 'model_summary.txt')) as f:
    summary = f.read()
  for player, module in (('generator', 'DCGANGenerator'),
                         ('discriminator', 'DCGANDiscriminator')):
    table = summary.split(f'player {player}:')[1].split('player ')[0]
    assert f'{module} Summary' in table
    # The collections' columns (params, batch_stats) come in either order: take
    # the Total row's cell under the 'params' header.
    header = next(l for l in table.splitlines() if l.startswith('┃') and 'params' in l)
    column = [c.strip() for c in header.split('┃')].index('params')
    row = next(l for l in table.splitlines() if re.search(r'│\s*Total\s*│', l))
    total = row.split('│')[column].split()[0]
    assert int(total.replace(',', '')) == sum(
        x.size for x in jax.tree.leaves(state.params[player])), (player, total)

  # Same command, more steps: resumes at 4 and ends equal to an unbroken run.
  config.train.num_steps = 6
  resumed = train.train_and_evaluate(config, workdir)
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  assert int(resumed.step) == int(straight.step) == 6
  for a, b in zip(_leaves(resumed), _leaves(straight)):
    np.testing.assert_array_equal(a, b)


def test_tfds_path_end_to_end_with_mock_data(tmp_path):
  config = dcgan.get_config('tiny,digit7')
  config.data.source = 'tfds'
  tfds = _tfds()
  with tfds.testing.mock_data(num_examples=200):
    state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 4
  with open(tmp_path / 'data.json') as f:
    assert 'tfds:mnist/train' in f.read()


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  config = toy2d.get_config('tiny')
  config.train.num_steps = 8
  real_batch = toy.ToyMixture.batch

  def poisoned(self, step, *a, **k):  # NaN data from step 5 on
    batch = real_batch(self, step, *a, **k)
    return {**batch, 'x': batch['x'] * np.nan} if step >= 5 else batch
  monkeypatch.setattr(toy.ToyMixture, 'batch', poisoned)
  with pytest.raises(train.NonFiniteError, match=r'step 6: non-finite .*d_loss.*last good checkpoint is step 4'):
    train.train_and_evaluate(config, str(tmp_path))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['2', '4']


def test_nonfinite_skip_mode_keeps_training(tmp_path, monkeypatch):
  config = toy2d.get_config('tiny')
  config.train.on_nonfinite = 'skip'
  real_batch = toy.ToyMixture.batch
  def poisoned(self, step, *a, **k):  # NaN data at step 1
    batch = real_batch(self, step, *a, **k)
    return {**batch, 'x': batch['x'] * (np.nan if step == 1 else 1)}
  monkeypatch.setattr(toy.ToyMixture, 'batch', poisoned)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 4
  assert all(np.isfinite(x).all() for x in _leaves(state))


def _scalars(workdir, tag):
  """{step: value} of one TensorBoard scalar, read back by tensorboard's reader (no TensorFlow)."""
  acc = event_accumulator.EventAccumulator(workdir, size_guidance={'scalars': 0})
  acc.Reload()
  return {e.step: e.value for e in acc.Scalars(tag)}


def test_nonfinite_skip_drops_exactly_the_poisoned_updates_and_counts_them(
    tmp_path, monkeypatch, caplog):
  # Steps 3 and 5 (batches 2 and 4) get NaN data; every step is checkpointed.
  config = toy2d.get_config('tiny')
  config.train.num_steps = 6
  config.train.on_nonfinite = 'skip'
  config.log.checkpoint_every, config.log.keep_checkpoints = 1, 10
  config.log.log_every = 2
  poisoned_batches = {2, 4}
  real_batch = toy.ToyMixture.batch

  def poisoned(self, step, *a, **k):
    batch = real_batch(self, step, *a, **k)
    return {**batch, 'x': batch['x'] * np.nan} if step in poisoned_batches else batch
  monkeypatch.setattr(toy.ToyMixture, 'batch', poisoned)
  workdir = str(tmp_path)
  with caplog.at_level(logging.INFO, logger='absl'):
    final = train.train_and_evaluate(config, workdir)

  game = train.create_game(config, (2,))
  template = train.init_state(config, game, (2,))
  ckpt = Checkpointer(workdir, 10)
  assert ckpt.all_steps() == [1, 2, 3, 4, 5, 6]
  saved = {t: ckpt.restore(template, t)[0] for t in ckpt.all_steps()}
  ckpt.close()

  def leaves(state):  # every field but step, with its path
    return jax.tree_util.tree_leaves_with_path(state.replace(step=0))

  for t in range(2, 7):
    assert int(saved[t].step) == t  # the counter advances on every step
    if t - 1 in poisoned_batches:
      # The update of step t was dropped: the state is the one before it,
      # bit for bit (params, both optimizer states, EMA, model state, rng).
      for (path, a), b in zip(leaves(saved[t]), jax.tree.leaves(saved[t - 1].replace(step=0)),
                              strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f'step {t}: {jax.tree_util.keystr(path)}')
    else:
      # A good step after it trains again: every player moves, and stays finite.
      for player in saved[t].params:
        moved = [not np.array_equal(a, b) for a, b in zip(
            jax.tree.leaves(saved[t].params[player]),
            jax.tree.leaves(saved[t - 1].params[player]), strict=True)]
        assert all(moved), (t, player, moved)
      assert all(np.isfinite(x).all() for x in jax.tree.leaves(saved[t]))
  for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(saved[6]), strict=True):
    np.testing.assert_array_equal(a, b)

  # The count: the progress line of step t shows the updates skipped up to t;
  # TensorBoard's train/skipped_steps the same.
  lines = {int(m.group(1)): m.group(0) for r in caplog.records
           if (m := re.match(r'step (\d+)/6 .*', r.getMessage()))}
  assert sorted(lines) == [2, 4, 6], lines
  assert 'skipped' not in lines[2], lines[2]
  assert lines[4].endswith('  skipped 1'), lines[4]
  assert lines[6].endswith('  skipped 2'), lines[6]
  assert _scalars(workdir, 'train/skipped_steps') == {2: 0.0, 4: 1.0, 6: 2.0}


@pytest.mark.parametrize('override,message', [
    (('model', 'name', 'resnet'), "model.name='resnet' is not allowed.*'dcgan64', 'dcgan_mnist', 'mlp'"),
    (('train', 'loss', 'non_saturatin'), "did you mean 'non_saturating'"),
    (('data', 'name', 'not_a_dataset'), "data.name='not_a_dataset' needs data.source='tfds' or 'auto'"),
    (('train', 'batch_size', 0), 'train.batch_size=0; must be a positive integer'),
    (('optim', 'g_lr', -1e-4), 'optim.g_lr=-0.0001; must be a positive number'),
    (('data', 'image_size', 32), "data.image_size=32 but model.name='dcgan_mnist' makes 28x28"),
    (('train', 'batch_size', 6000), '5000 examples are fewer than train.batch_size'),
])
def test_bad_input_is_one_clear_error_and_leaves_no_workdir(tmp_path, override, message):
  config = dcgan.get_config('tiny')
  config.data.source = 'embedded'
  section, field, value = override
  config[section][field] = value
  workdir = tmp_path / 'run'
  with pytest.raises((ConfigError, DataError), match=message):
    train.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


def test_unknown_tfds_name_is_a_clear_error(tmp_path):
  _tfds()  # data.source='auto' asks tfds whether the name exists
  config = dcgan.get_config('tiny')
  config.data.name = 'not_a_dataset'
  with pytest.raises(DataError, match="data.name='not_a_dataset' is not a tensorflow-datasets"):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_cli_bad_input_exits_nonzero_with_one_line(tmp_path):
  workdir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py:tiny',
       f'--workdir={workdir}', '--config.train.loss=wgan'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  errors = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  allowed = ', '.join(repr(name) for name in sorted(losses.LOSSES))
  assert errors == [f"error: train.loss='wgan' is not allowed; allowed: {allowed}"]
  assert not workdir.exists()


def test_cli_unwritable_workdir(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/toy2d.py:tiny',
       f'--workdir={blocker}/run'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert f"error: --workdir='{blocker}/run' is not a writable directory" in result.stderr


def test_workdir_of_another_run_is_refused(tmp_path):
  config = toy2d.get_config('tiny')
  train.train_and_evaluate(config, str(tmp_path))
  config.optim.g_lr = 1e-3
  with pytest.raises(ConfigError, match=r'differing fields: optim.g_lr \(saved 0.0001, now 0.001\)'):
    train.train_and_evaluate(config, str(tmp_path))


def test_profile_steps_traces_exactly_those_steps(tmp_path):
  import gzip, json  # pylint: disable=g-import-not-at-top,multiple-imports
  config = toy2d.get_config('tiny')
  config.train.num_steps = 6
  config.log.profile_steps = 3
  train.train_and_evaluate(config, str(tmp_path))
  [run] = glob.glob(str(tmp_path / 'profile' / 'plugins' / 'profile' / '*'))
  names = os.listdir(run)
  assert 'perfetto_trace.json.gz' in names and any(n.endswith('.xplane.pb') for n in names)
  [trace] = [n for n in names if n.endswith('.trace.json.gz')]
  with gzip.open(os.path.join(run, trace)) as f:
    events = json.load(f)['traceEvents']
  # Steps 2, 3, 4: the first step (which compiles) is left out.
  assert sorted(int(e['args']['step_num']) for e in events if e.get('name') == 'train') == [
      2, 3, 4]
  config.log.profile_steps = -1
  with pytest.raises(ConfigError, match=r'log.profile_steps=-1; must be a number in \[0, inf\)'):
    train.train_and_evaluate(config, str(tmp_path / 'bad'))
