"""train.steps_per_dispatch = K: K steps in one lax.scan, bit-identical to K = 1."""

import json
import logging
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import dcgan, toy2d
from gan_jax import dispatch, train
from gan_jax.config_checks import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(
      (state.params, state.opt_state, state.model_state))]


def _metrics(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  return [{k: v for k, v in r.items() if 'per_sec' not in k and k != 'time'} for r in records]


def _assert_same(a, b):
  leaves_a, leaves_b = _leaves(a), _leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


def _toy(num_steps, k):
  config = toy2d.get_config('tiny')
  config.train.num_steps = num_steps
  config.train.steps_per_dispatch = k
  # Actions every 5 and 7 steps: groups of 4 are cut at 5, 7, 10, 14, 15, ...
  config.log.log_every = 5
  config.log.sample_every = config.log.checkpoint_every = 7
  return config


def test_groups_end_where_the_loop_acts():
  acts = lambda done: done % 5 == 0 or done % 7 == 0
  groups = dispatch.Groups(4, 16, acts)
  lengths, step = [], 0
  while step < 16:
    lengths.append(groups.length(step))
    step += lengths[-1]
  # 0->4, ->5 (log), ->7 (ckpt), ->10, ->14, ->15, ->16 (the end)
  assert lengths == [4, 1, 2, 3, 4, 1, 1]
  assert [dispatch.Groups(1, 16, acts).length(s) for s in range(3)] == [1, 1, 1]


def test_per_step_splits_groups_in_order():
  groups = [(1, {'a': np.array(1.)}), (3, {'a': jax.numpy.array([2., 3., 4.])})]
  assert [float(m['a']) for m in dispatch.per_step(groups)] == [1., 2., 3., 4.]


def test_scanned_steps_are_bit_identical_and_resume_inside_a_group(tmp_path):
  straight = train.train_and_evaluate(_toy(16, 1), str(tmp_path / 'k1'))
  grouped = train.train_and_evaluate(_toy(16, 4), str(tmp_path / 'k4'))
  _assert_same(straight, grouped)
  # The logged metrics (means over 5 steps) are the same too, but for speed.
  assert _metrics(str(tmp_path / 'k1')) == _metrics(str(tmp_path / 'k4'))
  # Stopped at 7 (a checkpoint), resumed with K = 3: the groups now start at
  # 7, off the grid of a fresh K = 3 run (0, 3, 6, ...), and still agree.
  workdir = str(tmp_path / 'resumed')
  train.train_and_evaluate(_toy(7, 4), workdir)
  resumed = train.train_and_evaluate(_toy(16, 3), workdir)
  assert int(resumed.step) == 16
  _assert_same(straight, resumed)


def test_seed_stacked_scanned_steps_are_bit_identical(tmp_path):
  def config(k):
    c = _toy(6, k)
    c.train.num_seeds = 3
    return c
  _assert_same(train.train_and_evaluate(config(1), str(tmp_path / 'k1')),
               train.train_and_evaluate(config(3), str(tmp_path / 'k3')))


def test_scanned_convolutions_on_cpu_round_differently_and_the_run_says_so(
    tmp_path, caplog):
  # XLA:CPU compiles convolutions in a loop body by another path (dispatch.py):
  # the DCGAN agrees with K = 1 to float rounding only, and the run warns.
  def config(k):
    c = dcgan.get_config('tiny')
    c.data.source = 'embedded'
    c.train.steps_per_dispatch = k
    c.log.plots = False
    return c
  straight = train.train_and_evaluate(config(1), str(tmp_path / 'k1'))
  assert 'NOT bit-identical' not in caplog.text
  with caplog.at_level(logging.WARNING):
    grouped = train.train_and_evaluate(config(2), str(tmp_path / 'k2'))
  assert 'NOT bit-identical to train.steps_per_dispatch=1' in caplog.text
  for x, y in zip(_leaves(straight), _leaves(grouped)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('value', [0, -3])
def test_bad_steps_per_dispatch_is_refused_before_the_workdir(tmp_path, value):
  config = _toy(4, 1)
  config.train.steps_per_dispatch = value
  with pytest.raises(ConfigError, match=r'train.steps_per_dispatch=.*must be a positive integer'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run')


_PARALLEL_CHECK = '''
import json, sys, tempfile
import flax.serialization
import jax
from configs import toy2d
from gan_jax import train
from gan_jax.checkpoint import state_digest
out = {}
for mode in ('jit', 'pmap'):
  for k in (1, 3):
    c = toy2d.get_config('tiny')
    c.parallel, c.train.num_steps, c.train.steps_per_dispatch = mode, 7, k
    c.log.plots = False
    state = train.train_and_evaluate(c, tempfile.mkdtemp())
    out[f'{mode} {k}'] = state_digest(flax.serialization.to_state_dict(state))
out['devices'] = jax.device_count()
print('DIGESTS', json.dumps(out))
'''


def test_scanned_steps_on_4_devices_equal_one_step_per_dispatch_in_both_modes():
  # Stacked batches are split along their second axis (parallel.put_batch).
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4')
  out = subprocess.run([sys.executable, '-c', _PARALLEL_CHECK], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  digests = json.loads(out.stdout.split('DIGESTS', 1)[1])
  assert digests['devices'] == 4
  assert digests['jit 1'] == digests['jit 3'] and digests['pmap 1'] == digests['pmap 3']
