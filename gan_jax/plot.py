"""Plots of a run, or of every run of a sweep directory: curves over steps and the grids as a GIF.

    python -m gan_jax.plot --workdir=runs/dcgan
    python -m gan_jax.plot --workdir=runs/sweeps/toy2d_lr   # each run below it, overlaid

Training calls ``plot_workdir`` at the end of every run (``log.plots``).
Everything goes into ``<workdir>/plots/``, from the files the run wrote:

  losses.png      every player's loss (``*_loss`` of metrics.jsonl) over steps
  d_outputs.png   D(x) and D(G(z)) (``d_real``, ``d_fake``), where the task has them
  grad_norms.png  every player's gradient norm (``*_grad_norm``)
  eval.png        one panel per evaluator metric of eval.jsonl, its real-vs-real
                  floor (eval_floor.json) as a dashed line of the same colour;
                  several seeds: the mean and a band of +- its standard error
                  (eval.jsonl keeps no per-seed values)
  samples.gif     the fixed-input grids ``samples_NNNNNN.png`` in step order
                  (a single run only)

A run of several seeds (``train.num_seeds`` > 1) is drawn as the mean over
seeds with a shaded band from the lowest to the highest seed at each step
(``seed<i>/<key>`` of metrics.jsonl). A directory without metrics.jsonl whose
subdirectories have one is a sweep: its runs are overlaid, one colour each,
with a legend of their names. Built on matplotlib's object API (no pyplot
state, no display) and PIL.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import sys

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from gan_jax import jsonl

METRICS_LOG, EVAL_LOG = jsonl.METRICS_LOG, jsonl.EVAL_LOG
EVAL_FLOOR = 'eval_floor.json'
PLOTS_DIR = 'plots'
GIF_NAME = 'samples.gif'
GIF_FRAME_MS = 400
D_OUTPUTS = (('d_real', 'D(x)'), ('d_fake', 'D(G(z))'))


class PlotError(ValueError):
  """The workdir holds nothing to plot; the message is one line naming it."""


@dataclasses.dataclass
class Run:
  """What one workdir logged: metrics.jsonl and eval.jsonl records, the eval floor."""
  name: str
  workdir: str
  records: list[dict]
  evals: list[dict]
  floor: dict[str, float]

  @classmethod
  def load(cls, workdir: str, name: str = '') -> 'Run':
    floor = {}
    if os.path.exists(path := os.path.join(workdir, EVAL_FLOOR)):
      with open(path) as f:
        floor = json.load(f)
    return cls(name or os.path.basename(os.path.normpath(workdir)), workdir,
               jsonl.read(os.path.join(workdir, METRICS_LOG), by_step=True, missing_ok=True),
               jsonl.read(os.path.join(workdir, EVAL_LOG), by_step=True, missing_ok=True), floor)

  def keys(self) -> list[str]:
    """The per-step scalar keys (not step, time, per-seed or stderr entries), in first-seen order."""
    keys = dict.fromkeys(k for r in self.records for k in r)
    return [k for k in keys if k not in ('step', 'time') and '/' not in k
            and not k.endswith('_stderr')]

  def series(self, key: str, records: list[dict] | None = None):
    """(steps (T,), mean (T,), band (2, T) or None) of ``key``; missing values are NaN.

    The band is the lowest and highest seed at each step, for runs of several
    seeds (keys ``seed<i>/<key>``), else None.
    """
    records = self.records if records is None else records
    rows = [r for r in records if key in r]
    steps = np.array([r['step'] for r in rows])
    mean = np.array([_value(r, key) for r in rows])
    seed_keys = sorted({k for r in rows for k in r if re.fullmatch(rf'seed\d+/{re.escape(key)}', k)})
    band = None
    if seed_keys:
      per_seed = np.array([[_value(r, k) for k in seed_keys] for r in rows])
      band = np.stack([np.nanmin(per_seed, axis=1), np.nanmax(per_seed, axis=1)])
    return steps, mean, band


def find_runs(workdir: str) -> list[Run]:
  """The run in ``workdir``, or the runs in its subdirectories (a sweep), sorted by name.

  Raises PlotError if there is neither.
  """
  if not os.path.isdir(workdir):
    raise PlotError(f'--workdir={workdir!r} is not a directory')
  if os.path.exists(os.path.join(workdir, METRICS_LOG)):
    return [Run.load(workdir)]
  runs = [Run.load(os.path.dirname(p)) for p in
          sorted(glob.glob(os.path.join(workdir, '*', METRICS_LOG)))]
  if not runs:
    raise PlotError(f'--workdir={workdir!r} has no {METRICS_LOG}, nor has any of its '
                    'subdirectories: not a training run or a sweep directory (or no step '
                    'was logged yet)')
  return runs


def _draw(ax, run: Run, key: str, label: str, color, records=None) -> None:
  steps, mean, band = run.series(key, records)
  ax.plot(steps, mean, color=color, label=label)
  if band is not None:
    ax.fill_between(steps, band[0], band[1], color=color, alpha=0.25, linewidth=0,
                    label=f'{label} (seeds min-max)')


def _curves(runs: list[Run], keys: list[tuple[str, str]], title: str, ylabel: str) -> Figure:
  """One panel: each (key, label) of each run over steps; a run's keys share its colour in a sweep."""
  fig = Figure(figsize=(7, 4), layout='constrained')
  ax = fig.add_subplot()
  colors = [f'C{i % 10}' for i in range(max(len(runs), len(keys)))]
  styles = ['-', '--', ':', '-.']
  for i, run in enumerate(runs):
    for j, (key, label) in enumerate(keys):
      if not any(key in r for r in run.records):
        continue
      name = label if len(runs) == 1 else f'{run.name}: {label}'
      _draw(ax, run, key, name, colors[j] if len(runs) == 1 else colors[i])
      if len(runs) > 1:
        ax.lines[-1].set_linestyle(styles[j % len(styles)])
  ax.set(title=title, xlabel='step', ylabel=ylabel)
  ax.grid(alpha=0.3)
  ax.legend(fontsize='small')
  return fig


def _value(record: dict, key: str) -> float:
  value = record.get(key)
  return np.nan if value is None else float(value)  # null: non-finite, drawn as a gap


def _eval_figure(runs: list[Run]) -> Figure | None:
  """One panel per metric; several seeds: mean +- standard error (``<metric>_stderr``)."""
  metrics = list(dict.fromkeys(k for run in runs for r in run.evals for k in r
                               if k != 'step' and not k.endswith('_stderr')))
  if not metrics:
    return None
  cols = min(3, len(metrics))
  rows = -(-len(metrics) // cols)
  fig = Figure(figsize=(4.5 * cols, 3.2 * rows), layout='constrained')
  for m, metric in enumerate(metrics):
    ax = fig.add_subplot(rows, cols, m + 1)
    for i, run in enumerate(runs):
      color = f'C{i % 10}'
      steps = np.array([r['step'] for r in run.evals if metric in r])
      mean = np.array([_value(r, metric) for r in run.evals if metric in r])
      label = run.name if len(runs) > 1 else metric
      ax.plot(steps, mean, 'o-', color=color, label=label)
      if any(f'{metric}_stderr' in r for r in run.evals):
        se = np.array([_value(r, f'{metric}_stderr') for r in run.evals if metric in r])
        ax.fill_between(steps, mean - se, mean + se, color=color, alpha=0.25, linewidth=0,
                        label=f'{label} (seeds, +-stderr)')
      if metric in run.floor and run.floor[metric] is not None:
        ax.axhline(run.floor[metric], color=color, linestyle='--',
                   label='real vs real' + (f' ({run.name})' if len(runs) > 1 else ''))
    ax.set(title=metric, xlabel='step')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='x-small')
  return fig


def make_figures(runs: list[Run]) -> dict[str, Figure]:
  """{file name: matplotlib Figure} of the curves of ``runs`` (one run, or a sweep's)."""
  keys = list(dict.fromkeys(k for run in runs for k in run.keys()))
  figures = {}
  if losses := [(k, k) for k in keys if k.endswith('_loss')]:
    figures['losses.png'] = _curves(runs, losses, 'losses', 'loss')
  if outputs := [(k, label) for k, label in D_OUTPUTS if k in keys]:
    figures['d_outputs.png'] = _curves(runs, outputs, 'D(x) and D(G(z))', 'sigmoid(D)')
  if norms := [(k, k) for k in keys if k.endswith('_grad_norm')]:
    figures['grad_norms.png'] = _curves(runs, norms, 'gradient norms', '|grad|')
    figures['grad_norms.png'].axes[0].set_yscale('log')
  if (fig := _eval_figure(runs)) is not None:
    figures['eval.png'] = fig
  return figures


def sample_grid_files(workdir: str) -> list[str]:
  """The ``samples_NNNNNN.png`` grids of ``workdir`` in step order (not samples_final*)."""
  found = [(int(m.group(1)), p) for p in glob.glob(os.path.join(workdir, 'samples_*.png'))
           if (m := re.fullmatch(r'samples_(\d+)\.png', os.path.basename(p)))]
  return [p for _, p in sorted(found)]


def samples_gif(workdir: str, path: str) -> int:
  """Writes the grids of ``sample_grid_files`` as an animated GIF (looping); returns its frames."""
  files = sample_grid_files(workdir)
  if not files:
    return 0
  frames = [Image.open(p).convert('RGB') for p in files]
  frames[0].save(path, save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS,
                 loop=0)
  return len(frames)


def plot_workdir(workdir: str) -> list[str]:
  """Writes the plots of the run (or sweep) in ``workdir`` into ``<workdir>/plots/``.

  Returns the paths written. Raises PlotError if there is nothing to plot.
  """
  runs = find_runs(workdir)
  out = os.path.join(workdir, PLOTS_DIR)
  os.makedirs(out, exist_ok=True)
  written = []
  for name, fig in make_figures(runs).items():
    fig.savefig(os.path.join(out, name), dpi=100)
    written.append(os.path.join(out, name))
  if len(runs) == 1 and samples_gif(workdir, gif := os.path.join(out, GIF_NAME)):
    written.append(gif)
  return written


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f'error: unexpected arguments {argv[1:]}', file=sys.stderr)
    sys.exit(1)
  try:
    written = plot_workdir(flags.FLAGS.workdir)
  except PlotError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print('\n'.join(written))


if __name__ == '__main__':
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', None, 'A run\'s workdir, or a sweep directory of runs.')
  flags.mark_flag_as_required('workdir')
  app.run(main)
