"""The interface every dataset implements."""

from __future__ import annotations

import abc

import numpy as np


class Dataset(abc.ABC):
  """Batches as a pure function of the step.

  Attributes:
    sample_shape: shape of one sample, e.g. (28, 28, 1) or (2,).
    description: where the data came from (written into the workdir).
  """
  sample_shape: tuple[int, ...]
  description: str

  @abc.abstractmethod
  def batch(self, step: int, batch_size: int, shard: int = 0,
            num_shards: int = 1) -> np.ndarray:
    """Rows [shard * b, (shard + 1) * b) of global batch ``step``, b = batch_size / num_shards.

    Returns float32 of shape (b, *sample_shape); images are in [-1, 1].
    """

  @abc.abstractmethod
  def reseeded(self, seed: int) -> 'Dataset':
    """The same data drawn or shuffled by another seed (arrays are shared)."""
