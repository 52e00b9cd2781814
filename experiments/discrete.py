"""The discrete-GAN comparison: docs/discrete.md and its figures.

    python experiments/sweep.py --sweep=experiments/sweeps/discrete_bits.py --sweep_dir=runs/sweeps/discrete_bits
    python experiments/sweep.py --sweep=experiments/sweeps/discrete_mnist.py --sweep_dir=runs/sweeps/discrete_mnist
    python experiments/sweep.py --sweep=experiments/sweeps/discrete_grammar.py --sweep_dir=runs/sweeps/discrete_grammar
    python experiments/discrete.py

Reads each run's eval.jsonl (the mean over its 3 vmapped seeds and the
standard error, written by the evaluators of configs/discrete.py), and writes
  docs/discrete.md                       the tables, the verdicts, the protocol;
  docs/figures/discrete_kl_curves.png    exact KL(p_data || p_G) against the step;
  docs/figures/discrete_temperature.png  each G at sampling temperatures 0.5 .. 1.5;
  docs/figures/discrete_mnist_<estimator>.png  final digits of seed 0.
A verdict compares two numbers only when their gap is above twice the root
sum of squares of their standard errors.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import matplotlib  # pylint: disable=g-import-not-at-top
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from absl import app, flags

from configs.discrete import ESTIMATORS, TEMPERATURES
from experiments import run_summary, sweep as sweep_lib
from experiments.sweeps.discrete_bits import selected_rates
from gan_jax import jsonl
from gan_jax.data import discrete as discrete_data
from gan_jax.evaluation.discrete_metrics import temperature_suffix as suffix

SWEEPS = {d: os.path.join(ROOT, 'experiments', 'sweeps', f'discrete_{d}.py')
          for d in ('bits', 'grammar', 'mnist')}
NAMES = {'gumbel': 'Gumbel-softmax', 'straight_through': 'straight-through Gumbel',
         'reinforce': 'REINFORCE', 'bgan': 'boundary-seeking (BGAN)',
         'mle': 'maximum likelihood (no D)'}

FLAGS = flags.FLAGS
flags.DEFINE_string('runs', os.path.join(ROOT, 'runs', 'sweeps'),
                    'Holds discrete_bits/, discrete_grammar/, discrete_mnist/.')
flags.DEFINE_string('output', os.path.join(ROOT, 'docs', 'discrete.md'), 'Markdown.')
flags.DEFINE_string('figures', os.path.join(ROOT, 'docs', 'figures'), 'Figures go here.')


def sweep_runs(data: str, runs_dir: str | None = None):
  config_spec, overrides = sweep_lib.load_sweep(SWEEPS[data])
  runs_dir = runs_dir or os.path.join(ROOT, 'runs', 'sweeps')
  return config_spec, sweep_lib.make_runs(config_spec, overrides,
                                          os.path.join(runs_dir, f'discrete_{data}'))


def records(run) -> list[dict]:
  path = os.path.join(run.workdir, jsonl.EVAL_LOG)
  found = jsonl.read(path) if os.path.exists(path) else []
  if not found or not run.finished:
    raise SystemExit(f'error: {run.workdir} has not finished; run its sweep first '
                     '(the commands are in experiments/discrete.py)')
  return found


def final(run, key: str) -> tuple[float, float]:
  """(mean, standard error) of ``key`` in the run's last record that has it."""
  last = [r for r in records(run) if key in r][-1]
  return last[key], last.get(f'{key}_stderr', 0.0)


def fmt(value: tuple[float, float], digits: int = 3) -> str:
  mean, se = value
  if mean is None or not math.isfinite(mean):  # NaN is written to JSON as null
    return 'n/a'
  se = 0.0 if se is None or not math.isfinite(se) else se
  return f'{mean:.{digits}f} ± {se:.{digits}f}'


def better(a: tuple[float, float], b: tuple[float, float]) -> bool:
  """a is lower than b by more than twice their combined standard error."""
  return b[0] - a[0] > 2 * math.hypot(a[1], b[1])


def by_estimator(runs, rates=None) -> dict:
  """{estimator: run}, keeping for bits only the selected rate's run."""
  out = {}
  for run in runs:
    e = run.overrides['train.estimator']
    if rates is None or run.overrides['optim.g_lr'] == rates[e]:
      out[e] = run
  return out


def table(header, rows) -> list[str]:
  return (['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
          + ['| ' + ' | '.join(r) + ' |' for r in rows])


def verdict(name: str, values: dict[str, tuple[float, float]], floor: float,
            lower: bool = True) -> str:
  """One sentence: the best estimator, the ones it beats, where MLE stands, the floor."""
  sign = 1 if lower else -1
  flipped = {e: (sign * m, s) for e, (m, s) in values.items()}
  gans = {e: v for e, v in flipped.items() if e != 'mle'}
  best = min(gans, key=lambda e: gans[e][0])
  beaten = [NAMES[e] for e in gans if e != best and better(gans[best], gans[e])]
  tied = [NAMES[e] for e in gans if e != best and not better(gans[best], gans[e])]
  text = f'{name}: the best GAN estimator is {NAMES[best]}'
  text += (f', clearly ahead of {", ".join(beaten)}' if beaten else '')
  text += (f'; within the noise of {", ".join(tied)}' if tied else '')
  if 'mle' in flipped:
    if better(flipped['mle'], gans[best]):
      text += '; maximum likelihood beats every GAN estimator'
    elif better(gans[best], flipped['mle']):
      text += '; it beats maximum likelihood'
    else:
      text += '; maximum likelihood is within its noise'
  return text + f' (real-data floor: {floor:g}).'


def curves(ax, runs: dict, key: str, title: str) -> None:
  for e, run in runs.items():
    recs = [r for r in records(run) if key in r]
    steps = np.array([r['step'] for r in recs])
    mean = np.array([r[key] for r in recs])
    se = np.array([r.get(f'{key}_stderr', 0.0) for r in recs])
    ax.plot(steps, mean, label=NAMES[e])
    ax.fill_between(steps, np.maximum(mean - se, 1e-4), mean + se, alpha=0.2)
  ax.set(yscale='log', xlabel='step', ylabel='KL(p_data || p_G), nats', title=title)
  ax.legend(fontsize=7)


def main(argv):
  del argv
  os.makedirs(FLAGS.figures, exist_ok=True)
  rates = selected_rates(os.path.join(FLAGS.runs, 'discrete_bits'))
  spec_bits, bits_all = sweep_runs('bits', FLAGS.runs)
  bits = by_estimator(bits_all, rates)
  spec_grammar, grammar_runs = sweep_runs('grammar', FLAGS.runs)
  grammar = by_estimator(grammar_runs)
  spec_mnist, mnist_runs = sweep_runs('mnist', FLAGS.runs)
  mnist = by_estimator(mnist_runs)
  with open(os.path.join(next(iter(bits.values())).workdir, 'config.json')) as f:
    c_bits = json.load(f)
  with open(os.path.join(next(iter(mnist.values())).workdir, 'config.json')) as f:
    c_mnist = json.load(f)
  with open(os.path.join(next(iter(grammar.values())).workdir, 'config.json')) as f:
    c_grammar = json.load(f)

  # Bits: exact metrics; the rate sweep; the best sampling temperature.
  length = c_bits['data']['seq_length']
  p = np.exp(discrete_data.bit_log_probs(length))
  uniform_kl = float(np.sum(p * np.log(p * 2 ** length)))
  rows, kl_bits = [], {}
  for e in ESTIMATORS:
    run = bits[e]
    kl_bits[e] = final(run, 'exact/kl')
    best_t = min(TEMPERATURES, key=lambda t: final(run, f'exact/kl{suffix(t)}')[0])
    others = [f'{r.overrides["optim.g_lr"]:g}: {final(r, "exact/kl")[0]:.3f}'
              for r in bits_all if r.overrides['train.estimator'] == e]
    rows.append([NAMES[e], f'{rates[e]:g}', fmt(kl_bits[e]), fmt(final(run, 'exact/reverse_kl')),
                 fmt(final(run, 'exact/tv')),
                 f'{fmt(final(run, f"exact/kl{suffix(best_t)}"))} at T={best_t:g}',
                 '; '.join(others),
                 f'{run_summary.summarise(run.workdir).get("minutes", float("nan")):.1f}'])
  rows.append(['uniform G (closed form)', '', f'{uniform_kl:.3f}', '', '', '', '', ''])
  bits_table = table(['estimator', 'lr', 'KL', 'reverse KL', 'TV', 'best KL over T',
                      'final KL per lr', 'minutes'], rows)

  # Grammar.
  g_keys = (('exact/kl', 'KL', 3), ('exact/valid_mass', 'valid mass', 3),
            ('grammar/valid_percent', 'valid %', 1), ('grammar/unique_percent', 'unique %', 1),
            ('grammar/novel_percent', 'novel %', 1), ('grammar/grammar_nll', 'grammar NLL', 2))
  rows, kl_grammar, valid_grammar = [], {}, {}
  for e in ESTIMATORS:
    run = grammar[e]
    kl_grammar[e] = final(run, 'exact/kl')
    valid_grammar[e] = final(run, 'grammar/valid_percent')
    rows.append([NAMES[e], f'{run.overrides["optim.g_lr"]:g}']
                + [fmt(final(run, k), d) for k, _, d in g_keys])
  with open(os.path.join(next(iter(grammar.values())).workdir, 'eval_floor.json')) as f:
    g_floor = json.load(f)
  rows.append(['grammar itself (floor)', ''] + [f'{g_floor[k]:.{d}f}' for k, _, d in g_keys])
  grammar_table = table(['estimator', 'lr'] + [n for _, n, _ in g_keys], rows)

  # Binarised digits.
  m_keys = (('features/fid', 'FID', 1), ('features/precision', 'precision', 3),
            ('features/recall', 'recall', 3), ('features/classes_seen', 'digits seen', 1),
            ('features/inception_score', 'IS analogue', 2))
  rows, fid_mnist = [], {}
  for e in [e for e in ESTIMATORS if e in mnist]:
    run = mnist[e]
    fid_mnist[e] = final(run, 'features/fid')
    rows.append([NAMES[e]] + [fmt(final(run, k), d) for k, _, d in m_keys])
    shutil.copyfile(os.path.join(run.workdir, f'samples_final_seed{c_mnist["seed"]}.png'),
                    os.path.join(FLAGS.figures, f'discrete_mnist_{e}.png'))
  with open(os.path.join(next(iter(mnist.values())).workdir, 'eval_floor.json')) as f:
    m_floor = json.load(f)
  rows.append(['binarised real digits (floor)'] + [f'{m_floor[k]:.{d}f}' for k, _, d in m_keys])
  mnist_table = table(['estimator'] + [n for _, n, _ in m_keys], rows)

  # Figures.
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
  curves(axes[0], bits, 'exact/kl', f'{length}-bit strings')
  curves(axes[1], grammar, 'exact/kl', 'grammar sentences')
  fig.tight_layout()
  kl_figure = os.path.join(FLAGS.figures, 'discrete_kl_curves.png')
  fig.savefig(kl_figure)
  plt.close(fig)
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
  for e in ESTIMATORS:
    fwd = [final(bits[e], f'exact/kl{suffix(t)}')[0] for t in TEMPERATURES]
    rev = [final(bits[e], f'exact/reverse_kl{suffix(t)}')[0] for t in TEMPERATURES]
    axes[0].plot(rev, fwd, 'o-', label=NAMES[e])
    valid = [final(grammar[e], f'grammar/valid_percent{suffix(t)}')[0] for t in TEMPERATURES]
    unique = [final(grammar[e], f'grammar/unique_percent{suffix(t)}')[0] for t in TEMPERATURES]
    axes[1].plot(unique, valid, 'o-', label=NAMES[e])
    for ax, xs, ys in ((axes[0], rev, fwd), (axes[1], unique, valid)):
      for t, x, y in zip(TEMPERATURES, xs, ys):
        ax.annotate(f'{t:g}', (x, y), fontsize=6, xytext=(2, 2), textcoords='offset points')
  axes[0].set(xscale='log', yscale='log', xlabel='reverse KL(p_G || p_data) (quality)',
              ylabel='KL(p_data || p_G) (coverage)', title='bits, at each sampling T')
  axes[1].set(xlabel='unique % of valid (diversity)', ylabel='valid % (quality)',
              title='grammar, at each sampling T')
  axes[0].legend(fontsize=7)
  fig.tight_layout()
  t_figure = os.path.join(FLAGS.figures, 'discrete_temperature.png')
  fig.savefig(t_figure)
  plt.close(fig)

  t, o = c_bits['train'], c_bits['optim']
  rel = lambda path: os.path.relpath(path, os.path.dirname(FLAGS.output))
  verdicts = [verdict(f'{length}-bit strings (exact KL)', kl_bits, 0),
              verdict('grammar (exact KL)', kl_grammar, g_floor['exact/kl']),
              verdict('grammar (valid %)', valid_grammar, g_floor['grammar/valid_percent'],
                      lower=False),
              verdict('binarised digits (FID)', fid_mnist, round(m_floor['features/fid'], 1))]
  novel_mle = final(grammar['mle'], 'grammar/novel_percent')
  if better(novel_mle, (g_floor['grammar/novel_percent'], 0.0)):
    verdicts.append(
        'On the grammar maximum likelihood memorises its '
        f'{c_grammar["data"]["num_train"]:,} training sentences: {novel_mle[0]:.1f}% of its '
        f'distinct valid samples are new, against {g_floor["grammar/novel_percent"]:.1f}% of '
        "the grammar's own, and its KL to the grammar is "
        + ('above' if better(min(kl_grammar.values(), key=lambda v: v[0]), kl_grammar['mle'])
           else 'not above') + ' the best GAN\'s (no early stopping or regularisation here).')
  text = '\n'.join([
      '# Discrete outputs: five ways to train a generator of tokens',
      '',
      '<!-- Generated by experiments/discrete.py; do not edit by hand. -->',
      '',
      'The primer\'s open challenge, measured: G draws tokens, so D\'s gradient cannot '
      'reach G through the draw. Each estimator of `gan_jax/estimators.py` trains the same '
      'G against the same D (an MLP on one-hot codes), and maximum likelihood trains the '
      'same G with no D at all (Caccia et al., arXiv 1811.02549, found that such a '
      'baseline, tuned by its sampling temperature, beats language GANs). Every number '
      f'is the mean ± standard error over {t["num_seeds"]} seeds trained together '
      '(`train.num_seeds`, vmapped), at the last step; minutes are wall time on 2 CPU '
      'cores for all seeds together.',
      '',
      '**What worked where**',
      '',
      *[f'- {v}' for v in verdicts],
      '',
      f'## {length}-bit strings',
      '',
      f'`{spec_bits}`: a GRU G (width {c_bits["model"]["g_hidden"][0]}) over {length} bits '
      f'against a known mixture of 4 prototypes with bits flipped with probability '
      f'{discrete_data.BIT_FLIP} (data entropy {float(-np.sum(p * np.log(p))):.3f} nats). '
      'KL, reverse KL and TV are exact, from G\'s probabilities of all '
      f'{2 ** length} strings: no sampling error. {t["num_steps"]:,} steps at batch '
      f'{t["batch_size"]}, Adam (b1 {o["b1"]}) at the same rate for G and D, the rate '
      'per estimator the better final mean KL of 3e-4 and 1e-3 (both shown); Gumbel '
      f'temperature {t["tau0"]:g} annealed to {t["tau_min"]:g} over '
      f'{t["tau_anneal_steps"]:,} steps; REINFORCE baseline decay {t["baseline_decay"]:g}. '
      '"best KL over T": the same G sampled at the temperature (of '
      f'{", ".join(f"{x:g}" for x in TEMPERATURES)}) that minimises its KL.',
      '',
      *bits_table,
      '',
      '## Grammar sentences',
      '',
      f'`{spec_grammar}`: sentences of a finite, unambiguous PCFG of '
      f'{len(discrete_data.grammar_language()):,} sentences (2 to 8 words over 17 words, '
      f'padded to {c_grammar["data"]["seq_length"]} tokens); G (GRU width '
      f'{c_grammar["model"]["g_hidden"][0]}) trains on {c_grammar["data"]["num_train"]:,} '
      f'sentences drawn once, for {c_grammar["train"]["num_steps"]:,} steps at batch '
      f'{c_grammar["train"]["batch_size"]}, each estimator at its bits rate. KL and valid '
      'mass are exact over the grammar\'s language (the probability G puts on sentences '
      'the grammar makes); valid / unique / novel % and the grammar\'s NLL are of 2,000 '
      'samples: % that parse, % of those that are distinct, % of the distinct ones not in '
      'the training set. The floor row scores 2,000 fresh sentences of the grammar.',
      '',
      *grammar_table,
      '',
      f'![exact KL against the step]({rel(kl_figure)})',
      '',
      'Each G at sampling temperatures '
      f'{", ".join(f"{x:g}" for x in TEMPERATURES)} (labels): lowering T trades coverage '
      'for quality (left; both exact) and diversity for validity (right).',
      '',
      f'![temperature sweeps]({rel(t_figure)})',
      '',
      '## Binarised digits',
      '',
      f'`{spec_mnist}`: the 5,000 embedded digits with pixels thresholded at 0.5; a '
      f'factorized G (MLP {tuple(c_mnist["model"]["g_hidden"])} from z of '
      f'{c_mnist["model"]["z_dim"]} to 784 independent Bernoulli pixels), '
      f'{c_mnist["train"]["num_steps"]:,} steps at batch {c_mnist["train"]["batch_size"]}, '
      f'Adam {c_mnist["optim"]["g_lr"]:g} for every estimator, BGAN with '
      f'{c_mnist["train"]["bgan_samples"]} draws per z. Metrics of 2,500 hard samples in '
      'the shipped classifier\'s features against 2,500 binarised real digits; the floor is '
      'another 2,500 real ones. No maximum likelihood here: p(x) of this G integrates over '
      'z.',
      '',
      *mnist_table,
      '',
      *table([NAMES[e] for e in mnist],
             [[f'![{e}]({rel(os.path.join(FLAGS.figures, f"discrete_mnist_{e}.png"))})'
               for e in mnist]]),
      '',
  ])
  with open(FLAGS.output, 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  app.run(main)
