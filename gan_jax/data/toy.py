"""Toy data sampled on the fly: 2-D Gaussian mixtures, and the Dirac-GAN's point mass."""

from __future__ import annotations

import dataclasses

import numpy as np

from gan_jax.data.base import Dataset


@dataclasses.dataclass(frozen=True)
class Mixture:
  """An equal-weight mixture of isotropic Gaussians: means (K, 2), one std."""
  means: np.ndarray
  std: float


def ring(num_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
  """Means at radius * (cos, sin)(2 pi k / num_modes), k = 0..num_modes-1."""
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return Mixture(radius * np.stack([np.cos(angles), np.sin(angles)], 1), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
  """Means at {-4, -2, 0, 2, 4}^2 for the default 5 x 5 grid."""
  axis = spacing * (np.arange(side) - (side - 1) / 2)
  return Mixture(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2), std)


TOY_DATASETS = {'ring': ring(), 'grid': grid()}


class ToyMixture(Dataset):
  """Samples of a ``Mixture``; batch t is drawn from a generator seeded (seed, t).

  Batches are {'x': float32 (b, 2), 'label': int32 (b,) the mode index}.
  """
  sample_key = 'x'

  def __init__(self, mixture: Mixture, seed: int):
    self.mixture, self.seed = mixture, seed
    self.sample_shape = (2,)
    self.num_classes = len(mixture.means)
    self.description = (f'{len(mixture.means)}-mode 2-D Gaussian mixture, '
                        f'std {mixture.std}')

  def reseeded(self, seed):
    return ToyMixture(self.mixture, seed)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    rng = np.random.default_rng([self.seed, step])
    modes = rng.integers(len(self.mixture.means), size=batch_size)
    x = self.mixture.means[modes] + self.mixture.std * rng.standard_normal(
        (batch_size, 2))
    rows = slice(shard * (batch_size // num_shards), (shard + 1) * (batch_size // num_shards))
    return {'x': x[rows].astype(np.float32), 'label': modes[rows].astype(np.int32)}


class PointMass(Dataset):
  """Every sample is the scalar 0: the data of the Dirac-GAN (configs/dirac.py).

  Batches are {'x': zeros (b, 1)}.
  """
  sample_key = 'x'

  def __init__(self, seed: int = 0):
    self.seed = seed
    self.sample_shape = (1,)
    self.description = 'point mass at 0 (the Dirac-GAN\'s data), samples of shape (1,)'

  def reseeded(self, seed):
    return PointMass(seed)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    del step, shard
    return {'x': np.zeros((batch_size // num_shards, 1), np.float32)}


class TwoMixtures(Dataset):
  """Two domains of points for the four-player toy (``data.name = 'ring_grid'``).

  Batches are {'a': (b, 2) from ``mixtures[0]``, 'b': (b, 2) from
  ``mixtures[1]``}, drawn independently (unpaired) from a generator seeded
  (seed, t).
  """
  sample_key = 'b'

  def __init__(self, mixtures: tuple[Mixture, Mixture], seed: int):
    self.mixtures, self.seed = mixtures, seed
    self.sample_shape = (2,)
    self.description = ('two 2-D mixtures, a: %d modes (std %g), b: %d modes (std %g)'
                        % (len(mixtures[0].means), mixtures[0].std,
                           len(mixtures[1].means), mixtures[1].std))

  def reseeded(self, seed):
    return TwoMixtures(self.mixtures, seed)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    rng = np.random.default_rng([self.seed, step])
    rows = slice(shard * (batch_size // num_shards), (shard + 1) * (batch_size // num_shards))
    out = {}
    for key, mixture in zip('ab', self.mixtures):
      modes = rng.integers(len(mixture.means), size=batch_size)
      x = mixture.means[modes] + mixture.std * rng.standard_normal((batch_size, 2))
      out[key] = x[rows].astype(np.float32)
    return out
