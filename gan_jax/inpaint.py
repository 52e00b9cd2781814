"""Fills holes in images with a trained run's generator (semantic inpainting).

    python -m gan_jax.inpaint --workdir=runs/dcgan
    python -m gan_jax.inpaint --workdir=runs/dcgan --mask=left --prior_weight=0.1
    python -m gan_jax.inpaint --workdir=runs/dcgan --method=nearest --mask=random80
    python -m gan_jax.inpaint --workdir=runs/dcgan --images=my.npy --mask=my_masks.npy

Hides part of each of ``--num_images`` images by ``--mask``, completes it by
``--method`` and scores the completion against the truth on the hole:
  semantic  Yeh et al. 2017 (arXiv 1607.07539): z_hat minimises the contextual
            loss |W (G(z) - y)|_1 on the known pixels (W the importance weights
            of ``--window``, or the binary mask with --weighting=binary) plus
            --prior_weight x log(1 - D(G(z))) by --steps of Adam, z kept in
            [-bound, bound] by stochastic clipping; G(z_hat) is then pasted
            into the hole and Poisson blended (gan_jax/inpainting.py).
  mean      the hole filled with the mean training image;
  nearest   the hole filled from the training image closest on the known pixels.
(The baselines' training images are the 4,000 embedded digits the shipped
classifier was trained on for 28x28x1 images, else the run's training data.)
``--mask``: one of center, left, right, blocks, random50, random80, or a .npy
file of 0/1 masks ((N, H, W, 1), (H, W, 1) or (H, W); 1 = known).
Writes to ``--out`` (default ``<workdir>/inpainting/<method>_<mask>_<images>/``):
  inpainting.npz  images, masks, fill, pasted, blended (and z_hat, labels);
  inpainting.png  masked input, fill, blended result, truth;
  metrics.json    PSNR and SSIM on the hole (data range [-1, 1]), the shipped
                  classifier's accuracy on the completed digits, the settings.
Bad input exits 1 with one line, before anything is written.
"""

from __future__ import annotations

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
from absl import app, flags

from gan_jax import inpainting, tool_io, trained, validation, visualize
from gan_jax.errors import DataError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import image_metrics

METHODS = ('semantic', 'mean', 'nearest')
FIGURE_IMAGES = 10

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A training run\'s workdir (holds config.json and checkpoints).')
flags.DEFINE_enum('which', 'latest', ('latest', 'best'), 'Which checkpoint: the newest, or the '
                  'best one kept during training.')
flags.DEFINE_integer('seed_index', 0, 'Which seed of a run trained with train.num_seeds > 1.')
flags.DEFINE_string('method', 'semantic', f'One of {METHODS}.')
flags.DEFINE_string('mask', 'center', f'One of {sorted(inpainting.MASKS)} or a .npy file of masks.')
flags.DEFINE_string('images', 'held_out', "'held_out', 'samples', or a .npy file of images.")
flags.DEFINE_integer('num_images', 64, 'How many images to complete (the first of --images).')
flags.DEFINE_string('weighting', 'importance', "semantic: 'importance' (Yeh's weights) or "
                    "'binary' (the plain mask) in the contextual loss.")
flags.DEFINE_integer('window', 7, 'semantic: the importance weights\' window (odd).')
flags.DEFINE_float('prior_weight', 0.003, 'semantic: lambda of the prior loss (Yeh et al.: 0.003).')
flags.DEFINE_integer('steps', 500, 'semantic: Adam steps (Yeh et al. ran about 1,500).')
flags.DEFINE_float('learning_rate', 0.03, 'semantic: Adam learning rate.')
flags.DEFINE_integer('restarts', 1, 'semantic: starts per image drawn from the prior, best kept.')
flags.DEFINE_float('bound', 4.0, 'semantic: the box of stochastic clipping.')
flags.DEFINE_integer('seed', 0, 'Seed of the masks, the starts and the clipping.')
flags.DEFINE_string('out', None, 'Output directory; default '
                    '<workdir>/inpainting/<method>_<mask>_<images>.')


def hole_metrics(completed: np.ndarray, truth: np.ndarray, masks: np.ndarray) -> dict:
  """Mean PSNR and SSIM over images, each on its hole (1 - M), data range [-1, 1]."""
  hole = 1.0 - masks
  return {'psnr_hole': float(np.mean(image_metrics.psnr(completed, truth, hole))),
          'ssim_hole': float(np.mean(image_metrics.ssim(completed, truth, hole)))}


def run(workdir: str, method: str, mask: str, images: str, num_images: int, *,
        which: str = 'latest', seed_index: int = 0, weighting: str = 'importance',
        window: int = 7, prior_weight: float = 0.003, steps: int = 500,
        learning_rate: float = 0.03, restarts: int = 1, bound: float = 4.0, seed: int = 0,
        out: str | None = None) -> dict:
  """Completes, scores, writes ``out`` and returns the metrics record."""
  validation.choice('--method', method, METHODS)
  validation.positive('--num_images', num_images, int)
  validation.choice('--weighting', weighting, inpainting.WEIGHTINGS)
  validation.at_least_zero('--prior_weight', prior_weight)
  validation.positive('--restarts', restarts, int)
  if window < 1 or window % 2 == 0:
    raise DataError(f'--window={window}; must be an odd positive integer')
  gan = trained.load(workdir, which, seed_index)
  target = tool_io.load_images(images, num_images, gan, seed)
  mask_name, masks = tool_io.load_masks(mask, num_images, gan.sample_shape, seed)
  out = out or os.path.join(workdir, 'inpainting', f'{method}_{mask_name}_{target.name}')

  if method == 'semantic':
    completion = inpainting.semantic_inpaint(
        gan.generate, gan.discriminate, gan.z_dim, target.images, masks, weighting=weighting,
        prior_weight=prior_weight, window=window, restarts=restarts, steps=steps,
        learning_rate=learning_rate, bound=bound, seed=seed)
  else:
    if tuple(gan.sample_shape) == classifier_lib.IMAGE_SHAPE:
      train_images = classifier_lib.digit_split().train_images
    else:
      data = trained.load_dataset(gan.config)
      train_images = data.images.astype(np.float32) / 127.5 - 1.0
    completion = inpainting.baseline(method, target.images, masks, train_images)

  metrics = {f'{k}_pasted': v for k, v in hole_metrics(completion.pasted, target.images,
                                                       masks).items()}
  if method == 'semantic':
    metrics.update({f'{k}_blended': v for k, v in hole_metrics(
        completion.blended, target.images, masks).items()})
  classifier = tool_io.digit_classifier(gan.sample_shape)
  if classifier is not None and target.labels is not None:
    metrics['accuracy'] = classifier_lib.accuracy(classifier, completion.blended, target.labels)
    metrics['accuracy_truth'] = classifier_lib.accuracy(classifier, target.images, target.labels)
  record = {'workdir': os.path.abspath(workdir), 'step': gan.step, 'method': method,
            'mask': mask_name, 'images': target.name, 'num_images': num_images,
            'settings': dict(weighting=weighting, window=window, prior_weight=prior_weight,
                             steps=steps, learning_rate=learning_rate, restarts=restarts,
                             bound=bound, seed=seed),
            'seconds_per_image': completion.seconds / num_images, 'metrics': metrics}

  k = min(FIGURE_IMAGES, num_images)
  shown = np.where(masks[:k] > 0.5, target.images[:k], 0.0)  # the hole in mid-grey
  figure = visualize.image_rows_figure(
      [('input', shown), ('fill', completion.fill[:k]), ('blended', completion.blended[:k]),
       ('truth', target.images[:k])], title=f'{method} on {mask_name} holes')
  tool_io.write_results(out, 'inpainting', {
      'images': target.images, 'masks': masks, 'fill': completion.fill,
      'pasted': completion.pasted, 'blended': completion.blended, 'z': completion.z,
      'labels': target.labels}, figure, record)
  record['out'] = out
  return record


def main(argv):
  tool_io.main(argv, FLAGS.workdir, lambda: run(
      FLAGS.workdir, FLAGS.method, FLAGS.mask, FLAGS.images, FLAGS.num_images,
      which=FLAGS.which, seed_index=FLAGS.seed_index, weighting=FLAGS.weighting,
      window=FLAGS.window, prior_weight=FLAGS.prior_weight, steps=FLAGS.steps,
      learning_rate=FLAGS.learning_rate, restarts=FLAGS.restarts, bound=FLAGS.bound,
      seed=FLAGS.seed, out=FLAGS.out),
      lambda r: f'{r["method"]} inpainting of {r["num_images"]} {r["images"]} images with '
                f'{r["mask"]} holes')


if __name__ == '__main__':
  jax.config.config_with_absl()
  app.run(main)
