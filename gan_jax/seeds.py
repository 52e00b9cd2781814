"""Many independent GANs in one compiled program (``train.num_seeds``).

With N seeds the whole ``TrainState`` gets a leading axis of size N: seed i is
initialised from PRNGKey(seed + i), draws its own z, reads the data in its own
shuffled order, and is updated by ``jax.vmap`` of the ordinary step, so the N
runs are exactly N independent runs (tests/test_seeds.py checks it) that share
every kernel launch. This is how one run gives error bars.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np


class Seeds:
  """Adds (or, for one seed, does not add) a seed axis to state, step and data.

  Attributes:
    seeds: the run's seeds, config.seed + i.
  """

  def __init__(self, base_seed: int, num_seeds: int):
    self.seeds = [base_seed + i for i in range(num_seeds)]
    self.many = num_seeds > 1

  def init(self, init_fn: Callable[[jax.Array], object]):
    """``init_fn(rng) -> state`` for every seed (stacked on axis 0 if many)."""
    keys = [jax.random.PRNGKey(s) for s in self.seeds]
    if not self.many:
      return jax.jit(init_fn)(keys[0])
    return jax.jit(jax.vmap(init_fn))(jax.numpy.stack(keys))

  def map(self, fn):
    """``fn`` over the seed axis of all its arguments (identity for one seed)."""
    return jax.vmap(fn) if self.many else fn

  def datasets(self, dataset):
    """One dataset view per seed, each shuffling or sampling by its own seed."""
    return [dataset] + [dataset.reseeded(s) for s in self.seeds[1:]]

  def batch(self, datasets, step: int, batch_size: int, shard: int, num_shards: int):
    """This process's rows of step's batch: each leaf (N, b, ...) if many seeds, else (b, ...)."""
    batches = [d.batch(step, batch_size, shard, num_shards) for d in datasets]
    return jax.tree.map(lambda *leaves: np.stack(leaves), *batches) if self.many else batches[0]

  def first(self, tree):
    """Seed 0's slice of a seed-stacked tree."""
    return seed_slice(tree, 0) if self.many else tree


def seed_slice(tree, i: int):
  """Seed i's slice of a seed-stacked tree (every leaf indexed on axis 0)."""
  return jax.tree.map(lambda x: x[i], tree)


def unstack_seeds(state) -> list:
  """A state's seeds one by one: [state] for one seed (``state.step`` of shape ()),
  else each seed's slice of a state stacked by ``train.num_seeds``."""
  if np.ndim(state.step) == 0:
    return [state]
  return [seed_slice(state, i) for i in range(np.shape(state.step)[0])]


def mean_and_stderr(values: np.ndarray) -> tuple[float, float]:
  """Mean over seeds and its standard error std / sqrt(N) (ddof 1); 0 for one seed."""
  values = np.asarray(values, np.float64).reshape(-1)
  if values.size < 2:
    return float(values.mean()), 0.0
  return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))
