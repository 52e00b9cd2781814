"""The inversion table: docs/inversion.md and docs/figures/inversion.png.

    python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/inversion/dcgan_train4000 \
        --config.data.source=embedded --config.data.embedded_split=train \
        --config.eval.features.num_samples=2000
    python -m gan_jax.main --config=configs/bigan.py --workdir=runs/inversion/bigan
    python experiments/invert.py

Both GANs are trained on the 4,000 embedded digits the shipped classifier was
trained on, so the 1,000 held-out digits are new to G, E and the classifier.
Every row is one ``python -m gan_jax.invert`` command (printed as it runs),
on G's own samples G(z*) and on held-out digits; its metrics.json is read
back into the table. Rows that already have their metrics.json (under
``--runs``) are not run again: delete a row's folder to redo it.
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

FLAGS = flags.FLAGS
flags.DEFINE_string('dcgan', os.path.join(ROOT, 'runs', 'inversion', 'dcgan_train4000'),
                    'The DCGAN run (configs/dcgan.py on the 4,000 training digits).')
flags.DEFINE_string('bigan', os.path.join(ROOT, 'runs', 'inversion', 'bigan'),
                    'The BiGAN run (configs/bigan.py).')
flags.DEFINE_string('runs', os.path.join(ROOT, 'runs', 'inversion', 'table'),
                    'Each row\'s gan_jax.invert output goes to <runs>/<row>_<images>.')
flags.DEFINE_integer('num_images', 100, 'Images per row and set (the first of each).')
flags.DEFINE_integer('steps', 200, 'Adam steps of the optimising rows.')
flags.DEFINE_list('rows', [], 'Run only these rows (default: all, then write the table).')
flags.DEFINE_integer('restarts', 2, 'Starts per image of the optimising rows.')
flags.DEFINE_string('output', os.path.join(ROOT, 'docs', 'inversion.md'), 'Markdown.')
flags.DEFINE_string('figure', os.path.join(ROOT, 'docs', 'figures', 'inversion.png'), 'Figure.')

# (row name, label, which run, gan_jax.invert flags)
ROWS = (
    ('optimize', 'optimise the pixel MSE, clipping to [-4, 4]', 'dcgan',
     ['--method=optimize']),
    ('optimize_features', 'the same + 0.01 x classifier-feature distance', 'dcgan',
     ['--method=optimize', '--feature_weight=0.01']),
    ('encoder', 'encoder E(x) trained on G(z), z known (2,000 steps)', 'dcgan',
     ['--method=encoder']),
    ('hybrid', 'E(x), then optimise from it (1 start)', 'dcgan', ['--method=hybrid']),
    ('bigan', 'BiGAN: its own E(x), learned adversarially', 'bigan', ['--method=bigan']),
)
SETS = ('samples', 'held_out')
FIGURE_DIGITS = 10


def run_row(name: str, run: str, flags_: list[str], images: str) -> dict:
  """Runs (or reads back) one row on one image set; returns its metrics.json."""
  out = os.path.join(FLAGS.runs, f'{name}_{images}')
  result = os.path.join(out, 'metrics.json')
  if not os.path.exists(result):
    cmd = [sys.executable, '-m', 'gan_jax.invert', f'--workdir={run}', f'--images={images}',
           f'--num_images={FLAGS.num_images}', f'--steps={FLAGS.steps}',
           f'--restarts={FLAGS.restarts}', f'--out={out}', *flags_]
    print('$', ' '.join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT)
    if proc.returncode:
      raise SystemExit(f'error: {name} on {images} failed (exit {proc.returncode})')
  with open(result) as f:
    return json.load(f)


def jacobian_spectrum(workdir: str, num: int = 16) -> np.ndarray:
  """(num, d) singular values of dG/dz at ``num`` draws of z, each row over its largest."""
  import jax  # pylint: disable=g-import-not-at-top
  from gan_jax import trained  # pylint: disable=g-import-not-at-top
  gan = trained.load(workdir)
  z = jax.random.normal(jax.random.PRNGKey(0), (num, gan.z_dim))
  flat = lambda v: gan.generate(v[None])[0].reshape(-1)
  s = np.linalg.svd(np.asarray(jax.vmap(jax.jacfwd(flat))(z)), compute_uv=False)
  return s / s[:, :1]


def fmt(value, kind: str) -> str:
  if value is None:
    return 'n/a'
  return {'pct': f'{100 * value:.1f}', 'g': f'{value:.3g}', 'ms': f'{1e3 * value:.0f}'}[kind]


def main(argv):
  del argv
  runs = {'dcgan': FLAGS.dcgan, 'bigan': FLAGS.bigan}
  for key, path in runs.items():
    if not os.path.isdir(os.path.join(path, 'checkpoints')):
      raise SystemExit(f'error: --{key}={path} has no checkpoints; train it first (the '
                       'commands are in experiments/invert.py)')
  chosen = [row for row in ROWS if not FLAGS.rows or row[0] in FLAGS.rows]
  results = {(name, images): run_row(name, runs[run], flags_, images)
             for name, _, run, flags_ in chosen for images in SETS}
  if FLAGS.rows:
    return
  jacobian = jacobian_spectrum(FLAGS.dcgan)

  header = ('| method | samples: recovered (%) | samples: latent RMSE | samples: pixel MSE '
            '| held out: pixel MSE | held out: feature distance | held out: label kept (%) '
            '| ms / image |')
  lines = [header, '|---|---|---|---|---|---|---|---|']
  for name, label, run, _ in ROWS:
    s, h = results[name, 'samples'], results[name, 'held_out']
    ms, mh = s['metrics'], h['metrics']
    lines.append(f'| {label} | {fmt(ms["recovery_rate"], "pct")} | '
                 f'{fmt(ms["latent_rmse"], "g")} | {fmt(ms["pixel_mse"], "g")} | '
                 f'{fmt(mh["pixel_mse"], "g")} | {fmt(mh["feature_distance"], "g")} | '
                 f'{fmt(mh["label_kept"], "pct")} | {fmt(h["seconds_per_image"], "ms")} |')
  any_held = results[ROWS[0][0], 'held_out']
  steps = {run: results[ROWS[[r[2] for r in ROWS].index(run)][0], 'samples']['step']
           for run in runs}

  # The figure: held-out digits, then each method's reconstruction and its error map.
  first = np.load(os.path.join(FLAGS.runs, f'{ROWS[0][0]}_held_out', 'inversion.npz'))
  rows = [('x (held out)', first['images'][:FIGURE_DIGITS])]
  for name, _, _, _ in ROWS:
    arrays = np.load(os.path.join(FLAGS.runs, f'{name}_held_out', 'inversion.npz'))
    recon = arrays['recon'][:FIGURE_DIGITS]
    rows += [(name, recon), ('|error|', np.abs(recon - arrays['images'][:FIGURE_DIGITS]))]
  os.makedirs(os.path.dirname(FLAGS.figure), exist_ok=True)
  visualize.save_png(visualize.image_rows_figure(
      rows, title='G(z_hat) for held-out digits (BiGAN row: its own G)'), FLAGS.figure)
  fig_rel = os.path.relpath(FLAGS.figure, os.path.dirname(FLAGS.output))

  text = [
      '# Recovering z from x',
      '',
      f'Generated by `experiments/invert.py`: every row is one `python -m gan_jax.invert` '
      f'command. G is `configs/dcgan.py` (DCGAN, z of 100 dimensions) trained for '
      f'{steps["dcgan"]:,} steps on the 4,000 embedded MNIST digits the shipped classifier '
      f'was trained on; the BiGAN row is `configs/bigan.py`, trained for '
      f'{steps["bigan"]:,} steps on the same digits, with its own G. Each row is scored on '
      f'{FLAGS.num_images} of G\'s own samples G(z*), z* ~ N(0, I) (first three columns), '
      f'and on {FLAGS.num_images} of the 1,000 held-out digits (the other four). The '
      f'optimising rows run {FLAGS.steps} Adam steps at rate 0.05 from '
      f'{FLAGS.restarts} draws of the prior and keep the best; the hybrid row one start '
      f'at E(x).',
      '',
      '*Recovered*: |z_hat - z*| / sqrt(d) < 0.01 (a sample counts once its latent is '
      'found, not merely an image like it). *Latent RMSE*: the mean of |z_hat - z*| / '
      'sqrt(d). *Pixel MSE*: mean (G(z_hat) - x)^2 on [-1, 1] pixels. *Feature distance*: '
      'mean |f(G(z_hat)) - f(x)|_2 in the shipped classifier\'s 128 features. *Label kept*: '
      'the classifier labels G(z_hat) as x\'s true label; it labels the originals '
      f'themselves right {fmt(any_held["metrics"]["label_real"], "pct")}% of the time (the '
      'ceiling). *ms / image*: wall time of the inversion per held-out image on 2 CPU '
      'cores (shared with other jobs), excluding the one-off encoder training.',
      '',
      *lines,
      '',
      'Why a sample\'s own z is not found even when its pixels are matched: dG/dz at 16 '
      f'draws of z (784 x {jacobian.shape[1]}) has a median of '
      f'{int(np.median(np.sum(jacobian < 0.01, axis=1)))} of its {jacobian.shape[1]} '
      'singular values below 1% of its largest (its 10th, 25th and 50th are '
      f'{np.median(jacobian[:, 9]):.3f}, {np.median(jacobian[:, 24]):.3f} and '
      f'{np.median(jacobian[:, 49]):.4f} of it): G barely changes along most directions '
      'of z, so images that agree to a small pixel error can sit far apart in z.',
      '',
      f'![Held-out digits, each method\'s reconstruction and its error map |G(z_hat) - x|]'
      f'({fig_rel})',
      '',
  ]
  with open(FLAGS.output, 'w') as f:
    f.write('\n'.join(text))
  print(f'Wrote {FLAGS.output} and {FLAGS.figure}')


if __name__ == '__main__':
  app.run(main)
