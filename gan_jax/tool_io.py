"""What the tools that use a trained GAN (invert, inpaint) read and write.

``load_images(source, num, gan, seed)``, checked before anything is written:
  'held_out'  the 1,000 embedded MNIST digits the shipped classifier was not
              trained on (neither was a GAN with data.embedded_split='train'),
              in a fixed shuffled order, so that a prefix mixes the classes;
  'samples'   G's own samples G(z*), z* ~ N(0, I) drawn from ``seed``;
  a path      a .npy file of (N, *G's sample shape) images, float in [-1, 1]
              or uint8 in [0, 255] (scaled as the training data: x / 127.5 - 1).
``load_masks(mask, num, sample_shape, seed)``: inpainting masks by name or
from a .npy file, checked the same way.
``write_results(out, arrays, figure, record)``: the npz, the PNG and the
JSON of one tool's run, each written to a temporary name and renamed;
``main(argv, workdir, run, headline)`` the command-line wrapper both share.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, NamedTuple

import jax
import numpy as np
from absl import app, logging

from gan_jax import inpainting, visualize
from gan_jax.batching import in_batches

from gan_jax.errors import USER_ERRORS, DataError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.workdir import write_json

SOURCES = ('held_out', 'samples')
# The held-out order's seed, fixed so that every tool shows the same digits.
ORDER_SEED = 0
# The key offset of z*, so that the targets are not the optimiser's own starts.
TARGET_Z_OFFSET = 7919


class Images(NamedTuple):
  """name ('held_out', 'samples' or the file's stem), images (N, ...) float32 in
  [-1, 1], labels (N,) or None, z* (N, d) or None."""
  name: str
  images: np.ndarray
  labels: np.ndarray | None
  z: np.ndarray | None


def digit_classifier(sample_shape):
  """The shipped digit classifier when G makes 28x28x1 images, else None."""
  if tuple(sample_shape) != classifier_lib.IMAGE_SHAPE:
    return None
  return classifier_lib.load_classifier()


def _held_out(num: int, sample_shape) -> Images:
  if tuple(sample_shape) != classifier_lib.IMAGE_SHAPE:
    raise DataError(f"--images=held_out are 28x28x1 MNIST digits, but G makes "
                    f'{tuple(sample_shape)}; pass a .npy file of such images')
  split = classifier_lib.digit_split()
  if num > len(split.test_images):
    raise DataError(f'--num_images={num}; --images=held_out has {len(split.test_images)}')
  order = np.random.default_rng(ORDER_SEED).permutation(len(split.test_images))[:num]
  return Images('held_out', split.test_images[order], split.test_labels[order], None)


def _from_file(path: str, num: int, sample_shape) -> Images:
  if not os.path.isfile(path) or not path.endswith('.npy'):
    raise DataError(f'--images={path!r}: not {list(SOURCES)} and not a .npy file')
  images = np.load(path, allow_pickle=False)
  if images.ndim == len(sample_shape) and images.shape == tuple(sample_shape):
    images = images[None]
  if images.shape[1:] != tuple(sample_shape):
    raise DataError(f'--images={path!r} holds an array of shape {images.shape}; G makes '
                    f'{tuple(sample_shape)}, so it must be (N, {", ".join(map(str, sample_shape))})')
  if images.dtype == np.uint8:
    images = images.astype(np.float32) / 127.5 - 1.0
  elif not np.issubdtype(images.dtype, np.floating):
    raise DataError(f'--images={path!r} has dtype {images.dtype}; must be float in [-1, 1] '
                    'or uint8')
  elif not np.all(np.isfinite(images)):
    raise DataError(f'--images={path!r} holds NaN or infinite values; float images must '
                    'lie in [-1, 1] (G\'s tanh range)')
  elif images.min() < -1 or images.max() > 1:
    raise DataError(f'--images={path!r} has values in [{images.min():.3g}, '
                    f'{images.max():.3g}]; float images must lie in [-1, 1] (G\'s tanh range)')
  if num > len(images):
    raise DataError(f'--num_images={num}; {path!r} holds {len(images)} images')
  name = os.path.splitext(os.path.basename(path))[0]
  return Images(name, images[:num].astype(np.float32), None, None)


def load_images(source: str, num: int, gan, seed: int = 0) -> Images:
  """The ``num`` images of ``source`` (see the module docstring) for ``gan`` (trained.TrainedGAN)."""
  if source == 'held_out':
    return _held_out(num, gan.sample_shape)
  if source == 'samples':
    z = np.asarray(jax.random.normal(jax.random.PRNGKey(seed + TARGET_Z_OFFSET),
                                     (num, gan.z_dim)))
    return Images('samples', in_batches(gan.generate, z), None, z)
  return _from_file(source, num, gan.sample_shape)


def load_masks(mask: str, num: int, sample_shape, seed: int) -> tuple[str, np.ndarray]:
  """(name, (num, H, W, 1) masks) of ``--mask``: a name in inpainting.MASKS or a .npy
  file of 0/1 masks ((N, H, W, 1), (H, W, 1) or (H, W); 1 = known), each checked."""
  if mask in inpainting.MASKS:
    return mask, inpainting.make_masks(mask, num, sample_shape, seed)
  if not (mask.endswith('.npy') and os.path.isfile(mask)):
    raise DataError(f'--mask={mask!r}: not one of {sorted(inpainting.MASKS)} and not a .npy file')
  masks = np.load(mask, allow_pickle=False).astype(np.float32)
  if masks.ndim == 2:
    masks = masks[..., None]
  if masks.ndim == 3:
    masks = np.broadcast_to(masks, (num, *masks.shape))
  h, w = sample_shape[:2]
  if masks.ndim != 4 or masks.shape[1:] != (h, w, 1) or len(masks) < num:
    raise DataError(f'--mask={mask!r} holds masks of shape {masks.shape}; must be ({h}, {w}), '
                    f'({h}, {w}, 1) or (N >= {num}, {h}, {w}, 1)')
  masks = np.ascontiguousarray(masks[:num])
  try:
    inpainting.check_mask(masks)
  except DataError as e:
    raise DataError(f'--mask={mask!r}: {e}') from None
  return os.path.splitext(os.path.basename(mask))[0], masks


def write_results(out: str, name: str, arrays: dict, figure: np.ndarray, record: dict) -> None:
  """Writes ``out``/``name``.npz (``arrays``), ``name``.png (``figure``) and metrics.json."""
  os.makedirs(out, exist_ok=True)
  tmp = os.path.join(out, f'{name}.tmp.npz')
  np.savez_compressed(tmp, **{k: v for k, v in arrays.items() if v is not None})
  os.replace(tmp, os.path.join(out, f'{name}.npz'))
  visualize.save_png(figure, os.path.join(out, f'{name}.png'))
  write_json(os.path.join(out, 'metrics.json'), record)


def main(argv, workdir: str | None, run: Callable[[], dict],
         headline: Callable[[dict], str]) -> None:
  """A tool's absl main: ``run()`` -> record, printed as a table of its metrics.

  A user error ends with one line 'error: ...' on stderr and exit 1; ``run``
  checks its input before writing anything.
  """
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not workdir:
    raise app.UsageError('--workdir is required: a training run\'s workdir')
  logging.set_verbosity(logging.INFO)  # the search's progress
  try:
    record = run()
  except USER_ERRORS as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  print(f'{headline(record)}, {record["workdir"]} (step {record["step"]}), '
        f'{record["seconds_per_image"] * 1e3:.1f} ms per image\n')
  print('| metric | value |\n|---|---|')
  for k, v in record['metrics'].items():
    print(f'| {k} | {v:.4g} |')
  print(f'\nWrote {record["out"]}')
