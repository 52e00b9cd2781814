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
  """Samples of a ``Mixture``; batch t is drawn from a generator seeded (seed, t)."""

  def __init__(self, mixture: Mixture, seed: int):
    self.mixture, self.seed = mixture, seed
    self.sample_shape = (2,)
    self.description = (f'{len(mixture.means)}-mode 2-D Gaussian mixture, '
                        f'std {mixture.std}')

  def reseeded(self, seed):
    return ToyMixture(self.mixture, seed)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    rng = np.random.default_rng([self.seed, step])
    modes = rng.integers(len(self.mixture.means), size=batch_size)
    x = self.mixture.means[modes] + self.mixture.std * rng.standard_normal(
        (batch_size, 2))
    local = batch_size // num_shards
    return x[shard * local:(shard + 1) * local].astype(np.float32)


class PointMass(Dataset):
  """Every sample is the scalar 0: the data of the Dirac-GAN (configs/dirac.py)."""

  def __init__(self, seed: int = 0):
    self.seed = seed
    self.sample_shape = (1,)
    self.description = 'point mass at 0 (the Dirac-GAN\'s data), samples of shape (1,)'

  def reseeded(self, seed):
    return PointMass(seed)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    del step, shard
    return np.zeros((batch_size // num_shards, 1), np.float32)
