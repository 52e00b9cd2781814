"""Reliability: exact resume after SIGKILL/SIGTERM, damaged checkpoints, full disk, config fuzzing."""

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time

import hypothesis
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from absl import flags
from hypothesis import strategies as st
from ml_collections import config_flags

from configs import toy2d
from gan_jax import config_checks, train
from gan_jax.checkpoint import Checkpointer, CheckpointWriteError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS = 3000
CLI = [sys.executable, '-m', 'gan_jax.main', '--config=configs/toy2d.py:tiny',
       f'--config.train.num_steps={NUM_STEPS}', '--config.log.checkpoint_every=100',
       '--config.log.log_every=500', '--config.log.sample_every=100000']


def _final_digest(workdir, step=NUM_STEPS):
  """The SHA-256 of the whole saved state, recorded beside each checkpoint."""
  with open(os.path.join(workdir, 'checkpoints', str(step), 'meta', 'metadata')) as f:
    return json.load(f)['state_sha256']


def _saved_steps(workdir):
  path = os.path.join(workdir, 'checkpoints')
  return sorted(int(d) for d in os.listdir(path) if d.isdigit()) if os.path.isdir(path) else []


def _initial_state():
  config = toy2d.get_config('tiny')
  return train.init_state(config, train.create_game(config, (2,)), (2,))


def _restored(workdir, step=NUM_STEPS):
  """The state saved at ``step``, restored into the structure of a fresh one."""
  ckpt = Checkpointer(workdir)
  try:
    return ckpt.restore(_initial_state(), step)[0]
  finally:
    ckpt.close()


def _assert_states_equal(got, want):
  """Leaf by leaf, exactly: every field of TrainState, every player."""
  for field in ('step', 'rng', 'params', 'opt_state', 'model_state', 'ema_params'):
    a, b = getattr(got, field), getattr(want, field)
    assert jax.tree.structure(a) == jax.tree.structure(b), field
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b),
                            strict=True):
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                    err_msg=f'{field}{jax.tree_util.keystr(path)}')


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('straight'))
  subprocess.run(CLI + [f'--workdir={workdir}'], cwd=REPO, check=True,
                 capture_output=True, timeout=600)
  return workdir


@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_resumes_bit_identically(tmp_path, uninterrupted, sig):
  workdir = str(tmp_path)
  proc = subprocess.Popen(CLI + [f'--workdir={workdir}'], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  deadline = time.time() + 300
  while not any(s >= 300 for s in _saved_steps(workdir)):  # well into the run
    assert proc.poll() is None and time.time() < deadline, 'run ended before the kill'
    time.sleep(0.02)
  proc.send_signal(sig)
  out, _ = proc.communicate(timeout=120)
  stopped_at = max(_saved_steps(workdir))
  assert stopped_at < NUM_STEPS, 'the signal arrived too late to test anything'
  if sig == signal.SIGKILL:
    assert proc.returncode == -signal.SIGKILL
  else:  # pre-emption: checkpoint at the current step, clean exit
    assert proc.returncode == 0, out
    assert f'Stopped at step {stopped_at}' in out
  resumed = subprocess.run(CLI + [f'--workdir={workdir}'], cwd=REPO,
                           capture_output=True, text=True, timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'Resumed from' in resumed.stderr
  assert _final_digest(workdir) == _final_digest(uninterrupted)
  # Independently of the digest: the final states, restored from their
  # checkpoints, are equal leaf by leaf (and really trained: not the init).
  want = _restored(uninterrupted)
  _assert_states_equal(_restored(workdir), want)
  assert int(want.step) == NUM_STEPS
  for player, params in _initial_state().params.items():
    assert not np.array_equal(jax.tree.leaves(params)[0],
                              jax.tree.leaves(want.params[player])[0]), player


def _damage(workdir, step, how):
  """Truncates or bit-flips the largest array file of checkpoint ``step``."""
  files = []
  for root, _, names in os.walk(os.path.join(workdir, 'checkpoints', str(step), 'state')):
    files += [os.path.join(root, n) for n in names]
  target = max(files, key=os.path.getsize)
  data = bytearray(open(target, 'rb').read())
  if how == 'truncate':
    data = data[:len(data) // 2]
  else:
    data[len(data) // 2] ^= 0xFF
  with open(target, 'wb') as f:
    f.write(data)


def _tiny():
  config = toy2d.get_config('tiny')
  config.train.num_steps = 6
  return config


@pytest.mark.parametrize('how', ['truncate', 'bitflip'])
def test_damaged_latest_checkpoint_falls_back_to_previous(tmp_path, caplog, how):
  reference = train.train_and_evaluate(_tiny(), str(tmp_path / 'reference'))
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(_tiny(), workdir)
  _damage(workdir, 6, how)
  with caplog.at_level(logging.WARNING):
    state = train.train_and_evaluate(_tiny(), workdir)  # resumes at 4, redoes 5-6
  assert any('Checkpoint step 6' in r.getMessage() and 'damaged' in r.getMessage()
             for r in caplog.records)
  assert os.path.isdir(os.path.join(workdir, 'checkpoints_damaged', '6'))  # kept, not deleted
  assert _saved_steps(workdir)[-1] == 6
  # The redone steps give exactly what the unbroken run had.
  ref, got = (jax.tree.leaves((s.params['generator'], s.params['discriminator']))
              for s in (reference, state))
  for a, b in zip(ref, got, strict=True):
    np.testing.assert_array_equal(a, b)


def test_no_usable_checkpoint_starts_fresh_after_saying_so(tmp_path, caplog):
  workdir = str(tmp_path)
  train.train_and_evaluate(_tiny(), workdir)
  for step in _saved_steps(workdir):
    _damage(workdir, step, 'truncate')
  with caplog.at_level(logging.WARNING):
    state = train.train_and_evaluate(_tiny(), workdir)
  assert any('No usable checkpoint' in r.getMessage() and 'starting fresh' in r.getMessage()
             for r in caplog.records)
  assert int(state.step) == 6


def test_full_disk_while_saving_keeps_previous_checkpoint(tmp_path, monkeypatch):
  workdir = str(tmp_path)
  real_save = ocp.CheckpointManager.save

  def save(self, step, *args, **kwargs):
    if step == 4:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_save(self, step, *args, **kwargs)
  monkeypatch.setattr(ocp.CheckpointManager, 'save', save)
  with pytest.raises(CheckpointWriteError,
                     match=r'could not write checkpoint step 4 .*No space left on device.*intact: \[2\]'):
    train.train_and_evaluate(_tiny(), workdir)
  monkeypatch.setattr(ocp.CheckpointManager, 'save', real_save)
  state = train.train_and_evaluate(_tiny(), workdir)  # resumes from the intact step 2
  assert int(state.step) == 6


def test_config_change_needs_explicit_flag(tmp_path):
  train.train_and_evaluate(_tiny(), str(tmp_path))
  config = _tiny()
  config.train.num_steps = 8
  config.optim.d_lr = 5e-4
  with pytest.raises(config_checks.ConfigError, match='optim.d_lr.*--allow_config_change'):
    train.train_and_evaluate(config, str(tmp_path))
  config.log.log_every = 1  # logging fields may always differ
  assert int(train.train_and_evaluate(config, str(tmp_path), allow_config_change=True).step) == 8


# --- Config fuzzing: every override is accepted or rejected with a documented error.

def _parse(argv):
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=values, lock_config=True)
  values(['prog'] + argv)
  return values.config


def _fields(config, prefix=''):
  for key, value in config.items():
    if hasattr(value, 'items'):
      yield from _fields(value, f'{prefix}{key}.')
    else:
      yield f'{prefix}{key}'


FIELDS = sorted(_fields(_parse(['--config=configs/dcgan.py'])))
VALUES = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(repr),
    st.sampled_from(['', 'None', 'True', 'abc', '()', '(7,)', '(1, 2)', '[3]',
                     'mlp', 'dcgan64', 'minimax', 'alternating', 'skip', 'tfds', '1e-3']),
    st.text(max_size=12))
KEYS = st.one_of(st.sampled_from(FIELDS),
                 st.sampled_from(FIELDS).map(lambda f: f + 'x'),  # misspelt
                 st.sampled_from(FIELDS).map(lambda f: f.split('.')[0]))  # a section


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=3))
def test_random_overrides_are_accepted_or_rejected_cleanly(overrides):
  argv = ['--config=configs/dcgan.py'] + [f'--config.{k}={v}' for k, v in overrides]
  try:
    config = _parse(argv)
  except flags.Error as e:  # unknown key, wrong type: absl prints it and exits 1
    assert 'config.' in str(e) or 'flag' in str(e)
    return
  try:
    config_checks.validate(config, num_devices=1)
  except config_checks.ConfigError as e:
    message = str(e)
    assert '\n' not in message
    assert any(message.startswith(f) or f'{f}=' in message for f in FIELDS), message
