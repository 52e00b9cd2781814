"""What experiments/superres.py, pix2pix.py and cyclegan.py share: train a sweep, read its runs.

Each script trains the runs of its sweep files (experiments/sweeps/*.py)
through the sweep engine (experiments/sweep.py: one ``gan_jax.main`` process
per run, finished runs reused), then reads every run's config, its last
``eval.jsonl`` record and ``eval_floor.json``, and restores its checkpoint for
the figures. No metric is computed here that the evaluators do not compute in
training, except where a script says so (baselines, interpolations).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time

import jax
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from experiments import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
from experiments.timing import cpu_name  # pylint: disable=g-import-not-at-top
from gan_jax import jsonl, trained  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation.evaluators import ImageFeatures  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation.translation_metrics import Translation  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Run:
  """One finished run: its overrides, config, last evaluation and floor."""
  overrides: dict
  workdir: str
  config: dict
  final: dict       # {'<entry>/<metric>': value} at the last step
  floor: dict
  minutes: float

  def metric(self, name: str) -> float:
    """'translation/psnr' etc.; NaN when the run's evaluators have no such metric."""
    return float(self.final.get(name, float('nan')))


def _sweep_path(name: str) -> str:
  return os.path.join(REPO, 'experiments', 'sweeps', name + '.py')


def runs_of(sweep: str, runs_dir: str, extra=()):
  spec, overrides = sweep_lib.load_sweep(_sweep_path(sweep))
  return spec, sweep_lib.make_runs(spec, overrides, os.path.join(runs_dir, sweep), list(extra))


def train(sweep: str, runs_dir: str, extra=(), devices=(None,)) -> None:
  """Trains the sweep's unfinished runs; exits non-zero naming the failed ones."""
  spec, runs = runs_of(sweep, runs_dir, extra)
  print(f'{sweep}: {len(runs)} run(s) of {spec} in {os.path.join(runs_dir, sweep)}', flush=True)
  if failed := sweep_lib.run_all(runs, spec, list(extra), devices):
    raise SystemExit(f'error: {len(failed)} run(s) of {sweep} failed; logs: '
                     + ', '.join(r.log for r in failed))


def _read_json(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def collect(sweep: str, runs_dir: str, extra=()) -> list[Run]:
  """The sweep's finished runs, in the sweep's order (unfinished ones are named and left out)."""
  _, runs = runs_of(sweep, runs_dir, extra)
  out = []
  for run in runs:
    if not run.finished():
      print(f'{sweep}: {run.name} is not finished; left out', flush=True)
      continue
    records = jsonl.read(os.path.join(run.workdir, jsonl.EVAL_LOG))
    last_step = records[-1]['step']
    final = {k: v for r in records if r['step'] == last_step for k, v in r.items()}
    out.append(Run(run.overrides, run.workdir, _read_json(os.path.join(run.workdir,
                                                                       'config.json')),
                   final, _read_json(os.path.join(run.workdir, 'eval_floor.json')),
                   sweep_lib.run_summary.summarise(run.workdir)['minutes']))
  return out


class Scorer:
  """The 'translation' and 'image_features' evaluators of one dataset, to score any outputs.

  ``score`` gives the metrics of translations of every held-out input (or of a
  baseline such as the inputs themselves), keyed as in ``eval.jsonl``;
  ``rescored`` is a run's last evaluation with its FID recomputed on the
  translations of every held-out input once (the runs' own FID evaluators drew
  their inputs in batches of random rows, which can repeat an input across
  batches).
  """

  def __init__(self, dataset, num_fid_samples: int):
    self.translation = Translation('translation', dataset, None, 0, every=0)
    self.features = ImageFeatures('features', dataset, None, 0, every=0,
                                  num_samples=num_fid_samples)

  def fid(self, outputs: np.ndarray) -> float:
    return self.features.score(outputs[:self.features.num_samples])['fid']

  def score(self, outputs: np.ndarray) -> dict:
    out = {f'translation/{k}': v for k, v in self.translation.score(outputs).items()}
    return {**out, 'features/fid': self.fid(outputs)}

  def rescored(self, run: Run, outputs: np.ndarray) -> dict:
    return {**run.final, 'features/fid': self.fid(outputs)}


def load_data(workdir: str):
  """(config, dataset) of a finished run, as it trained on them."""
  config = trained.load_run_config(workdir)
  return config, trained.load_dataset(config)


def restore(workdir: str, dataset=None):
  """(state, sampler) of a finished run's latest checkpoint; ``dataset``: its data
  if already loaded (the runs of one sweep share it), else loaded here."""
  config = trained.load_run_config(workdir)
  if dataset is None:
    dataset = trained.load_dataset(config)
  state, sampler, _ = trained.restore(workdir, config, dataset)
  return state, sampler


def metric_cells(metrics: dict, columns) -> list[str]:
  """The formatted cells of ``columns`` ((key, format) pairs) of ``metrics``; '—' if absent."""
  return [fmt(metrics.get(key, float('nan')), spec) for key, spec in columns]


def translate(sampler, state, inputs: np.ndarray, key: str = 'a', batch: int = 250):
  """sampler(state, {key: rows}) of every row of ``inputs``, ``batch`` at a time."""
  return np.concatenate([np.asarray(sampler(state, {key: inputs[i:i + batch]}))
                         for i in range(0, len(inputs), batch)])


def one_per_class(labels: np.ndarray, n: int = 10) -> np.ndarray:
  """The first test row of each label, in label order (the grids show one digit of each)."""
  return np.array([np.flatnonzero(labels == c)[0] for c in np.unique(labels)][:n])


def as_float(uint8_images: np.ndarray) -> np.ndarray:
  return uint8_images.astype(np.float32) / 127.5 - 1.0


def image_rows(path: str, rows: list[tuple[str, np.ndarray]], title: str) -> None:
  """One labelled row of images per (label, (N, H, W, 1) in [-1, 1]) entry; a PNG at ``path``."""
  n = max(len(images) for _, images in rows)
  fig, axes = plt.subplots(len(rows), n, figsize=(0.7 * n + 1.6, 0.8 * len(rows) + 0.5),
                           squeeze=False)
  for r, (label, images) in enumerate(rows):
    for c in range(n):
      ax = axes[r, c]
      ax.set_xticks([]), ax.set_yticks([])
      for spine in ax.spines.values():
        spine.set_linewidth(0.4)
      if c < len(images):
        ax.imshow(np.clip(images[c][..., 0], -1, 1), cmap='gray', vmin=-1, vmax=1,
                  interpolation='nearest')
    axes[r, 0].set_ylabel(label, rotation=0, ha='right', va='center', fontsize=8)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def elapsed(runs: list[Run], start: float) -> str:
  """The runs' own training minutes, summed, and this script's since ``start``
  (with --collect_only it trained nothing: its time alone would hide the runs')."""
  return (f'the runs trained {sum(r.minutes for r in runs):.0f} min in all, this script '
          f'took {(time.time() - start) / 60:.0f} min here')


def machine() -> str:
  return f'{cpu_name()}, {os.cpu_count()} cores, {platform.system()}, jax {jax.__version__}'


def fmt(value: float, spec: str) -> str:
  return '—' if value is None or not np.isfinite(value) else format(value, spec)


def line(cells) -> str:
  return '| ' + ' | '.join(str(c) for c in cells) + ' |'


def write(path: str, text: str) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)
