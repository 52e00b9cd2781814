"""Recovers z from x for a trained run's generator.

    python -m gan_jax.invert --workdir=runs/dcgan
    python -m gan_jax.invert --workdir=runs/dcgan --method=optimize --images=samples
    python -m gan_jax.invert --workdir=runs/dcgan --method=encoder --num_images=1000
    python -m gan_jax.invert --workdir=runs/bigan --method=bigan
    python -m gan_jax.invert --workdir=runs/dcgan --images=my_digits.npy

Restores the run's checkpoint (``--which``), inverts ``--num_images`` images
by ``--method`` (see gan_jax/inversion.py), prints the metrics and writes to
``--out`` (default ``<workdir>/inversion/<method>_<images>/``):
  inversion.npz   images, z_hat, reconstructions G(z_hat), the search's loss
                  curve (and z*, labels);
  inversion.png   originals, reconstructions and error maps |G(z_hat) - x|;
  metrics.json    the metrics, the settings, seconds per image.
``--images``: 'held_out' (the 1,000 embedded MNIST digits the shipped
classifier was not trained on, in a fixed shuffled order), 'samples' (G's own
samples G(z*), z* ~ N(0, I): the latent recovery rate can be measured), or a
.npy file of (N, *G's sample shape) images, float in [-1, 1] or uint8.
The 'encoder' and 'hybrid' methods train E against the frozen G on first use
(``--encoder_steps``) and keep it in ``<workdir>/inversion/``. Bad input
exits 1 with one line, before anything is written.
"""

from __future__ import annotations

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
from absl import app, flags

from gan_jax import inversion, tool_io, trained, validation, visualize
from gan_jax.errors import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A training run\'s workdir (holds config.json and checkpoints).')
flags.DEFINE_enum('which', 'latest', ('latest', 'best'), 'Which checkpoint: the newest, or the '
                  'best one kept during training.')
flags.DEFINE_integer('seed_index', 0, 'Which seed of a run trained with train.num_seeds > 1.')
flags.DEFINE_string('method', 'hybrid', f'One of {inversion.METHODS}.')
flags.DEFINE_string('images', 'held_out', "'held_out', 'samples', or a .npy file of images.")
flags.DEFINE_integer('num_images', 64, 'How many images to invert (the first of --images).')
flags.DEFINE_integer('restarts', 4, 'optimize: starts per image drawn from the prior, best kept.')
flags.DEFINE_integer('steps', 500, 'optimize / hybrid: Adam steps.')
flags.DEFINE_float('learning_rate', 0.05, 'optimize / hybrid: Adam learning rate.')
flags.DEFINE_string('constraint', 'clip', "optimize / hybrid: 'clip' (stochastic clipping to "
                    "[-bound, bound]) or 'none'.")
flags.DEFINE_float('bound', 4.0, 'The box of stochastic clipping.')
flags.DEFINE_float('feature_weight', 0.0, 'Weight of the classifier-feature distance in the '
                   'objective (28x28x1 digits only).')
flags.DEFINE_float('prior_weight', 0.0, 'Weight of |z|^2 / d in the objective.')
flags.DEFINE_integer('encoder_steps', 2000, 'encoder / hybrid: training steps of E on G\'s samples.')
flags.DEFINE_integer('seed', 0, 'Seed of the starts, the clipping and the samples.')
flags.DEFINE_string('out', None, 'Output directory; default <workdir>/inversion/<method>_<images>.')

FIGURE_IMAGES = 10


def settings_from_flags() -> inversion.SearchSettings:
  return inversion.SearchSettings(
      restarts=FLAGS.restarts, steps=FLAGS.steps, learning_rate=FLAGS.learning_rate,
      constraint=FLAGS.constraint, bound=FLAGS.bound, feature_weight=FLAGS.feature_weight,
      prior_weight=FLAGS.prior_weight, seed=FLAGS.seed)


def run(workdir: str, method: str, images: str, num_images: int,
        settings: inversion.SearchSettings, *, which: str = 'latest', seed_index: int = 0,
        encoder_steps: int = 2000, out: str | None = None) -> dict:
  """Inverts, writes ``out`` and returns the metrics record (see the module docstring)."""
  validation.choice('--method', method, inversion.METHODS)
  validation.positive('--num_images', num_images, int)
  settings.validate()
  gan = trained.load(workdir, which, seed_index)
  if method == 'bigan' and gan.encode is None:
    raise ConfigError(f"--method=bigan needs a BiGAN run (task='bigan'); {workdir!r} trained "
                      f"task={gan.config.get('task', 'unconditional')!r}")
  classifier = tool_io.digit_classifier(gan.sample_shape)
  if settings.feature_weight and classifier is None:
    raise ConfigError(f'--feature_weight={settings.feature_weight} needs 28x28x1 digits; G '
                      f'makes {gan.sample_shape}')
  target = tool_io.load_images(images, num_images, gan, settings.seed)
  out = out or os.path.join(workdir, 'inversion', f'{method}_{target.name}')

  encode = gan.encode
  if method in ('encoder', 'hybrid'):
    encode = inversion.cached_encoder(gan, encoder_steps, settings.seed)
  features = classifier and (lambda x: classifier.features(classifier.params, x))
  result = inversion.invert(method, gan.generate, gan.z_dim, target.images, settings,
                            encode, features)
  metrics = {}
  if target.z is not None:
    metrics.update(inversion.latent_metrics(result.z, target.z, result.recon, target.images))
  if target.labels is not None and classifier is not None:
    metrics.update(inversion.image_metrics(result.recon, target.images, target.labels,
                                           classifier))
  if not metrics:
    metrics['pixel_mse'] = float(np.mean(np.square(result.recon - target.images)))
  record = {'workdir': os.path.abspath(workdir), 'step': gan.step, 'method': method,
            'images': target.name, 'num_images': len(target.images),
            'settings': settings._asdict(), 'encoder_steps': encoder_steps,
            'seconds_per_image': result.seconds_per_image, 'metrics': metrics}

  k = min(FIGURE_IMAGES, len(target.images))
  x, recon = target.images[:k], result.recon[:k]
  figure = visualize.image_rows_figure(
      [('x', x), ('G(z_hat)', recon), ('|G(z_hat) - x|', np.abs(recon - x))],
      title=f'{method} on {target.name}')
  tool_io.write_results(out, 'inversion', {
      'images': target.images, 'z': result.z, 'recon': result.recon, 'curve': result.curve,
      'z_true': target.z, 'labels': target.labels}, figure, record)
  record['out'] = out
  return record


def main(argv):
  tool_io.main(argv, FLAGS.workdir, lambda: run(
      FLAGS.workdir, FLAGS.method, FLAGS.images, FLAGS.num_images, settings_from_flags(),
      which=FLAGS.which, seed_index=FLAGS.seed_index, encoder_steps=FLAGS.encoder_steps,
      out=FLAGS.out), lambda r: f'{r["method"]} on {r["num_images"]} {r["images"]} images')


if __name__ == '__main__':
  jax.config.config_with_absl()
  app.run(main)
