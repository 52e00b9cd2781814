"""Super-resolution of the held-out digits at x2 and x4: SRResNet, SRGAN, ESRGAN vs bicubic.

    python experiments/superres.py                  # train the 6 runs, then the table
    python experiments/superres.py --collect_only   # only the table and figures

Trains experiments/sweeps/superres.py (configs/superres.py at x2 and x4, each
with the L1 content loss alone, SRGAN's and ESRGAN's objective; about 3
minutes a run on two CPU cores), then writes docs/superres.md and its figures:
  - the table: the last evaluation of each run (its 'translation' and
    'features' evaluators on the 1,000 held-out digits) beside bicubic
    upsampling of the same inputs, scored here by the same evaluator classes;
  - the perception-distortion curve (Blau & Michaeli 2018): the generator
    theta(alpha) = (1 - alpha) theta_L1 + alpha theta_GAN between the
    content-only run of one scale and each adversarial run fine-tuned from it
    (ESRGAN's network interpolation), PSNR against FID at alpha = 0, 0.25, ..., 1;
  - a grid of ten held-out digits: input, bicubic, each method, the truth.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top

from configs.superres import LOSSES  # pylint: disable=g-import-not-at-top
from experiments import translation_runs as tr  # pylint: disable=g-import-not-at-top
from gan_jax.data import domains  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string('runs_dir', 'runs', 'The sweep trains into <runs_dir>/superres/.')
flags.DEFINE_bool('collect_only', False, 'Train nothing; tabulate the finished runs.')
flags.DEFINE_string('output', os.path.join(tr.REPO, 'docs', 'superres.md'), 'The markdown.')
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
METHOD_NAMES = {'l1': 'SRResNet (L1)', 'l2': 'SRResNet (MSE)', 'srgan': 'SRGAN',
                'esrgan': 'ESRGAN'}


def method_of(config: dict) -> str:
  t = config['train']
  weights = (t['loss'], t['adversarial_weight'], t['l1_weight'], t['l2_weight'],
             t['feature_weight'])
  return next((k for k, v in LOSSES.items() if tuple(v) == weights), 'custom')


def interpolate(state, other, alpha: float):
  mix = jax.tree.map(lambda a, b: (1 - alpha) * a + alpha * b, state.params['generator'],
                     other.params['generator'])
  return state.replace(params={**state.params, 'generator': mix})


def main(argv):
  del argv
  start = time.time()
  if not FLAGS.collect_only:
    tr.train('superres', FLAGS.runs_dir)
  runs = tr.collect('superres', FLAGS.runs_dir)
  if not runs:
    raise SystemExit('error: no finished superres runs; run without --collect_only')
  figures = os.path.join(os.path.dirname(FLAGS.output), 'figures')
  rows, curves, grids = [], {}, []
  for scale in sorted({r.config['model']['scale'] for r in runs}):
    of_scale = {method_of(r.config): r for r in runs if r.config['model']['scale'] == scale}
    config, dataset = tr.load_data(next(iter(of_scale.values())).workdir)
    scorer = tr.Scorer(dataset, config.eval.features.num_samples)
    inputs = tr.as_float(dataset.test_a)
    kind = dataset.downsampling[1]
    bicubic = domains.upsample(inputs, scale, 'bicubic')
    bicubic_score = scorer.score(bicubic)
    rows.append((scale, 'bicubic upsampling', bicubic_score, None))
    shown = tr.one_per_class(dataset.test_labels_a)
    grid = [(f'input {inputs.shape[1]}x{inputs.shape[2]}',
             domains.upsample(inputs[shown], scale, 'nearest')), ('bicubic', bicubic[shown])]
    restored = {}
    for method, run in of_scale.items():
      restored[method], sampler = tr.restore(run.workdir, dataset)
      outputs = tr.translate(sampler, restored[method], inputs)
      rows.append((scale, METHOD_NAMES.get(method, method), scorer.rescored(run, outputs), run))
      grid.append((METHOD_NAMES.get(method, method),
                   tr.translate(sampler, restored[method], inputs[shown])))
    grid.append(('truth', tr.as_float(dataset.test_b[shown])))
    grids.append((scale, kind, grid))
    rows.append((scale, 'real digits (floor)', runs[0].floor, None))
    if 'l1' in restored:
      for method in ('srgan', 'esrgan'):
        if method not in restored:
          continue
        points = []
        for alpha in ALPHAS:
          out = tr.translate(sampler, interpolate(restored['l1'], restored[method], alpha), inputs)
          s = scorer.score(out)
          points.append((alpha, s['translation/psnr'], s['features/fid']))
          print(f'x{scale} L1 -> {method} alpha {alpha}: PSNR {points[-1][1]:.2f} '
                f'FID {points[-1][2]:.2f}', flush=True)
        curves[(scale, method)] = points
      curves[(scale, 'bicubic')] = [(None, bicubic_score['translation/psnr'],
                                     bicubic_score['features/fid'])]
  grid_paths = []
  for scale, kind, grid in grids:
    path = os.path.join(figures, f'superres_x{scale}.png')
    tr.image_rows(path, grid, f'x{scale} super-resolution of held-out digits ({kind} '
                  'downsampling); rows: input, bicubic, each generator, truth')
    grid_paths.append(path)
  curve_path = os.path.join(figures, 'superres_perception_distortion.png')
  plot_curves(curves, curve_path)
  tr.write(FLAGS.output, markdown(rows, runs, grid_paths, curve_path, curves,
                                  tr.elapsed(runs, start)))
  print(f'Wrote {FLAGS.output}', flush=True)


def plot_curves(curves, path):
  scales = sorted({s for s, _ in curves})
  fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales), 3.4), squeeze=False)
  for ax, scale in zip(axes[0], scales):
    for (s, method), points in sorted(curves.items()):
      if s != scale:
        continue
      psnr, fid = [p[1] for p in points], [p[2] for p in points]
      if method == 'bicubic':
        ax.scatter(psnr, fid, marker='x', color='k', label='bicubic')
        continue
      ax.plot(psnr, fid, 'o-', label=f'L1 -> {METHOD_NAMES[method]}')
      for alpha, x, y in points:
        ax.annotate(f'{alpha:g}', (x, y), fontsize=7, xytext=(3, 3), textcoords='offset points')
    ax.set_xlabel('PSNR, dB (distortion: right is better)')
    ax.set_ylabel('FID (perception: down is better)')
    ax.set_title(f'x{scale}: network interpolation, alpha marked', fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def markdown(rows, runs, grid_paths, curve_path, curves, elapsed: str) -> str:
  rel = lambda p: os.path.relpath(p, os.path.dirname(FLAGS.output))
  budget = next((r for r in runs if not r.config['train'].get('init_from')),
                runs[0]).config['train']
  tuned = [r.config for r in runs if r.config['train'].get('init_from')]
  tuned_steps = f'{tuned[0]["train"]["num_steps"]:,}' if tuned else 'no'
  tuned_lr = f'{tuned[0]["optim"]["g_lr"]:g}' if tuned else '-'
  lines = [
      '# Super-resolution of digits',
      '',
      '<!-- Generated by experiments/superres.py; do not edit by hand. -->',
      '',
      f'`python experiments/superres.py` ({elapsed}; {tr.machine()}). '
      f'configs/superres.py: the 4,000 training digits of the embedded MNIST downsampled '
      f'(bicubic) to 14x14 (x2) or 7x7 (x4); the L1 run {budget["num_steps"]:,} steps of '
      f'{budget["batch_size"]} from the seed, then SRGAN and ESRGAN {tuned_steps} more '
      f'from its generator (`train.init_from`, G at {tuned_lr}, D from the seed), one seed '
      'each; the minutes are each run\'s own; every number is on the 1,000 held-out digits, '
      'from the run\'s own evaluators at its last step, except FID, which the script '
      'recomputes on the translations of the 1,000 held-out inputs, each once (bicubic: '
      'the same evaluator classes, scored by the script). PSNR and SSIM in [-1, 1] against the truth; LR PSNR is '
      'the low-res consistency PSNR(down(SR), LR); accuracy is the shipped classifier on '
      'the super-resolved digits; FID in its features against 1,000 training digits.',
      '',
      tr.line(['scale', 'method', 'PSNR dB', 'SSIM', 'LR PSNR dB', 'accuracy %', 'FID',
            'minutes']),
      tr.line(['---'] * 8),
  ]
  columns = (('translation/psnr', '.2f'), ('translation/ssim', '.3f'),
             ('translation/lr_psnr', '.1f'), ('translation/accuracy', '.1f'),
             ('features/fid', '.2f'))
  for scale, name, m, run in rows:
    lines.append(tr.line([f'x{scale}', name, *tr.metric_cells(m, columns),
                          tr.fmt(run.minutes if run else float('nan'), '.1f')]))
  lines += [
      '',
      'The floor row is the truth itself (PSNR infinite; its LR PSNR is only the '
      'rounding of the low-res input to 8 bits) and, for FID, 1,000 other training '
      'digits. SRGAN and ESRGAN minimise a distance in the classifier\'s features, the '
      'network the accuracy and FID are measured with, so their rows are partly '
      'optimised for those two columns; PSNR, SSIM and LR PSNR are independent of it. '
      'As in the papers, the adversarial generator is fine-tuned from the PSNR-oriented '
      'one; they train for 10^5-10^6 steps on natural images, so no published number '
      'applies here.',
      '',
      f'![perception-distortion]({rel(curve_path)})',
      '',
      'Network interpolation theta(alpha) = (1 - alpha) theta_L1 + alpha theta_GAN of '
      'the L1 generator and the adversarial one fine-tuned from it (ESRGAN\'s): alpha = 0 '
      'is the L1 generator, 1 the adversarial one. Read off the points: whether FID '
      'falls all the way as alpha grows, and at which alpha PSNR is highest (a pure '
      'trade-off would have it at 0; averaging two nearby networks can gain a little):',
      '',
  ]
  for (scale, method), points in sorted(curves.items()):
    if method != 'bicubic':
      psnr, fid = [p for _, p, _ in points], [f for _, _, f in points]
      falls = all(a >= b for a, b in zip(fid, fid[1:]))
      best = points[psnr.index(max(psnr))][0]
      shape = (f'FID {"falls at every step" if falls else "does not fall monotonically"}, '
               f'PSNR highest at alpha {best:g}')
      lines.append(f'- x{scale}, L1 -> {METHOD_NAMES[method]} ({shape}): ' + ', '.join(
          f'alpha {a:g}: {p:.2f} dB / FID {f:.2f}' for a, p, f in points))
  lines.append('')
  for path in grid_paths:
    lines += [f'![grid]({rel(path)})', '']
  return '\n'.join(lines)


if __name__ == '__main__':
  app.run(main)
