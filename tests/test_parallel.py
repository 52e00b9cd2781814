"""Data parallelism: N devices or N processes give the one-device result."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import dcgan
from gan_jax import config_checks, train
from gan_jax.checkpoint import Checkpointer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Relative to each tensor's largest entry: float32 reduction order, which
# Adam's first step amplifies where a gradient is near 0. 1.1e-4 measured on
# g_params (pmap, alternating) once G's 1-channel output layer became XLA's
# own transposed conv on CPU (models/layers.py); a gradient left unaveraged
# over the devices is off by 1e-2 and more.
TOL = 3e-4
# Relative to each metric (float32 losses, D outputs, norms: means and sums
# over the batch or the parameters): ~100 float32 ulps of reduction order
# (<= 1.3e-7 measured on 8 fake devices). A device's own, unaveraged losses
# and D outputs over its 1/8 of the batch are off by 2e-2 .. 2e-1.
METRIC_TOL = 1e-5
METRICS = {'d_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm',
           'd_update_norm', 'g_update_norm', 'finite', 'finite_d_loss', 'finite_g_loss',
           'finite_d_grad_norm', 'finite_g_grad_norm'}


def _env(devices):
  env = dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
  env.pop('JAX_PLATFORMS', None)
  return env


def test_one_step_matches_single_device_on_8_fake_devices():
  out = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'parallel_check.py'), '8'],
                       cwd=REPO, capture_output=True, text=True, timeout=600, env=_env(8))
  assert out.returncode == 0, out.stderr[-3000:]
  results = json.loads(out.stdout.strip().splitlines()[-1])
  for update in ('simultaneous', 'alternating'):
    for d_steps in (1, 2):
      for mode in ('jit', 'pmap'):
        errors = results[f'{update}/d_steps={d_steps}/{mode}']
        metrics = errors.pop('metrics')
        assert set(errors) == {'g_params', 'd_params', 'g_opt_state', 'd_opt_state',
                               'g_state', 'd_state'}
        assert max(errors.values()) < TOL, (update, d_steps, mode, errors)
        # Every metric (losses, D outputs, norms) is the one-device one: the
        # step averages them over devices. NaN: missing from the N-device step.
        assert set(metrics) == METRICS, sorted(metrics)
        bad = {k: v for k, v in metrics.items() if not v < METRIC_TOL}
        assert not bad, (update, d_steps, mode, bad)
    # The comparison catches the shard_map trap: pmean(grad) of a replicated
    # parameter under check_vma is N^2-fold off in Adam's moments here.
    trap = results[f'{update}/d_steps=1/shard_map_pmean_of_grads']
    assert 'error' not in trap, trap
    assert trap['g_opt_state'] > 1 and trap['d_opt_state'] > 1, trap


def test_batch_that_does_not_divide_over_devices_is_an_error():
  config = dcgan.get_config('tiny')
  config.train.batch_size = 12
  with pytest.raises(config_checks.ConfigError,
                     match='train.batch_size=12 does not divide over 8 devices; use a multiple of 8'):
    config_checks.validate(config, num_devices=8)


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _cli(workdir, *extra):
  return [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py:tiny',
          f'--workdir={workdir}', '--config.data.source=embedded', *extra]


def _final_state(workdir):
  config = dcgan.get_config('tiny')
  game = train.create_game(config, (28, 28, 1))
  template = train.init_state(config, game, (28, 28, 1))
  ckpt = Checkpointer(str(workdir))
  state, _ = ckpt.restore(template, step=4)
  ckpt.close()
  return state


def _assert_close(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    x, y = np.asarray(x), np.asarray(y)
    np.testing.assert_allclose(x, y, atol=TOL * max(float(np.abs(y).max()), 1e-6), rtol=0)


def _two_process_run(workdir):
  port = _free_port()
  procs = [subprocess.Popen(
      _cli(workdir, f'--coordinator_address=127.0.0.1:{port}',
           '--num_processes=2', f'--process_id={i}'),
      cwd=REPO, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  return procs, [p.communicate(timeout=600)[0] for p in procs]


def test_two_processes_equal_one_process_with_four_devices(tmp_path):
  two_dir = tmp_path / 'two'
  procs, logs = _two_process_run(two_dir)
  if any('Shutdown barrier has failed' in log for log in logs):
    # Seen intermittently on a loaded 2-core machine: one process reaches
    # JAX's exit barrier more than 300 s after the other. The run itself had
    # finished; start over once in a fresh workdir (all assertions below
    # still apply to the new run).
    two_dir = tmp_path / 'two_again'
    procs, logs = _two_process_run(two_dir)
  assert [p.returncode for p in procs] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
  assert 'jit over 4 devices in 2 processes' in logs[0]
  digests = [line.rsplit(' ', 1)[-1] for log in logs for line in log.splitlines()
             if 'ends at step 4, state sha256' in line]
  assert len(digests) == 2 and digests[0] == digests[1]  # identical on both processes
  assert 'step 4/4' in logs[0] and 'step 4/4' not in logs[1]  # only process 0 logs progress

  for mode in ('jit', 'pmap'):
    out = subprocess.run(_cli(tmp_path / mode, f'--config.parallel={mode}'), cwd=REPO,
                         env=_env(4), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'{mode} over 4 devices in 1 processes' in out.stderr
  single = train.train_and_evaluate(_tiny_embedded(), str(tmp_path / 'one'))
  two = _final_state(two_dir)
  for mode in ('jit', 'pmap'):
    _assert_close(_final_state(tmp_path / mode), two)
  _assert_close(single, two)


def _tiny_embedded():
  config = dcgan.get_config('tiny')
  config.data.source = 'embedded'
  return config
