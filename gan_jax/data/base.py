"""The interface every dataset implements."""

from __future__ import annotations

import abc

import numpy as np


class Dataset(abc.ABC):
  """Batches as a pure function of the step, as dicts of arrays.

  Attributes:
    sample_key: the batch entry of the samples a generator learns to make:
      'image' for images, 'x' for points.
    sample_shape: shape of one such sample, e.g. (28, 28, 1) or (2,).
    num_classes: labels are 0 .. num_classes - 1 in the batch's 'label'
      entry; 0 if the data has no labels.
    description: where the data came from (written into the workdir).
  """
  sample_key: str
  sample_shape: tuple[int, ...]
  num_classes: int = 0
  description: str

  @abc.abstractmethod
  def batch(self, step: int, batch_size: int, shard: int = 0,
            num_shards: int = 1) -> dict[str, np.ndarray]:
    """Rows [shard * b, (shard + 1) * b) of global batch ``step``, b = batch_size / num_shards.

    Returns {sample_key: float32 (b, *sample_shape), ...}: images are in
    [-1, 1]; labelled data adds 'label' int32 (b,) (or (b, 3) for Stacked
    MNIST's three digits). Every entry has the same leading axis b.
    """

  @abc.abstractmethod
  def reseeded(self, seed: int) -> 'Dataset':
    """The same data drawn or shuffled by another seed (arrays are shared)."""


class EpochShuffled(Dataset):
  """A finite dataset of ``len(self)`` examples, reshuffled every epoch by (seed, epoch).

  Subclasses set ``self.seed`` and implement ``__len__``; ``batch_rows`` gives
  the indices of a batch.
  """
  seed: int
  _epoch: int = -1
  _perm: np.ndarray | None = None

  @abc.abstractmethod
  def __len__(self) -> int:
    """The number of examples."""

  def permutation(self, epoch: int) -> np.ndarray:
    if epoch != self._epoch:
      self._epoch = epoch
      self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self))
    return self._perm

  def batch_rows(self, step: int, batch_size: int, shard: int = 0,
                 num_shards: int = 1) -> np.ndarray:
    """Indices of this shard's rows of global batch ``step``.

    Each epoch is split into len // batch_size full batches (the remainder of
    the permutation is left out that epoch).
    """
    epoch, slot = divmod(step, len(self) // batch_size)
    local = batch_size // num_shards
    start = slot * batch_size + shard * local
    return self.permutation(epoch)[start:start + local]
