"""experiments/sweep.py: override helpers, and a 2x2 sweep of tiny runs end to end.

The end-to-end test runs the CLI as a user would: 4 tiny toy2d runs, two at a
time (``--mode=parallel --devices=0,1``: on a CPU the device variables are
ignored, so it is two concurrent processes), then a re-run that skips all 4,
then a re-run after deleting one run's final checkpoint that trains only that
one (resuming it) next to a new, failing run, and the results table.
"""

import csv
import math
import os
import subprocess
import sys
import time

import pytest

from experiments import sweep

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = '''
from experiments.sweep import product
CONFIG = 'configs/toy2d.py:tiny'
def sweep():
  return product({'optim.d_lr': [1e-3, 2e-3]}, seed=[0, 1])
'''
NAMES = ['optim.d_lr=0.001,seed=0', 'optim.d_lr=0.001,seed=1',
         'optim.d_lr=0.002,seed=0', 'optim.d_lr=0.002,seed=1']


def _sweep_cli(sweep_file, sweep_dir, *flags):
  """Runs experiments/sweep.py; returns (exit status, stdout + stderr, seconds)."""
  env = dict(os.environ,
             # the tiny runs share compiled programs through conftest's cache
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')
  start = time.monotonic()
  proc = subprocess.run(
      [sys.executable, 'experiments/sweep.py', f'--sweep={sweep_file}',
       f'--sweep_dir={sweep_dir}', *flags],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
  return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def _lines(output, word):
  return [line for line in output.splitlines() if f' {word} ' in line]


def _results(sweep_dir):
  with open(os.path.join(sweep_dir, 'results.csv')) as f:
    return list(csv.DictReader(f))


def _write(path, text):
  path.write_text(text)
  return str(path)


def test_product_and_zip_yield_override_dicts():
  assert list(sweep.product({'optim.d_lr': [1e-3, 2e-3]}, seed=[0, 1])) == [
      {'optim.d_lr': 1e-3, 'seed': 0}, {'optim.d_lr': 1e-3, 'seed': 1},
      {'optim.d_lr': 2e-3, 'seed': 0}, {'optim.d_lr': 2e-3, 'seed': 1}]
  assert list(sweep.zip_({'optim.g_lr': [1, 2], 'optim.d_lr': [3, 4]})) == [
      {'optim.g_lr': 1, 'optim.d_lr': 3}, {'optim.g_lr': 2, 'optim.d_lr': 4}]
  with pytest.raises(ValueError, match='differ in length'):
    list(sweep.zip_(a=[1, 2], b=[1]))
  with pytest.raises(TypeError, match='list of values'):
    list(sweep.product(seed=3))


def test_run_names_are_stable_folder_names():
  assert sweep.run_name({'optim.d_lr': 1e-3, 'seed': 0}) == 'optim.d_lr=0.001,seed=0'
  assert sweep.run_name({'model.g_hidden': (32, 32)}) == 'model.g_hidden=_32__32_'
  assert sweep.run_name({'data.name': 'a/b c'}) == 'data.name=a_b_c'
  assert sweep.run_name({}) == 'base'
  long = sweep.run_name({'train.loss': 'x' * 300})
  assert len(long) == 120 and long != sweep.run_name({'train.loss': 'x' * 301})


def test_example_sweeps_and_num_steps(tmp_path):
  config, runs = sweep.load_sweep(os.path.join(REPO, 'experiments/sweeps/toy2d_lr.py'))
  assert (config, len(runs)) == ('configs/toy2d.py:ring', 4)
  made = sweep.make_runs(config, runs, str(tmp_path))
  assert [r.num_steps for r in made] == [5000] * 4  # toy2d's default
  made = sweep.make_runs(config, runs, str(tmp_path), ['--config.train.num_steps=200'])
  assert [r.num_steps for r in made] == [200] * 4
  assert made[0].workdir == os.path.join(str(tmp_path), 'optim.d_lr=0.001,seed=0')
  assert sweep.command(made[0], config, ['--config.log.log_every=10'], 'python') == [
      'python', '-m', 'gan_jax.main', '--config=configs/toy2d.py:ring',
      f'--workdir={made[0].workdir}', '--config.log.log_every=10',
      '--config.optim.d_lr=0.001', '--config.seed=0']
  with pytest.raises(SystemExit, match='also sets'):
    sweep.make_runs(config, runs, str(tmp_path), ['--config.seed=3'])
  config, runs = sweep.load_sweep(os.path.join(REPO, 'experiments/sweeps/dcgan_seeds.py'))
  assert (config, len(runs)) == ('configs/dcgan.py', 6)
  assert {r['train.loss'] for r in runs} == {'non_saturating', 'minimax'}


def test_device_env_shows_one_device():
  env = sweep.device_env('3')
  assert env['CUDA_VISIBLE_DEVICES'] == env['TPU_VISIBLE_CHIPS'] == '3'
  assert env['TPU_MESH_CONTROLLER_PORT'] == '8479'
  if 'XLA_PYTHON_CLIENT_MEM_FRACTION' not in os.environ:
    assert sweep.device_env('0', count=2)['XLA_PYTHON_CLIENT_MEM_FRACTION'] == '0.45'


def test_sweep_end_to_end_2x2(tmp_path):
  grid = _write(tmp_path / 'grid.py', GRID)
  out = str(tmp_path / 'sweep')

  status, output, _ = _sweep_cli(grid, out, '--mode=parallel', '--devices=0,1')
  assert status == 0, output
  assert len(_lines(output, 'start')) == 4 and len(_lines(output, 'done')) == 4
  # two at a time: the second run starts before the first one is done
  order = [line.split()[1] for line in output.splitlines() if ' start ' in line
           or ' done ' in line]
  assert order[:2] == ['start', 'start'], output
  devices = []
  for name in NAMES:
    with open(os.path.join(out, name, 'stdout.log')) as f:
      header = f.readline()
    assert f'--workdir={out}/{name} ' in header, header
    devices.append(header.split('CUDA_VISIBLE_DEVICES=')[1][0])
  assert devices[:2] == ['0', '1'] and sorted(devices) == ['0', '0', '1', '1']
  rows = _results(out)
  assert [r['run'] for r in rows] == NAMES
  assert [(float(r['optim.d_lr']), int(r['seed'])) for r in rows] == [
      (1e-3, 0), (1e-3, 1), (2e-3, 0), (2e-3, 1)]
  for row in rows:
    assert row['status'] == 'finished' and int(row['steps']) == 4
    for column in ('d_loss', 'g_loss', 'D(x)', 'D(G(z))', 'steps/s', 'minutes'):
      assert math.isfinite(float(row[column])), (column, row)
    assert 0 < float(row['D(x)']) < 1 and float(row['d_loss']) > 0
  # seeds differ, so their final losses do
  assert rows[0]['d_loss'] != rows[1]['d_loss']
  with open(os.path.join(out, 'results.md')) as f:
    table = f.read()
  assert '| run | optim.d_lr | seed | status | steps | d_loss |' in table
  assert table.count('| finished |') == 4

  logs = {n: os.path.getsize(os.path.join(out, n, 'stdout.log')) for n in NAMES}
  status, output, seconds = _sweep_cli(grid, out, '--mode=parallel', '--devices=0,1')
  assert status == 0, output
  assert len(_lines(output, 'skip')) == 4 and not _lines(output, 'start'), output
  assert seconds < 10, seconds  # no run started, and the table came from caches
  assert logs == {n: os.path.getsize(os.path.join(out, n, 'stdout.log')) for n in NAMES}

  # One run loses its final checkpoint, another gains an evaluator's record,
  # and the sweep file gets a first run with an invalid value: the re-run
  # reports that one with its log and goes on to resume the other.
  redo = os.path.join(out, NAMES[2])
  subprocess.run(['rm', '-r', os.path.join(redo, 'checkpoints', '4')], check=True)
  with open(os.path.join(out, NAMES[1], 'eval.jsonl'), 'w') as f:
    f.write('{"step": 2, "modes/kl": 0.5}\n{"step": 4, "modes/kl": 0.25}\n')
  _write(tmp_path / 'grid.py', GRID.replace(
      'return product', "yield {'train.loss': 'nope'}\n  yield from product"))
  status, output, _ = _sweep_cli(grid, out)  # --mode=local: one at a time
  assert status == 1, output
  started = [line.split()[2] for line in _lines(output, 'start')]
  assert started == ['train.loss=nope', NAMES[2]], output
  assert len(_lines(output, 'skip')) == 3 and len(_lines(output, 'done')) == 1
  bad_log = os.path.join(out, 'train.loss=nope', 'stdout.log')
  failed = _lines(output, 'FAILED')
  assert len(failed) == 1 and 'train.loss=nope' in failed[0], output
  assert 'exit status 1' in failed[0] and f'log: {bad_log}' in failed[0]
  assert 'last line: error: train.loss' in output  # the trainer's one-line reason
  assert f'train.loss=nope: see {bad_log}' in output
  with open(os.path.join(redo, 'stdout.log')) as f:
    log = f.read()
  assert log.count('\n# ') == 1 and 'Resumed from' in log  # appended; resumed at step 2
  rows = _results(out)
  assert [r['run'] for r in rows] == ['train.loss=nope'] + NAMES
  assert [r['status'] for r in rows] == ['unfinished'] + ['finished'] * 4
  assert (rows[0]['train.loss'], rows[1]['train.loss'], rows[0]['d_loss']) == ('nope', '', '')
  assert (rows[2]['eval/step'], rows[2]['modes/kl']) == ('4', '0.25')
  assert rows[1]['modes/kl'] == ''


def test_slurm_mode_writes_an_array_job(tmp_path):
  grid = _write(tmp_path / 'grid.py', GRID)
  out = str(tmp_path / 'sweep')
  # --python=echo: the test runs one array task, which then only echoes its command
  status, output, _ = _sweep_cli(grid, out, '--mode=slurm', '--python=echo',
                                 '--gres=gpu:a100:1', '--sbatch=--partition=short')
  assert status == 0, output
  assert 'sbatch ' + os.path.join(out, 'launch.sbatch') in output
  assert not os.path.exists(os.path.join(out, NAMES[0]))  # nothing ran
  with open(os.path.join(out, 'launch.sbatch')) as f:
    script = f.read()
  for option in ('--array=0-3', '--gres=gpu:a100:1', '--partition=short'):
    assert f'#SBATCH {option}\n' in script
  with open(os.path.join(out, 'runs.txt')) as f:
    manifest = f.read().splitlines()
  assert len(manifest) == 4
  for name, line in zip(NAMES, manifest):
    assert 'gan_jax.main --config=configs/toy2d.py:tiny' in line
    assert f'--workdir={out}/{name} ' in line and line.endswith(f'{name}/stdout.log 2>&1')
  subprocess.run(['bash', os.path.join(out, 'launch.sbatch')], check=True, cwd=str(tmp_path),
                 env=dict(os.environ, SLURM_ARRAY_TASK_ID='2'), capture_output=True)
  with open(os.path.join(out, NAMES[2], 'stdout.log')) as f:
    assert f'--workdir={out}/{NAMES[2]} --config.optim.d_lr=0.002 --config.seed=0' in f.read()
