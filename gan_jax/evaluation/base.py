"""What an evaluator is: the base class of evaluators.py and conditional_metrics.py.

An evaluator owns its real reference data and scores ``num_samples`` samples
of a sampler (state, inputs) -> (N, ...) drawn from the task's
``draw_inputs(rng, n)``; see evaluators.py for the registry and the loop.
"""

from __future__ import annotations

import functools
import zlib
from typing import Callable

import jax
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib

SampleFn = Callable[[object, dict], jax.Array]  # (state, inputs) -> (N, ...)
# (rng, n) -> the sampler's inputs for n samples, e.g. {'z': (n, z_dim)}.
DrawInputs = Callable[[jax.Array, int], dict]
Results = dict[str, float]

# The real reference sets do not depend on the run's seed, so that runs with
# different seeds are scored against the same real digits.
REAL_SET_SEED = 0


@functools.cache
def shipped_classifier() -> classifier_lib.DigitClassifier:
  return classifier_lib.load_classifier()


def as_images(uint8_images: np.ndarray) -> np.ndarray:
  """uint8 (N, H, W, C) -> float32 in [-1, 1], the GAN data's scaling."""
  return np.asarray(uint8_images, np.float32) / 127.5 - 1.0


class Evaluator:
  """Base class: draws samples from a generator and scores them.

  Subclasses set ``self.floor`` (the metrics of a real set, same size as the
  generated one) in their constructor and implement ``score``.

  Attributes:
    name: the entry's name in ``config.eval``; prefixes the metrics.
    every: period in steps; 0 = only at the end of training.
    num_samples: N, the number of generated samples scored.
    floor: {metric: value} for real data scored the same way.
  """
  floor: Results

  def __init__(self, name: str, draw_inputs: DrawInputs, seed: int, *, every: int,
               num_samples: int, batch_size: int = 500):
    self.name, self.draw_inputs, self.every = name, draw_inputs, every
    self.num_samples, self.batch_size = num_samples, min(batch_size, num_samples)
    # A key per (seed, evaluator name): evaluators draw different z.
    self.rng = jax.random.fold_in(jax.random.PRNGKey(seed), zlib.crc32(name.encode()))

  def due(self, step: int, final: bool = False) -> bool:
    """True at multiples of ``every`` and, if ``final``, at the last step."""
    return final or (self.every > 0 and step % self.every == 0)

  def generate(self, sample_fn: SampleFn, state, rng: jax.Array | None = None) -> np.ndarray:
    """(num_samples, ...) samples on the host, drawn ``batch_size`` at a time.

    Batch i uses ``draw_inputs(fold_in(rng, i), batch_size)`` (for the
    unconditional task z_i ~ N(0, I) of shape (batch_size, z_dim)); every
    batch has the same shape, so a jitted sampler compiles once, and the
    surplus of the last batch is dropped.
    """
    rng = self.rng if rng is None else rng
    out = []
    for i in range(-(-self.num_samples // self.batch_size)):
      inputs = self.draw_inputs(jax.random.fold_in(rng, i), self.batch_size)
      out.append(np.asarray(sample_fn(state, inputs), np.float32))
    return np.concatenate(out)[:self.num_samples]

  def score(self, samples: np.ndarray) -> Results:
    """{metric: float} of (num_samples, ...) samples (generated, or real for the floor)."""
    raise NotImplementedError

  def run(self, sample_fn: SampleFn, state, rng: jax.Array | None = None) -> Results:
    """Scores ``num_samples`` samples of ``sample_fn(state, inputs)``; see ``generate``."""
    return self.score(self.generate(sample_fn, state, rng))


def check_shape(name: str, kind: str, shape, expected, hint: str) -> None:
  if tuple(shape) != tuple(expected):
    raise ConfigError(f'eval.{name}: type {kind!r} needs samples of shape '
                      f'{tuple(expected)}; the data has {tuple(shape)}. {hint}')


def fixed_real_split(images: np.ndarray, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
  """Two disjoint sets of n real images (float, [-1, 1]) from a fixed permutation."""
  if 2 * n > len(images):
    raise ConfigError(
        f'eval.{name}: num_samples={n} needs 2 x {n} real images for the reference '
        f'set and the real-vs-real floor, but the data has {len(images)}; use '
        f'num_samples <= {len(images) // 2}')
  perm = np.random.default_rng(REAL_SET_SEED).permutation(len(images))
  return as_images(images[perm[:n]]), as_images(images[perm[n:2 * n]])



def floats(**values) -> Results:
  return {k: float(v) for k, v in values.items()}
