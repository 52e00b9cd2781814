"""CycleGAN on unpaired digits: load_digits -> MNIST with its ablation, and a transform pair.

    python experiments/cyclegan.py                  # train the 9 runs, then the tables
    python experiments/cyclegan.py --collect_only   # only the tables and the figures

Trains experiments/sweeps/cyclegan.py (configs/cyclegan.py: A = scikit-learn's
digits in MNIST's framing, B = MNIST; cycle weight {10, 0} x identity {0.5, 0}
x pool {50, 0}) and experiments/sweeps/cyclegan_transform.py (A = MNIST dilated
and inverted, B = MNIST, disjoint halves); about 3.5 minutes a run on two CPU
cores. Writes docs/cyclegan.md: each run's last evaluation of G_ab on the held-
out A digits (CyCADA's protocol: the accuracy of a classifier of the target
domain, here the shipped MNIST classifier, on the translations; the cycle
reconstruction error; FID against MNIST), beside the untranslated inputs
(scored by the same evaluator classes) and real MNIST; and, per domain pair, a
figure of ten held-out inputs, their translations and reconstructions.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # pylint: disable=g-import-not-at-top

from experiments import translation_runs as tr  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation.evaluators import ImageFeatures  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation.translation_metrics import Translation  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string('runs_dir', 'runs', 'The sweeps train into <runs_dir>/cyclegan*/.')
flags.DEFINE_bool('collect_only', False, 'Train nothing; tabulate the finished runs.')
flags.DEFINE_string('output', os.path.join(tr.REPO, 'docs', 'cyclegan.md'), 'The markdown.')
SWEEPS = ('cyclegan', 'cyclegan_transform')
PAPER = (10.0, 0.5, 50)  # CycleGAN's cycle weight, identity weight, pool size


def settings(config: dict) -> tuple[float, float, int]:
  t = config['train']
  return t['cycle_weight'], t['identity_weight'], t['pool_size']


def domain_pair(config: dict) -> str:
  d = config['data']
  name = lambda side: d[f'domain_{side}'] + ''.join('+' + t for t in d[f'transforms_{side}'])
  return f'{name("a")} -> {name("b")}'


def baseline(dataset, features) -> dict:
  """The untranslated held-out inputs, scored as if they were translations."""
  inputs = tr.as_float(dataset.test_a)
  translation = Translation('translation', dataset, None, 0, every=0)
  return {**{f'translation/{k}': v for k, v in translation.score(inputs).items()},
          'features/fid': features.score(inputs[:features.num_samples])['fid']}


def rescore(runs, features, inputs) -> list:
  """Each run with its FID recomputed on the translations of every held-out input."""
  out = []
  for run in runs:
    _, _, _, state, sampler = tr.restore(run.workdir)
    run.final = tr.rescored_fid(run, features, tr.translate(sampler, state, inputs))
    out.append(run)
  return out


def main(argv):
  del argv
  start = time.time()
  if not FLAGS.collect_only:
    for sweep in SWEEPS:
      tr.train(sweep, FLAGS.runs_dir)
  runs = [run for sweep in SWEEPS for run in tr.collect(sweep, FLAGS.runs_dir)]
  if not runs:
    raise SystemExit('error: no finished cyclegan runs; run without --collect_only')
  figures = os.path.join(os.path.dirname(FLAGS.output), 'figures')
  tables, shown_figures = {}, []
  for pair in dict.fromkeys(domain_pair(r.config) for r in runs):
    of_pair = [r for r in runs if domain_pair(r.config) == pair]
    config, dataset, _, _, _ = tr.restore(of_pair[0].workdir)
    features = ImageFeatures('features', dataset, None, 0, every=0,
                             num_samples=config.eval.features.num_samples)
    tables[pair] = (baseline(dataset, features),
                    rescore(of_pair, features, tr.as_float(dataset.test_a)))
    # The paper's setting and the same without the identity term, where both ran.
    shown_runs = [r for setting in (PAPER, (10.0, 0.0, 50)) for r in of_pair
                  if settings(r.config) == setting] or of_pair[:1]
    shown = tr.one_per_class(dataset.test_labels_a)
    inputs = tr.as_float(dataset.test_a[shown])
    rows = [('input (A)', inputs)]
    for run in shown_runs:
      _, _, _, state, sampler = tr.restore(run.workdir)
      c, i, p = settings(run.config)
      rows += [(f'G_ab(a), identity {i:g}', tr.translate(sampler, state, inputs)),
               (f'G_ba(G_ab(a)), identity {i:g}',
                tr.translate(sampler, state, inputs, 'cycle_a'))]
    path = os.path.join(figures, f'cyclegan_{pair.split(" ")[0].replace("+", "_")}.png')
    tr.image_rows(path, rows, f'CycleGAN {pair} (cycle 10, pool 50): held-out inputs, '
                  'translations and reconstructions')
    shown_figures.append(path)
  tr.write(FLAGS.output, markdown(tables, runs, shown_figures, (time.time() - start) / 60))
  print(f'Wrote {FLAGS.output}', flush=True)


def markdown(tables, runs, figures, minutes) -> str:
  t = runs[0].config['train']
  lines = [
      '# CycleGAN on unpaired digits',
      '',
      '<!-- Generated by experiments/cyclegan.py; do not edit by hand. -->',
      '',
      f'`python experiments/cyclegan.py` ({minutes:.0f} min here; {tr.machine()}). '
      'configs/cyclegan.py: ResNet translators and PatchGANs at a quarter of the '
      f'paper\'s widths, least squares, {t["num_steps"]:,} steps of {t["batch_size"]} '
      '(one seed each), Adam 2e-4 decaying linearly to 0 over the second half. G_ab is '
      'scored on the held-out A digits by the run\'s own evaluators at its last step '
      '(FID recomputed by the script on the translations of every held-out input, each '
      'once): '
      'accuracy = the shipped MNIST classifier (the target domain\'s) labels the '
      'translation as the input\'s digit (CyCADA\'s protocol); cycle L1 = mean '
      '|G_ba(G_ab(a)) - a| per pixel in [-1, 1]; FID against MNIST training digits in the '
      'classifier\'s features. "No translation" scores the inputs themselves.',
      '',
  ]
  for pair, (base, of_pair) in tables.items():
    lines += [f'## {pair}', '',
              tr.line(['cycle weight', 'identity weight', 'pool', 'accuracy %', 'cycle L1',
                       'FID', 'minutes']),
              tr.line(['---'] * 7),
              tr.line(['no translation', '', '', tr.fmt(base['translation/accuracy'], '.1f'),
                       '—', tr.fmt(base['features/fid'], '.2f'), '—'])]
    for run in of_pair:
      c, i, p = settings(run.config)
      mark = ' (the paper\'s)' if (c, i, p) == PAPER else ''
      lines.append(tr.line([f'{c:g}{mark}', f'{i:g}', p,
                            tr.fmt(run.metric('translation/accuracy'), '.1f'),
                            tr.fmt(run.metric('translation/cycle_l1'), '.3f'),
                            tr.fmt(run.metric('features/fid'), '.2f'),
                            tr.fmt(run.minutes, '.1f')]))
    floor = of_pair[0].floor
    lines += [tr.line(['real MNIST (floor)', '', '', tr.fmt(
        floor.get('translation/accuracy', float('nan')), '.1f'), '—',
        tr.fmt(floor.get('features/fid', float('nan')), '.2f'), '—']), '']
  lines += [
      'The floor is the classifier on the real MNIST test digits and the FID of as '
      'many other real training digits. CyCADA (Hoffman et al. 2018) reports 95.6% for '
      'its pixel-level MNIST -> USPS translation (recalled from the paper, not '
      'checked here); its domains, classifier and budget differ, so it is a reference '
      'point, not a comparison. One seed per setting: differences of a few points are '
      'within what a second seed could change. The identity term is weighted mu x '
      'lambda, as in the authors\' code (lambda_identity x lambda_B), so with cycle '
      'weight 0 it is 0 too: those rows with identity 0.5 and 0 are the same run, '
      'bit for bit. Where a row has a low cycle L1 but chance accuracy, G_ab has '
      'learned to hide its input in an image D_b accepts and G_ba decodes it (Chu et '
      'al. 2017, "CycleGAN, a master of steganography"): the figures show it.',
      '',
  ]
  rel = lambda p: os.path.relpath(p, os.path.dirname(FLAGS.output))
  for path in figures:
    lines += [f'![cyclegan]({rel(path)})', '']
  return '\n'.join(lines)


if __name__ == '__main__':
  app.run(main)
