"""The training state of the two-player game, and its construction."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class GANState:
  """Everything that determines the rest of a run, as one pytree.

  Attributes:
    step: () int32, number of train steps taken.
    rng: the run's base PRNG key; step t uses fold_in(rng, t).
    g_params, d_params: the players' parameters.
    g_state, d_state: non-trained model variables (BatchNorm statistics,
      spectral normalisation's power-iteration vectors), as
      {collection: tree}; empty for models without them.
    g_opt_state, d_opt_state: each player's optax state.
    g_ema_params: exponential moving average of g_params (steps.py updates
      it with ``train.g_ema_decay``; with decay 0 it equals g_params). Samples
      and evaluation use it when the decay is above 0.
  """
  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  g_ema_params: PyTree
  g_state: PyTree
  g_opt_state: PyTree
  d_params: PyTree
  d_state: PyTree
  d_opt_state: PyTree


def split_variables(variables) -> tuple[PyTree, PyTree]:
  """{'params': p, **rest} -> (p, rest) as plain dicts."""
  variables = dict(variables)
  params = variables.pop('params')
  return params, variables


def create_state(rng: jax.Array, generator, discriminator, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, z_dim: int,
                 sample_shape) -> GANState:
  """Initialises both players from ``rng`` (shapes from a dummy batch).

  The EMA generator starts as a copy of the generator.
  """
  g_rng, d_rng, run_rng = jax.random.split(rng, 3)
  g_params, g_state = split_variables(
      generator.init(g_rng, jnp.zeros((1, z_dim)), train=False))
  # A PacGAN discriminator judges packs of `pack` samples: its dummy batch
  # must hold one whole pack. Parameters do not depend on the batch size.
  d_batch = getattr(discriminator, 'pack', 1)
  d_params, d_state = split_variables(
      discriminator.init(d_rng, jnp.zeros((d_batch, *sample_shape)), train=False))
  return GANState(
      step=jnp.zeros((), jnp.int32), rng=run_rng,
      g_params=g_params, g_ema_params=jax.tree.map(jnp.copy, g_params),
      g_state=g_state, g_opt_state=g_tx.init(g_params),
      d_params=d_params, d_state=d_state, d_opt_state=d_tx.init(d_params))


def adam(lr: float, b1: float, b2: float) -> optax.GradientTransformation:
  """Adam as DCGAN uses it (lr 2e-4, b1 0.5 by default in the configs)."""
  return optax.adam(lr, b1=b1, b2=b2)
