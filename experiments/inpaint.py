"""The inpainting table: docs/inpainting.md and docs/figures/inpainting.png.

    python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/inversion/dcgan_train4000 \
        --config.data.source=embedded --config.data.embedded_split=train \
        --config.eval.features.num_samples=2000
    python experiments/inpaint.py

Every row is one ``python -m gan_jax.inpaint`` command (printed as it runs) on
the first ``--num_images`` held-out digits, which neither G nor the
classifier has seen; its outputs are read back, and the FID of the
completions is computed here. Rows that already have their metrics.json are
not run again: delete a row's folder to redo it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import numpy as np  # pylint: disable=g-import-not-at-top
from absl import app, flags

from gan_jax import visualize  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import feature_metrics

FLAGS = flags.FLAGS
flags.DEFINE_string('dcgan', os.path.join(ROOT, 'runs', 'inversion', 'dcgan_train4000'),
                    'The DCGAN run (configs/dcgan.py on the 4,000 training digits).')
flags.DEFINE_string('runs', os.path.join(ROOT, 'runs', 'inpainting', 'table'),
                    'Each row\'s gan_jax.inpaint output goes to <runs>/<row>_<mask>.')
flags.DEFINE_integer('num_images', 200, 'Held-out digits per row.')
flags.DEFINE_integer('steps', 300, 'Adam steps of the semantic rows.')
flags.DEFINE_string('output', os.path.join(ROOT, 'docs', 'inpainting.md'), 'Markdown.')
flags.DEFINE_string('figure', os.path.join(ROOT, 'docs', 'figures', 'inpainting.png'), 'Figure.')

MASK_ORDER = ('center', 'left', 'right', 'blocks', 'random50', 'random80')
# (row name, label, gan_jax.inpaint flags, masks)
ROWS = (
    ('mean', 'mean training digit', ['--method=mean'], MASK_ORDER),
    ('nearest', 'nearest training digit on the known pixels', ['--method=nearest'], MASK_ORDER),
    ('semantic', 'semantic, lambda 0.003 (the paper\'s)', ['--prior_weight=0.003'], MASK_ORDER),
    ('semantic_l0', 'semantic, lambda 0 (no prior loss)', ['--prior_weight=0'], ('center',)),
    ('semantic_l01', 'semantic, lambda 0.1 (public reimplementations)',
     ['--prior_weight=0.1'], ('center',)),
    ('semantic_binary', 'semantic, binary mask instead of importance weights, lambda 0.003',
     ['--weighting=binary', '--prior_weight=0.003'], ('center',)),
)
FIGURE_DIGITS = 8


def run_row(name: str, flags_: list[str], mask: str) -> tuple[dict, dict]:
  """Runs (or reads back) one row on one mask: (metrics.json, the npz arrays)."""
  out = os.path.join(FLAGS.runs, f'{name}_{mask}')
  if not os.path.exists(os.path.join(out, 'metrics.json')):
    cmd = [sys.executable, '-m', 'gan_jax.inpaint', f'--workdir={FLAGS.dcgan}',
           f'--mask={mask}', f'--num_images={FLAGS.num_images}', f'--steps={FLAGS.steps}',
           f'--out={out}', *(flags_ if flags_[0].startswith('--method') else
                             ['--method=semantic', *flags_])]
    print('$', ' '.join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT)
    if proc.returncode:
      raise SystemExit(f'error: {name} on {mask} failed (exit {proc.returncode})')
  with open(os.path.join(out, 'metrics.json')) as f:
    record = json.load(f)
  return record, dict(np.load(os.path.join(out, 'inpainting.npz')))


def main(argv):
  del argv
  if not os.path.isdir(os.path.join(FLAGS.dcgan, 'checkpoints')):
    raise SystemExit(f'error: --dcgan={FLAGS.dcgan} has no checkpoints; train it first (the '
                     'command is in experiments/inpaint.py)')
  classifier = classifier_lib.load_classifier()
  features = lambda x: classifier_lib.apply_in_batches(classifier.features, classifier.params, x)
  reference = features(classifier_lib.digit_split().train_images)
  results = {(name, mask): run_row(name, flags_, mask)
             for name, _, flags_, masks in ROWS for mask in masks}
  truth = results['mean', 'center'][1]['images']
  fid_floor = feature_metrics.frechet_distance(features(truth), reference)

  def row(label, record, arrays, kind):
    m = record['metrics']
    suffix = '_blended' if kind == 'blended' else '_pasted'
    fid = feature_metrics.frechet_distance(features(arrays[kind]), reference)
    return (f'| {label} | {m["psnr_hole" + suffix]:.2f} | {m["ssim_hole" + suffix]:.3f} | '
            f'{100 * m["accuracy"]:.1f} | {fid:.1f} | {1e3 * record["seconds_per_image"]:.0f} |')

  header = ['| method | PSNR hole (dB) | SSIM hole | accuracy (%) | FID | ms / image |',
            '|---|---|---|---|---|---|']
  sections = []
  for mask in MASK_ORDER:
    hidden = 100 * (1 - results['mean', mask][1]['masks'].mean())
    lines = [f'**{mask}** ({hidden:.0f}% of the pixels hidden)', '', *header]
    for name, label, _, masks in ROWS[:3]:
      record, arrays = results[name, mask]
      kind = 'blended' if name == 'semantic' else 'pasted'
      lines.append(row(label + (', Poisson blended' if kind == 'blended' else ''), record,
                       arrays, kind))
    sections += lines + ['']
  ablation = [*header]
  record, arrays = results['semantic', 'center']
  ablation.append(row('semantic, lambda 0.003, pasted (no blending)', record, arrays, 'pasted'))
  ablation.append(row('semantic, lambda 0.003, Poisson blended', record, arrays, 'blended'))
  for name, label, _, _ in ROWS[3:]:
    record, arrays = results[name, 'center']
    ablation.append(row(label + ', Poisson blended', record, arrays, 'blended'))
  acc_truth = 100 * results['mean', 'center'][0]['metrics']['accuracy_truth']

  # The figure: for each mask, the input, the semantic fill, the blend and the truth.
  rows = []
  for mask in MASK_ORDER:
    arrays = results['semantic', mask][1]
    k = slice(0, FIGURE_DIGITS)
    rows += [(f'{mask}: input', np.where(arrays['masks'][k] > 0.5, arrays['images'][k], 0.0)),
             ('G(z_hat)', arrays['fill'][k]), ('blended', arrays['blended'][k])]
  rows.append(('truth', truth[:FIGURE_DIGITS]))
  os.makedirs(os.path.dirname(FLAGS.figure), exist_ok=True)
  visualize.save_png(visualize.image_rows_figure(
      rows, title='semantic inpainting of held-out digits (lambda 0.003)'), FLAGS.figure)
  fig_rel = os.path.relpath(FLAGS.figure, os.path.dirname(FLAGS.output))
  step = results['semantic', 'center'][0]['step']

  text = [
      '# Semantic inpainting',
      '',
      f'Generated by `experiments/inpaint.py`: every row is one `python -m gan_jax.inpaint` '
      f'command on the same {FLAGS.num_images} held-out digits (masks drawn with seed 0), '
      f'with G and D of `configs/dcgan.py` trained for {step:,} steps on the 4,000 other '
      f'embedded digits. Semantic inpainting (Yeh et al., arXiv 1607.07539): '
      f'{FLAGS.steps} Adam steps (rate 0.03; the paper ran about 1,500) from one draw of '
      'the prior, z kept in [-4, 4] by stochastic clipping, minimising the contextual loss '
      '|W (G(z) - y)|_1 (W the importance weights of a 7x7 window) plus lambda log(1 - '
      'D(G(z))); then G(z_hat) is Poisson blended into the hole (a conjugate-gradient '
      'solve). The baselines paste the mean of the 4,000 training digits, or the training '
      'digit closest to the known pixels, into the hole.',
      '',
      '*PSNR / SSIM hole*: on the hidden pixels only, data range [-1, 1] (SSIM with the '
      'standard 11x11 Gaussian window, averaged over the windows centred in the hole). '
      '*Accuracy*: the shipped classifier on the completed digits against their labels; '
      f'on the uncorrupted digits it is {acc_truth:.1f}%. *FID*: the completed digits '
      'against the 4,000 training digits in the classifier\'s 128 features; the '
      f'uncorrupted digits score {fid_floor:.1f} (the floor at this sample size). '
      '*ms / image*: wall time on 2 CPU cores shared with other jobs. One set of '
      f'{FLAGS.num_images} digits and one seed per row, so gaps of a few percent or a '
      'fraction of a dB are within noise; the nearest-digit rows can score below the FID '
      'floor because their holes are filled from the very training digits FID compares '
      'against.',
      '',
      *sections,
      '**Ablation on the centre mask**',
      '',
      *ablation,
      '',
      f'![Inpainting of held-out digits under each mask]({fig_rel})',
      '',
  ]
  with open(FLAGS.output, 'w') as f:
    f.write('\n'.join(text))
  print(f'Wrote {FLAGS.output} and {FLAGS.figure}')


if __name__ == '__main__':
  app.run(main)
