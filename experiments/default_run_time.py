"""Wall time of the default run, beside the same-geometry PyTorch loop, on this machine.

    python experiments/default_run_time.py --out=docs/default_run_time.md

Runs the README's first command, ``python -m gan_jax.main
--config=configs/dcgan.py`` (3,000 steps of the MNIST DCGAN at batch 64 with
its evaluations, sample grids, checkpoints and plots), in a fresh temporary
workdir, and times it end to end: process start, data, compilation, all of
it. Then it runs the same number of steps of the same nets in PyTorch
(experiments/bench_torch.py: layer for layer the same, Adam, the
non-saturating loss, the same update rule) on one fixed synthetic batch,
timed over ``--torch_steps`` of them and scaled to the run's length, so that
row is a lower bound on a PyTorch run: no data pipeline, evaluation,
checkpoint or sample grid. The
per-step medians of both come from the same run (ours from metrics.jsonl's
progress lines after the first, which includes compilation). Run it on an
otherwise idle machine: the two share the CPU cores with nothing else.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top

from configs import dcgan  # pylint: disable=g-import-not-at-top
from timing import loop_steps_per_sec  # pylint: disable=g-import-not-at-top

flags.DEFINE_string('out', '', 'Write the markdown table here (e.g. docs/default_run_time.md).')
flags.DEFINE_integer('num_steps', 0, 'Steps for both (0 = the config default).')
flags.DEFINE_bool('torch', True, 'Also time the PyTorch loop.')
flags.DEFINE_integer('torch_steps', 300, 'PyTorch steps timed; the loop of num_steps is '
                     'this time x num_steps / torch_steps (0 = all num_steps).')
FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_ours(num_steps: int) -> dict:
  """Times ``python -m gan_jax.main --config=configs/dcgan.py`` in a fresh workdir."""
  with tempfile.TemporaryDirectory() as workdir:
    cmd = [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py',
           f'--workdir={workdir}', f'--config.train.num_steps={num_steps}']
    tick = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - tick
    if out.returncode:
      raise RuntimeError(f'{" ".join(cmd)} failed:\n{out.stderr[-3000:]}')
    step = 1 / loop_steps_per_sec(workdir)
    with open(os.path.join(workdir, 'eval.jsonl')) as f:
      evals = sum(1 for _ in f)
  return {'wall': wall, 'step': step, 'evals': evals}


def run_torch(num_steps: int, timed_steps: int, batch: int, update: str) -> dict:
  """Times ``timed_steps`` PyTorch steps of the same nets (bench_torch.make_step).

  'wall' is their time scaled to ``num_steps`` (steps of one fixed batch take
  the same time each: the scaling only saves the machine's time).
  """
  import bench_torch  # pylint: disable=g-import-not-at-top
  step = bench_torch.make_step('mnist', batch, update)
  step()  # first step: allocations
  times = []
  tick = time.perf_counter()
  for _ in range(timed_steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
  wall = (time.perf_counter() - tick) * num_steps / timed_steps
  return {'wall': wall, 'step': float(np.median(times)), 'timed': timed_steps}


def report(config, ours: dict, torch_row: dict | None) -> str:
  t = config.train
  lines = [f'Machine: {os.cpu_count()} CPU cores, {platform.machine()}; command: '
           '`python experiments/default_run_time.py`.', '',
           f'The default run: `python -m gan_jax.main --config=configs/dcgan.py` '
           f'({t.num_steps} steps, batch {t.batch_size}, update rule {t.update_rule}, '
           f'{ours["evals"]} evaluations).', '',
           '| run | wall time | median step |', '|---|---|---|',
           f'| gan_jax, the whole command (start-up, data, compilation, evaluations, '
           f'grids, checkpoints, plots) | {ours["wall"] / 60:.1f} min | {ours["step"]:.3f} s |']
  if torch_row:
    scaled = (f', {torch_row["timed"]} steps timed, x {t.num_steps / torch_row["timed"]:g}'
              if torch_row['timed'] < t.num_steps else '')
    lines.append(f'| PyTorch {__import__("torch").__version__}, the same nets and update, '
                 f'train steps only (one fixed batch{scaled}) | {torch_row["wall"] / 60:.1f} min | '
                 f'{torch_row["step"]:.3f} s |')
    lines += ['', f'Ratios, ours / PyTorch: wall time {ours["wall"] / torch_row["wall"]:.2f}, '
              f'median step {ours["step"] / torch_row["step"]:.2f}.']
  return '\n'.join(lines)


def main(_):
  config = dcgan.get_config()
  if FLAGS.num_steps:
    config.train.num_steps = FLAGS.num_steps
  print(f'timing the default run ({config.train.num_steps} steps) ...', flush=True)
  ours = run_ours(config.train.num_steps)
  torch_row = None
  if FLAGS.torch:
    print('timing the PyTorch loop ...', flush=True)
    torch_row = run_torch(config.train.num_steps,
                          FLAGS.torch_steps or config.train.num_steps,
                          config.train.batch_size, config.train.update_rule)
  text = report(config, ours, torch_row)
  print(text)
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      f.write('# Default run: wall time\n\n' + text + '\n')


if __name__ == '__main__':
  app.run(main)
