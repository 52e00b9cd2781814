"""Toy data: 2-D Gaussian mixtures (sampled on the fly or a fixed set), the Dirac-GAN's point mass.

A mixture is given by its parameters (``create_mixture`` reads them from
``config.data``): a ring of ``num_modes`` modes of ``radius``, or a grid of
``grid_side`` x ``grid_side`` modes ``spacing`` apart, each mode an isotropic
Gaussian of ``mixture_std``, weighted by ``mode_weights`` (equal by default).
The named defaults are PacGAN's (Lin et al. 2018): the ring of 8 modes of
radius 1, std 0.01, and the grid {-4, -2, 0, 2, 4}^2, std 0.05.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from gan_jax import validation
from gan_jax.data.base import Dataset, EpochShuffled
from gan_jax.errors import ConfigError

# The std each geometry gets when data.mixture_std is 0 (PacGAN's).
DEFAULT_STD = {'ring': 0.01, 'grid': 0.05}


@dataclasses.dataclass(frozen=True)
class Mixture:
  """A mixture of isotropic Gaussians: means (K, 2), one std, weights (K,) or None (equal)."""
  means: np.ndarray
  std: float
  weights: np.ndarray | None = None

  @property
  def description(self) -> str:
    return (f'{len(self.means)}-mode 2-D Gaussian mixture, std {self.std}'
            + ('' if self.weights is None else ', unequal weights'))

  @property
  def probabilities(self) -> np.ndarray:
    """(K,) mode probabilities: the weights normalised, or 1/K each."""
    k = len(self.means)
    return np.full(k, 1 / k) if self.weights is None else self.weights / self.weights.sum()

  def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points and their mode indices: (n, 2) float64, (n,) int."""
    if self.weights is None:  # the draw of every run made before weights existed
      modes = rng.integers(len(self.means), size=n)
    else:
      modes = rng.choice(len(self.means), size=n, p=self.probabilities)
    return self.means[modes] + self.std * rng.standard_normal((n, 2)), modes


def ring(num_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
  """Means at radius * (cos, sin)(2 pi k / num_modes), k = 0..num_modes-1."""
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return Mixture(radius * np.stack([np.cos(angles), np.sin(angles)], 1), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
  """Means at {-4, -2, 0, 2, 4}^2 for the default 5 x 5 grid (row-major: x fastest)."""
  axis = spacing * (np.arange(side) - (side - 1) / 2)
  return Mixture(np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2), std)


TOY_DATASETS = {'ring': ring(), 'grid': grid()}


def create_mixture(cfg) -> Mixture:
  """The mixture of ``config.data`` (name 'ring' or 'grid' and its parameters).

  Fields (each optional; configs saved before they existed get PacGAN's):
  num_modes, radius (ring); grid_side, spacing (grid); mixture_std (0 = the
  geometry's default); mode_weights (() = equal; else one weight >= 0 per
  mode, normalised).
  """
  std = cfg.get('mixture_std', 0.0) or DEFAULT_STD[cfg.name]
  if cfg.name == 'ring':
    mixture = ring(cfg.get('num_modes', 8), cfg.get('radius', 1.0), std)
  else:
    mixture = grid(cfg.get('grid_side', 5), cfg.get('spacing', 2.0), std)
  weights = tuple(cfg.get('mode_weights', ()))
  if weights:
    mixture = dataclasses.replace(mixture, weights=np.asarray(weights, np.float64))
  return mixture


def validate_mixture_config(d) -> None:
  """Raises ConfigError for the first invalid mixture field of ``config.data``."""
  for field in ('num_modes', 'grid_side'):
    validation.positive(f'data.{field}', d.get(field, 1), numbers.Integral)
  for field in ('radius', 'spacing'):
    validation.positive(f'data.{field}', d.get(field, 1.0))
  validation.at_least_zero('data.mixture_std', d.get('mixture_std', 0.0))
  num_points = d.get('num_points', 0)
  if isinstance(num_points, bool) or not isinstance(num_points, numbers.Integral) \
      or num_points < 0:
    raise ConfigError(f'data.num_points={num_points!r}; must be an integer >= 0 '
                      '(0 = fresh samples every step)')
  weights = tuple(d.get('mode_weights', ()))
  if weights:
    num_modes = d.get('num_modes', 8) if d.name == 'ring' else d.get('grid_side', 5) ** 2
    if (len(weights) != num_modes or any(isinstance(w, bool) or not isinstance(
        w, numbers.Real) or w < 0 for w in weights) or not sum(weights) > 0):
      raise ConfigError(f'data.mode_weights has {len(weights)} entries; must be () or '
                        f'{num_modes} numbers >= 0 (one per mode of data.name='
                        f'{d.name!r}), not all 0')


class ToyMixture(Dataset):
  """Samples of a ``Mixture``; batch t is drawn from a generator seeded (seed, t).

  Batches are {'x': float32 (b, 2), 'label': int32 (b,) the mode index}.
  """
  sample_key = 'x'

  def __init__(self, mixture: Mixture, seed: int):
    self.mixture, self.seed = mixture, seed
    self.sample_shape = (2,)
    self.num_classes = len(mixture.means)
    self.description = mixture.description

  def reseeded(self, seed):
    return ToyMixture(self.mixture, seed)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    x, modes = self.mixture.sample(np.random.default_rng([self.seed, step]), batch_size)
    rows = slice(shard * (batch_size // num_shards), (shard + 1) * (batch_size // num_shards))
    return {'x': x[rows].astype(np.float32), 'label': modes[rows].astype(np.int32)}


class FixedMixturePoints(EpochShuffled):
  """``num_points`` points of a ``Mixture`` drawn once (by seed), then epoch-shuffled.

  PacGAN's protocol trains on 100,000 fixed points rather than fresh samples.
  Batches are {'x': float32 (b, 2), 'label': int32 (b,) the mode index}.
  """
  sample_key = 'x'

  def __init__(self, mixture: Mixture, seed: int, num_points: int,
               points: tuple[np.ndarray, np.ndarray] | None = None):
    self.mixture, self.seed, self.num_points = mixture, seed, num_points
    self.sample_shape = (2,)
    self.num_classes = len(mixture.means)
    if points is None:
      x, modes = mixture.sample(np.random.default_rng([seed, 0x706F696E74]), num_points)
      points = (x.astype(np.float32), modes.astype(np.int32))
    self.points = points
    self.description = f'{num_points:,} fixed points of the {mixture.description}'

  def __len__(self):
    return self.num_points

  def reseeded(self, seed):
    # Another shuffle of the same points: the training set is the run's data.
    return FixedMixturePoints(self.mixture, seed, self.num_points, self.points)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    rows = self.batch_rows(step, batch_size, shard, num_shards)
    return {'x': self.points[0][rows], 'label': self.points[1][rows]}


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
