"""Does a conditional GAN trained on few labelled digits help a classifier of them?

    python experiments/augmentation.py                 # GANs if needed, then the table
    python experiments/augmentation.py --seeds=2 --classifier_steps=100   # a quick look

The primer's data augmentation, measured. For k labelled digits per class
(k = 10, 50, 100, 400 of the 4,000 embedded training digits; nested subsets,
``data.examples_per_class``):
  1. a conditional GAN is trained on those k x 10 digits only (the runs of
     experiments/sweeps/augmentation.py, through the sweep engine; for
     k = 400, i.e. all 4,000, the projection run of experiments/sweeps/cgan.py,
     which has the same config and data);
  2. a fresh classifier is trained on
       real      the k x 10 real digits alone,
       real+GAN  them plus r x k x 10 digits drawn from that GAN (labels as
                 asked, every class equally), for each ratio r in --ratios,
       GAN       r = 1's generated digits alone (a small-data CAS);
  3. each is tested on the 1,000 held-out digits that neither the GANs nor any
     classifier saw. ``--seeds`` classifier seeds (initialisation, batch order,
     shifts) per cell: mean +- standard error. The generated digits of a k are
     one draw of one GAN, so the error bars leave out the GAN's own seed.

The classifier is ``classifier.DigitCNN(widths=(8, 16, 32), feature_dim=64)``
trained by ``classifier.train_classifier`` for a fixed ``--classifier_steps``
steps of min(64, N) digits with random shifts: no model selection on the
test set. Writes ``--output`` (markdown), ``--figure`` (accuracy vs k) and
the per-seed accuracies beside the markdown as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import jax  # pylint: disable=g-import-not-at-top
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from absl import app, flags, logging

from experiments import sweep as sweep_lib
from gan_jax import jsonl, trained
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.seeds import mean_and_stderr

SWEEP_FILE = os.path.join(ROOT, 'experiments', 'sweeps', 'augmentation.py')
CGAN_SWEEP_FILE = os.path.join(ROOT, 'experiments', 'sweeps', 'cgan.py')
MODEL = classifier_lib.DigitCNN(widths=(8, 16, 32), feature_dim=64)
SAMPLE_KEY = 20_261_201  # the key of the generated digits

FLAGS = flags.FLAGS
flags.DEFINE_string('sweep_dir', os.path.join(ROOT, 'runs', 'sweeps', 'augmentation'),
                    'Where the GAN runs live (trained there if unfinished).')
flags.DEFINE_string('cgan_sweep_dir', os.path.join(ROOT, 'runs', 'sweeps', 'cgan'),
                    "experiments/sweeps/cgan.py's runs (k = 400: its projection run).")
flags.DEFINE_integer('seeds', 5, 'Classifier seeds per cell.')
flags.DEFINE_list('ratios', ['1', '4'], 'Generated digits per real digit added.')
flags.DEFINE_integer('classifier_steps', 300, 'Adam steps of each classifier.')
flags.DEFINE_string('output', os.path.join(ROOT, 'docs', 'augmentation.md'), 'Markdown.')
flags.DEFINE_string('figure', os.path.join(ROOT, 'docs', 'figures', 'augmentation.png'),
                    'The plot.')


def generated_digits(workdir: str, num: int):
  """``num`` digits of the run's final generator, every class equally often."""
  config = trained.load_run_config(workdir)
  dataset = trained.load_dataset(config)
  state, sample, game = trained.restore(workdir, config, dataset)
  images, labels = [], []
  for i in range(-(-num // 500)):
    inputs = game.task.sample_inputs(jax.random.fold_in(jax.random.PRNGKey(SAMPLE_KEY), i),
                                     500)
    images.append(np.asarray(sample(state, inputs)))
    labels.append(np.asarray(inputs['label']))
  real = (dataset.images.astype(np.float32) / 127.5 - 1.0, dataset.labels.astype(np.int32))
  return real, (np.concatenate(images)[:num], np.concatenate(labels)[:num])


def held_out_accuracy(images, labels, seed: int) -> float:
  return classifier_lib.train_classifier(
      seed=seed, num_steps=FLAGS.classifier_steps, batch_size=min(64, len(images)),
      model=MODEL, images=images, labels=labels).test_accuracy


def arms(real, generated, ratios):
  """{arm name: (images, labels)} of one k."""
  (rx, ry), (gx, gy) = real, generated
  n = len(rx)
  out = {'real': (rx, ry)}
  for r in ratios:
    out[f'real+GAN x{r}'] = (np.concatenate([rx, gx[:r * n]]), np.concatenate([ry, gy[:r * n]]))
  out['GAN'] = (gx[:n], gy[:n])
  return out


def plot(results: dict, path: str) -> None:
  fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
  ks = sorted(results, key=int)
  for arm in results[ks[0]]:
    stats = [mean_and_stderr(np.asarray(results[k][arm])) for k in ks]
    ax.errorbar([int(k) for k in ks], [100 * m for m, _ in stats],
                yerr=[100 * s for _, s in stats], marker='o', capsize=3, label=arm)
  ax.set(xscale='log', xlabel='labelled real digits per class (k)',
         ylabel='held-out accuracy (%)', title='Classifier trained with and without GAN digits')
  ax.set_xticks([int(k) for k in ks], [str(k) for k in ks])
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, bbox_inches='tight')
  plt.close(fig)


def markdown(results: dict, gan_metrics: dict, minutes: float) -> str:
  ks = sorted(results, key=int)
  names = list(results[ks[0]])
  lines = [
      '# Data augmentation with a conditional GAN',
      '',
      '<!-- Generated by experiments/augmentation.py; do not edit by hand. -->',
      '',
      f'Held-out accuracy (%) on the 1,000 embedded test digits, mean +- standard error '
      f'over {FLAGS.seeds} classifier seeds; classifier DigitCNN(8, 16, 32; 64) trained '
      f'{FLAGS.classifier_steps} steps. One conditional GAN per k '
      f'(`{sweep_lib.load_sweep(SWEEP_FILE)[0]}`, trained on the k x 10 digits only); '
      "'GAN' trains on its digits alone, as many as the real ones. The last two columns are "
      "the GAN's own scores on the held-out digits (class_conditional evaluator).",
      '',
      '| k per class | ' + ' | '.join(names) + ' | GAN accuracy | GAN intra-FID |',
      '|---|' + '---|' * (len(names) + 2),
  ]
  for k in ks:
    cells = []
    for arm in names:
      m, s = mean_and_stderr(np.asarray(results[k][arm]))
      cells.append(f'{100 * m:.1f} +- {100 * s:.1f}')
    g = gan_metrics[k]
    lines.append(f'| {k} | ' + ' | '.join(cells)
                 + f" | {100 * g['conditional/accuracy']:.1f} | {g['conditional/intra_fid']:.1f} |")
  lines += ['', verdict(results), '',
            f'![held-out accuracy against k](figures/{os.path.basename(FLAGS.figure)})', '',
            f'Took {minutes:.1f} minutes for the classifiers (the GANs not counted), '
            f'on {jax.devices()[0].device_kind}.', '']
  return '\n'.join(lines)


def verdict(results: dict) -> str:
  """Where adding GAN digits changed accuracy by more than 2 combined standard errors."""
  said = []
  for k in sorted(results, key=int):
    base, base_se = mean_and_stderr(np.asarray(results[k]['real']))
    for arm, values in results[k].items():
      if not arm.startswith('real+GAN'):
        continue
      m, se = mean_and_stderr(np.asarray(values))
      gap, noise = m - base, 2 * np.hypot(se, base_se)
      word = 'helps' if gap > noise else 'hurts' if gap < -noise else 'makes no clear difference'
      said.append(f'k={k}, {arm}: {word} ({100 * gap:+.1f} points, 2 s.e. = {100 * noise:.1f})')
  return ('Verdict (a difference counts when it exceeds 2 combined standard errors): '
          + '; '.join(said) + '.')


def gan_runs() -> dict[int, str]:
  """{k: workdir of the GAN trained on k digits per class}, training unfinished ones."""
  workdirs = {}
  for sweep_file, sweep_dir in ((SWEEP_FILE, FLAGS.sweep_dir),
                                (CGAN_SWEEP_FILE, FLAGS.cgan_sweep_dir)):
    config_spec, overrides = sweep_lib.load_sweep(sweep_file)
    runs = sweep_lib.make_runs(config_spec, overrides, sweep_dir)
    if sweep_file == CGAN_SWEEP_FILE:  # only the projection run: all 400 per class
      runs = [r for r in runs if r.overrides['model.d_conditioning'] == 'projection']
    failed = sweep_lib.run_all(runs, config_spec, ())
    if failed:
      raise SystemExit(f'error: GAN run(s) failed: {[r.name for r in failed]}')
    for run in runs:
      workdirs[run.overrides.get('data.examples_per_class', 400)] = run.workdir
  return dict(sorted(workdirs.items()))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  ratios = [int(r) for r in FLAGS.ratios]
  workdirs = gan_runs()
  start = time.perf_counter()
  results, gan_metrics = {}, {}
  for per_class, workdir in workdirs.items():
    k = str(per_class)
    real, generated = generated_digits(workdir, max(ratios) * 10 * per_class)
    gan_metrics[k] = [r for r in jsonl.read(
        os.path.join(workdir, jsonl.EVAL_LOG)) if 'conditional/accuracy' in r][-1]
    results[k] = {}
    for arm, (x, y) in arms(real, generated, ratios).items():
      results[k][arm] = [held_out_accuracy(x, y, seed) for seed in range(FLAGS.seeds)]
      print(f'k={k:>3} {arm:>14}: ' + ' '.join(f'{a:.3f}' for a in results[k][arm]),
            flush=True)
  minutes = (time.perf_counter() - start) / 60
  os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
  with open(FLAGS.output, 'w') as f:
    f.write(markdown(results, gan_metrics, minutes))
  with open(os.path.splitext(FLAGS.output)[0] + '.json', 'w') as f:
    json.dump({'per_seed_accuracy': results, 'classifier_steps': FLAGS.classifier_steps,
               'ratios': ratios, 'seeds': FLAGS.seeds}, f, indent=1)
  plot(results, FLAGS.figure)
  print(f'wrote {FLAGS.output} and {FLAGS.figure}')


if __name__ == '__main__':
  app.run(main)
