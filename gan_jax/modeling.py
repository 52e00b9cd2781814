"""Applying flax modules inside a step, and drawing per-device randomness.

Shared by the tasks, the regularisers and the update rules, so none of them
imports another for these helpers.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
from jax import lax


def apply_model(model: nn.Module, params, model_state, *inputs, train: bool = True):
  """Runs ``model(*inputs, train=train)`` and returns (output, updated model state).

  ``model_state`` is {collection: tree} (BatchNorm statistics, spectral
  normalisation's vectors); with ``train`` those collections are mutable.
  """
  variables = {'params': params, **model_state}
  if not model_state:
    return model.apply(variables, *inputs, train=train), model_state
  out, new_state = model.apply(variables, *inputs, train=train,
                               mutable=list(model_state))
  return out, dict(new_state)


def device_draw(draw: Callable[[jax.Array, tuple[int, ...]], jax.Array],
                rng: jax.Array, shape: tuple[int, ...],
                axis_name: str | None) -> jax.Array:
  """``draw(rng, shape)`` for the global batch; this device's rows of it.

  ``shape[0]`` is this device's batch; the global batch has num_devices times
  as many rows, so the numbers do not depend on how the batch is split.
  """
  if axis_name is None:
    return draw(rng, shape)
  rows = draw(rng, (shape[0] * lax.psum(1, axis_name), *shape[1:]))
  return lax.dynamic_slice_in_dim(rows, lax.axis_index(axis_name) * shape[0], shape[0])


def sample_latent(rng: jax.Array, batch: int, z_dim: int,
                  axis_name: str | None) -> jax.Array:
  """z ~ N(0, I) of shape (batch, z_dim): this device's slice of the global z."""
  return device_draw(jax.random.normal, rng, (batch, z_dim), axis_name)


def pmean(tree, axis_name: str | None):
  """The mean over the device axis (identity without one)."""
  return tree if axis_name is None else lax.pmean(tree, axis_name)
