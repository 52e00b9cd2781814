"""Runs a sweep: one training run per set of config overrides, then one results table.

A sweep file names a base config and yields the overrides of each run::

    # experiments/sweeps/toy2d_lr.py
    from experiments.sweep import product
    CONFIG = 'configs/toy2d.py:ring'
    def sweep():
      return product({'optim.d_lr': [1e-3, 3e-4], 'seed': [0, 1]})

Each run is ``python -m gan_jax.main --config=CONFIG --workdir=<sweep_dir>/<name>
--config.KEY=VALUE ...``, its name made from its overrides
(``optim.d_lr=0.001,seed=0``), its output in ``<sweep_dir>/<name>/stdout.log``.
``{sweep_dir}`` in a string value stands for the sweep directory, so that a
run can start from a sibling that the sweep lists (and runs) before it:
``'train.init_from': '{sweep_dir}/' + run_name(first)`` (in --mode=parallel a
run may start before its source ends; the trainer then refuses it, and
re-running the sweep trains it).
A run is finished when ``<workdir>/checkpoints/<train.num_steps>/`` exists; a
re-run of the sweep skips finished runs and re-launches the others, which
resume from their latest checkpoint. At the end, ``results.csv`` and
``results.md`` in the sweep dir hold one row per run: its overrides, its final
losses and D outputs, steps/s and minutes (from its ``metrics.jsonl``, by
``experiments/run_summary.py``), and the last record of its ``eval.jsonl``.

From the repo root::

    # one run after another, then the table
    python experiments/sweep.py --sweep=experiments/sweeps/toy2d_lr.py --sweep_dir=runs/sweeps/toy2d_lr
    # one process per GPU / TPU chip, 4 at a time (--devices=0,0,1,1: two per GPU)
    python experiments/sweep.py --sweep=experiments/sweeps/toy2d_lr.py \\
      --sweep_dir=runs/sweeps/toy2d_lr --mode=parallel --devices=0,1,2,3
    # a Slurm array job: writes launch.sbatch and runs.txt, runs nothing
    python experiments/sweep.py --sweep=experiments/sweeps/dcgan_seeds.py \\
      --sweep_dir=runs/sweeps/dcgan_seeds --mode=slurm --gres=gpu:1 --sbatch=--partition=gpu
    sbatch runs/sweeps/dcgan_seeds/launch.sbatch
    # only the table (e.g. after the Slurm jobs ended)
    python experiments/sweep.py --sweep=experiments/sweeps/dcgan_seeds.py \\
      --sweep_dir=runs/sweeps/dcgan_seeds --mode=collect
    # print the commands without running; pass a flag to every run
    python experiments/sweep.py --sweep=experiments/sweeps/toy2d_lr.py \\
      --sweep_dir=/tmp/s --dry_run --extra=--config.train.num_steps=200

The exit status is non-zero if any run failed; each failure is reported with
the run's name, exit status, log file and the log's last line.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from typing import Iterable, Iterator, Mapping, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # configs/ and experiments/ import from the repo root
  sys.path.insert(0, ROOT)

from experiments import run_summary  # pylint: disable=g-import-not-at-top

Overrides = dict[str, object]
LOG_NAME = 'stdout.log'
SWEEP_DIR = '{sweep_dir}'  # in an override value: the sweep's directory (``command``)
SUMMARY_CACHE = 'sweep_summary.json'  # per workdir: the row, keyed on its files
# Columns taken from run_summary.summarise: (its key, the table's header).
METRICS = (('steps', 'steps'), ('d_loss', 'd_loss'), ('g_loss', 'g_loss'),
           ('d_real', 'D(x)'), ('d_fake', 'D(G(z))'),
           ('steps_per_sec', 'steps/s'), ('minutes', 'minutes'))


# ---------------------------------------------------------------- sweep files

def _axes(axes: Mapping[str, Sequence] | None, more: dict) -> dict[str, list]:
  merged = {**(axes or {}), **more}
  for key, values in merged.items():
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
      raise TypeError(f'sweep axis {key!r}: expected a list of values, got {values!r}')
  return {key: list(values) for key, values in merged.items()}


def product(axes: Mapping[str, Sequence] | None = None, /, **more) -> Iterator[Overrides]:
  """Every combination of the axes' values; the last axis varies fastest.

  Keys are config fields (``'optim.d_lr'``); dotted keys go in the mapping,
  plain ones may be keywords: ``product({'optim.d_lr': [1e-3, 1e-4]}, seed=[0, 1])``
  yields 4 dicts, ``{'optim.d_lr': 0.001, 'seed': 0}`` first.
  """
  axes = _axes(axes, more)
  for values in itertools.product(*axes.values()):
    yield dict(zip(axes, values))


def zip_(axes: Mapping[str, Sequence] | None = None, /, **more) -> Iterator[Overrides]:
  """The i-th values of all axes together; the axes must be equally long.

  ``zip_({'optim.g_lr': [1e-4, 2e-4], 'optim.d_lr': [4e-4, 8e-4]})`` yields 2 dicts.
  """
  axes = _axes(axes, more)
  lengths = {key: len(values) for key, values in axes.items()}
  if len(set(lengths.values())) > 1:
    raise ValueError(f'zip_: the axes differ in length: {lengths}')
  for values in zip(*axes.values()):
    yield dict(zip(axes, values))


def _flag_value(value) -> str:
  """How ``value`` is written after ``--config.KEY=`` (ml_collections parses it)."""
  return value if isinstance(value, str) else repr(value)


def run_name(overrides: Overrides) -> str:
  """A folder name from the overrides: ``optim.d_lr=0.001,seed=0`` ('base' if none).

  In keys and values, characters other than letters, digits and ``._+-``
  become ``_`` (so ``=`` and ``,`` only separate); a name over 120 characters
  is cut and ends with a hash of the whole.
  """
  def clean(text):
    return re.sub(r'[^A-Za-z0-9._+-]', '_', text)
  name = ','.join(f'{clean(k)}={clean(_flag_value(v))}'
                  for k, v in overrides.items()) or 'base'
  if len(name) > 120:
    name = name[:111] + '-' + hashlib.sha1(name.encode()).hexdigest()[:8]
  return name


def _load_module(path: str, name: str):
  spec = importlib.util.spec_from_file_location(name, path)
  if spec is None:
    raise SystemExit(f'error: cannot load {path}')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_sweep(path: str) -> tuple[str, list[Overrides]]:
  """(the base config spec ``CONFIG``, the list of override dicts of ``sweep()``)."""
  if not os.path.isfile(path):
    raise SystemExit(f'error: --sweep: no file {path}')
  module = _load_module(path, '_sweep_file')
  if not isinstance(getattr(module, 'CONFIG', None), str) or not callable(
      getattr(module, 'sweep', None)):
    raise SystemExit(f"error: {path} must define CONFIG = 'configs/x.py[:variants]' "
                     'and a function sweep() that yields dicts of overrides')
  runs = list(module.sweep())
  if not runs:
    raise SystemExit(f'error: {path}: sweep() yielded no runs')
  for overrides in runs:
    if not isinstance(overrides, dict) or not all(isinstance(k, str) for k in overrides):
      raise SystemExit(f'error: {path}: sweep() must yield dicts with str keys, '
                       f'got {overrides!r}')
  names = collections.Counter(run_name(o) for o in runs)
  if repeated := [n for n, c in names.items() if c > 1]:
    raise SystemExit(f'error: {path}: runs with the same overrides: {repeated}')
  return module.CONFIG, runs


# ----------------------------------------------------------------------- runs

@dataclasses.dataclass
class Run:
  name: str
  overrides: Overrides
  workdir: str
  num_steps: int  # the run is finished when checkpoints/<num_steps>/ exists

  @property
  def log(self) -> str:
    return os.path.join(self.workdir, LOG_NAME)

  def finished(self) -> bool:
    return os.path.isdir(os.path.join(self.workdir, 'checkpoints', str(self.num_steps)))


def _extra_overrides(extra: Sequence[str]) -> dict[str, str]:
  """{'log.log_every': '100'} from ['--config.log.log_every=100', ...]."""
  found = {}
  for flag in extra:
    match = re.fullmatch(r'--config\.([^=]+)=(.*)', flag, re.S)
    if match:
      found[match.group(1)] = match.group(2)
  return found


def make_runs(config_spec: str, sweep: list[Overrides], sweep_dir: str,
              extra: Sequence[str] = ()) -> list[Run]:
  """One ``Run`` per override dict, in ``<sweep_dir>/<run_name>``.

  ``train.num_steps`` of each run comes from its overrides, else ``extra``,
  else the base config; an override also set by ``extra`` is an error.
  """
  path, _, arg = config_spec.partition(':')
  try:
    base = _load_module(os.path.join(ROOT, path), '_sweep_config').get_config(arg or None)
  except (OSError, ValueError) as e:
    raise SystemExit(f'error: CONFIG = {config_spec!r}: {e}') from None
  extra_over = _extra_overrides(extra)
  runs = []
  for overrides in sweep:
    if both := sorted(set(overrides) & set(extra_over)):
      raise SystemExit(f'error: --extra sets {both}, which the sweep also sets')
    steps = overrides.get('train.num_steps', extra_over.get('train.num_steps',
                                                            base.train.num_steps))
    name = run_name(overrides)
    runs.append(Run(name, overrides, os.path.join(sweep_dir, name), int(steps)))
  return runs


def command(run: Run, config_spec: str, extra: Sequence[str],
            python: str = sys.executable) -> list[str]:
  """The argv that trains ``run`` from the repo root.

  ``{sweep_dir}`` in a string override becomes the run's sweep directory, so
  a run can name a sibling, e.g. ``'train.init_from': '{sweep_dir}/<name>'``
  (the name stays as written: it does not change with the directory).
  """
  sweep_dir = os.path.dirname(run.workdir)
  values = {k: v.replace(SWEEP_DIR, sweep_dir) if isinstance(v, str) else v
            for k, v in run.overrides.items()}
  return [python, '-m', 'gan_jax.main', f'--config={config_spec}',
          f'--workdir={run.workdir}', *extra,
          *(f'--config.{k}={_flag_value(v)}' for k, v in values.items())]


def device_env(device: str, count: int = 1) -> dict[str, str]:
  """Environment that shows a process one GPU, or one TPU chip, ``device``.

  CUDA reads CUDA_VISIBLE_DEVICES; a TPU VM needs the chip and one-chip
  bounds, and a mesh-controller port of its own per process (as in the JAX
  team's recipe for independent processes on one TPU host). The other
  platform ignores each set. ``count`` processes sharing one GPU split its
  memory instead of each preallocating 75% of it.
  """
  env = {'CUDA_VISIBLE_DEVICES': device, 'TPU_VISIBLE_CHIPS': device,
         'TPU_CHIPS_PER_PROCESS_BOUNDS': '1,1,1', 'TPU_PROCESS_BOUNDS': '1,1,1'}
  if device.isdigit():
    port = str(8476 + int(device))
    env.update(TPU_MESH_CONTROLLER_ADDRESS=f'localhost:{port}', TPU_MESH_CONTROLLER_PORT=port)
  if count > 1 and 'XLA_PYTHON_CLIENT_MEM_FRACTION' not in os.environ:
    env['XLA_PYTHON_CLIENT_MEM_FRACTION'] = f'{0.9 / count:.2f}'
  return env


def _say(message: str) -> None:
  print(f'{time.strftime("%H:%M:%S")} {message}', flush=True)


def _last_line(path: str) -> str:
  try:
    with open(path, errors='replace') as f:
      lines = [line.strip() for line in f.readlines()[-50:] if line.strip()]
  except OSError:
    return ''
  return lines[-1] if lines else ''


def _unfinished(runs: list[Run]) -> list[Run]:
  """The runs not finished yet; says 'skip' for each of the others."""
  todo = []
  for run in runs:
    if run.finished():
      _say(f'skip   {run.name}: finished (checkpoints/{run.num_steps} exists)')
    else:
      todo.append(run)
  return todo


def run_all(runs: list[Run], config_spec: str, extra: Sequence[str],
            devices: Sequence[str | None] = (None,), dry_run: bool = False) -> list[Run]:
  """Trains the unfinished runs, ``len(devices)`` at a time; returns those that failed.

  A device of None leaves the environment as it is (sequential local runs);
  otherwise each process sees only its device (``device_env``). Each run's
  output is appended to its ``stdout.log``. Ctrl-C (or SIGTERM) stops the
  running processes the way the trainer expects: they save a checkpoint.
  """
  todo = _unfinished(runs)
  if dry_run:
    for run in todo:
      print(shlex.join(command(run, config_spec, extra)))
    return []
  uses = collections.Counter(devices)
  pending, active, failed, done = collections.deque(todo), {}, [], 0
  previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
  try:
    while pending or active:
      for slot, device in enumerate(devices):
        if slot in active or not pending:
          continue
        run = pending.popleft()
        env = dict(os.environ)
        shown = ''
        if device is not None:
          env.update(device_env(device, uses[device]))
          shown = f'CUDA_VISIBLE_DEVICES={device} TPU_VISIBLE_CHIPS={device} '
        argv = command(run, config_spec, extra)
        os.makedirs(run.workdir, exist_ok=True)
        with open(run.log, 'a') as log:
          log.write(f'# {time.strftime("%Y-%m-%d %H:%M:%S")} {shown}{shlex.join(argv)}\n')
          log.flush()
          proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        active[slot] = (run, proc, time.monotonic())
        where = f' on device {device}' if device is not None else ''
        _say(f'start  {run.name}{where} (log: {run.log})')
      time.sleep(0.2)
      for slot, (run, proc, start) in list(active.items()):
        if (status := proc.poll()) is None:
          continue
        del active[slot]
        done += 1
        took = f'{time.monotonic() - start:.1f} s'
        if status == 0 and run.finished():
          _say(f'done   {run.name} [{done}/{len(todo)}] in {took}')
        else:
          failed.append(run)
          why = f'exit status {status}' if status else 'stopped before its last step'
          _say(f'FAILED {run.name} [{done}/{len(todo)}]: {why} after {took}; '
               f'log: {run.log}\n         last line: {_last_line(run.log)}')
  except KeyboardInterrupt:
    _say(f'interrupted: stopping {len(active)} running run(s) (each saves a checkpoint)')
    for run, proc, _ in active.values():
      proc.send_signal(signal.SIGTERM)
    for run, proc, _ in active.values():
      proc.wait()
    raise
  finally:
    signal.signal(signal.SIGTERM, previous_term)
  return failed


# ------------------------------------------------------------------- slurm

def write_slurm(runs: list[Run], config_spec: str, extra: Sequence[str], sweep_dir: str,
                python: str, gres: str, time_limit: str, cpus: int,
                sbatch: Sequence[str], dry_run: bool = False) -> str | None:
  """Writes ``runs.txt`` (one shell command per unfinished run) and ``launch.sbatch``.

  The array job's task i runs line i+1 of ``runs.txt``, appending to that
  run's ``stdout.log``. Returns the script's path, or None if nothing is left.
  """
  todo = _unfinished(runs)
  if not todo:
    _say('all runs are finished; no launch script written')
    return None
  lines = [f'mkdir -p {shlex.quote(run.workdir)} && '
           f'{shlex.join(command(run, config_spec, extra, python))} '
           f'>> {shlex.quote(run.log)} 2>&1' for run in todo]
  options = [f'--job-name={os.path.basename(sweep_dir.rstrip("/")) or "sweep"}',
             f'--array=0-{len(todo) - 1}',
             f'--output={os.path.join(sweep_dir, "slurm-%A_%a.out")}',
             f'--cpus-per-task={cpus}', f'--time={time_limit}',
             *([f'--gres={gres}'] if gres else []), *sbatch]
  manifest = os.path.join(sweep_dir, 'runs.txt')
  script = '\n'.join([
      '#!/bin/bash',
      *(f'#SBATCH {o}' for o in options),
      f'# Written by experiments/sweep.py: {len(todo)} runs, one per array task.',
      '# Task i runs line i+1 of runs.txt; do not rewrite runs.txt while tasks are queued.',
      'set -euo pipefail',
      f'cd {shlex.quote(ROOT)}',
      f'line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {shlex.quote(manifest)})',
      'echo "task $SLURM_ARRAY_TASK_ID: $line"',
      'exec bash -c "$line"', ''])
  path = os.path.join(sweep_dir, 'launch.sbatch')
  if dry_run:
    print('\n'.join(lines))
    print(script)
    return path
  os.makedirs(sweep_dir, exist_ok=True)
  with open(manifest, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  with open(path, 'w') as f:
    f.write(script)
  _say(f'wrote {path} ({len(todo)} array tasks) and {manifest}. Submit with:\n'
       f'    sbatch {shlex.quote(path)}\n'
       'then, when the jobs have ended, the same command with --mode=collect '
       'writes the table (re-running with --mode=slurm writes a script for the '
       'runs still unfinished).')
  return path


# ------------------------------------------------------------------ results

def _file_key(workdir: str) -> list:
  paths = [os.path.join(workdir, f) for f in (run_summary.METRICS_LOG, 'config.json',
                                                'eval.jsonl')]
  return [[os.path.basename(p), s.st_size, s.st_mtime_ns]
          for p in paths if (s := _stat(p))]


def _stat(path: str):
  try:
    return os.stat(path)
  except OSError:
    return None


def _metrics(run: Run) -> dict:
  """The run's final metrics and last eval record; {} if it logged no step yet.

  Each row is cached in the workdir next to the key of the files it came
  from (name, size, mtime) and recomputed only when they change, so a sweep
  of many runs is collected in well under a second.
  """
  key = _file_key(run.workdir)
  if not any(name == run_summary.METRICS_LOG for name, *_ in key):
    return {}
  cache = os.path.join(run.workdir, SUMMARY_CACHE)
  try:
    with open(cache) as f:
      cached = json.load(f)
    if cached['key'] == key:
      return cached['row']
  except (OSError, ValueError, KeyError):
    pass
  row = {}
  try:
    summary = run_summary.summarise(run.workdir)
    row.update({header: summary[k] for k, header in METRICS})
  except (OSError, KeyError, IndexError, ValueError):  # no logged step yet
    pass
  eval_log = os.path.join(run.workdir, 'eval.jsonl')
  if os.path.exists(eval_log):
    from gan_jax.evaluation import evaluators  # pylint: disable=g-import-not-at-top
    if records := evaluators.read_jsonl(eval_log):
      row.update({f'eval/{k}' if k == 'step' else k: v for k, v in records[-1].items()})
  with open(cache, 'w') as f:
    json.dump({'key': key, 'row': row}, f)
  return row


def _status(run: Run) -> str:
  if run.finished():
    return 'finished'
  return 'unfinished' if os.path.isdir(run.workdir) else 'not started'


def _markdown_cell(value) -> str:
  if isinstance(value, float):
    return f'{value:.4g}' if math.isfinite(value) else str(value)
  return '' if value is None else str(value).replace('|', '\\|')


def collect(runs: list[Run], sweep_dir: str, sweep_file: str = '...') -> list[dict]:
  """Writes ``results.csv`` and ``results.md`` in ``sweep_dir``; returns the rows.

  One row per run, in sweep order: ``run``, the override columns, ``status``,
  the final metrics (``METRICS``) and the last eval record's metrics.
  """
  rows = []
  for run in runs:
    row = {'run': run.name, **run.overrides, 'status': _status(run)}
    row.update(_metrics(run))
    rows.append(row)
  columns = list(dict.fromkeys(
      ['run', *itertools.chain.from_iterable(r.overrides for r in runs), 'status',
       *(header for _, header in METRICS),
       *itertools.chain.from_iterable(rows)]))
  os.makedirs(sweep_dir, exist_ok=True)
  with open(os.path.join(sweep_dir, 'results.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, columns, restval='')
    writer.writeheader()
    writer.writerows(rows)
  with open(os.path.join(sweep_dir, 'results.md'), 'w') as f:
    f.write(f'Regenerate with `python experiments/sweep.py --sweep={sweep_file} '
            f'--sweep_dir={sweep_dir} --mode=collect`.\n\n')
    f.write('| ' + ' | '.join(columns) + ' |\n')
    f.write('|' + '---|' * len(columns) + '\n')
    for row in rows:
      f.write('| ' + ' | '.join(_markdown_cell(row.get(c)) for c in columns) + ' |\n')
  counts = collections.Counter(row['status'] for row in rows)
  _say(f'results: {os.path.join(sweep_dir, "results.csv")} and results.md '
       f'({", ".join(f"{n} {s}" for s, n in counts.items())})')
  return rows


# --------------------------------------------------------------------- main

def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('sweep', None, 'Sweep file: CONFIG and sweep().')
  flags.DEFINE_string('sweep_dir', None, 'Directory of the runs and the results table.')
  flags.DEFINE_enum('mode', 'local', ['local', 'parallel', 'slurm', 'collect'],
                    'local: one run after another; parallel: one process per '
                    '--devices entry; slurm: write an array job; collect: only the table.')
  flags.DEFINE_list('devices', None, 'GPU / TPU chip ids for --mode=parallel, e.g. 0,1,2,3.')
  flags.DEFINE_multi_string('extra', [], 'A flag passed to every run, e.g. '
                            '--extra=--config.log.log_every=100 (repeatable).')
  flags.DEFINE_bool('dry_run', False, 'Print the commands (or the Slurm files); run nothing.')
  flags.DEFINE_string('python', sys.executable, 'Python of the runs in the Slurm manifest.')
  flags.DEFINE_string('gres', 'gpu:1', 'Slurm --gres per task (empty: none).')
  flags.DEFINE_string('slurm_time', '24:00:00', 'Slurm --time per task.')
  flags.DEFINE_integer('cpus_per_task', 8, 'Slurm --cpus-per-task.')
  flags.DEFINE_multi_string('sbatch', [], 'More #SBATCH options, e.g. '
                            '--sbatch=--partition=gpu (repeatable).')
  flags.mark_flags_as_required(['sweep', 'sweep_dir'])
  return flags.FLAGS


def main(argv, flags_):
  if len(argv) > 1:
    raise SystemExit(f'error: unexpected arguments {argv[1:]}')
  config_spec, sweep = load_sweep(flags_.sweep)
  sweep_dir = os.path.abspath(flags_.sweep_dir)
  runs = make_runs(config_spec, sweep, sweep_dir, flags_.extra)
  _say(f'sweep {flags_.sweep}: {len(runs)} run(s) of {config_spec} in {sweep_dir}')
  if flags_.mode == 'slurm':
    write_slurm(runs, config_spec, flags_.extra, sweep_dir, flags_.python, flags_.gres,
                flags_.slurm_time, flags_.cpus_per_task, flags_.sbatch, flags_.dry_run)
    return
  failed = []
  if flags_.mode in ('local', 'parallel'):
    if flags_.mode == 'parallel' and not flags_.devices:
      raise SystemExit('error: --mode=parallel needs --devices, e.g. --devices=0,1')
    devices = flags_.devices if flags_.mode == 'parallel' else [None]
    try:
      failed = run_all(runs, config_spec, flags_.extra, devices, flags_.dry_run)
    except KeyboardInterrupt:
      raise SystemExit('interrupted; the same command resumes the sweep') from None
  if flags_.dry_run:
    return
  collect(runs, sweep_dir, flags_.sweep)
  if failed:
    _say(f'{len(failed)} of {len(runs)} runs failed:\n' + '\n'.join(
        f'  {run.name}: see {run.log}' for run in failed))
    sys.exit(1)


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _flags = _define_flags()
  app.run(lambda argv: main(argv, _flags))
