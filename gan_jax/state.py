"""The training state of a game between named players, and its construction."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class TrainState:
  """Everything that determines the rest of a run, as one pytree.

  Every field but ``step`` and ``rng`` is a dict keyed by player name (e.g.
  'generator', 'discriminator'; a CycleGAN has four).

  Attributes:
    step: () int32, number of train steps taken.
    rng: the run's base PRNG key; step t uses fold_in(rng, t).
    params: {player: parameters}.
    opt_state: {player: that player's optax state}.
    model_state: {player: non-trained variables as {collection: tree}}
      (BatchNorm statistics, spectral normalisation's power-iteration
      vectors); {} for a player without them.
    ema_params: {generator: EMA of its params} for the players of role
      'generator' (steps.py updates it with ``train.g_ema_decay``; with decay
      0 it equals the params). Samples and evaluation use it when the decay
      is above 0.
  """
  step: jax.Array
  rng: jax.Array
  params: dict[str, PyTree]
  opt_state: dict[str, PyTree]
  model_state: dict[str, PyTree]
  ema_params: dict[str, PyTree]


def split_variables(variables) -> tuple[PyTree, PyTree]:
  """{'params': p, **rest} -> (p, rest) as plain dicts."""
  variables = dict(variables)
  params = variables.pop('params')
  return params, variables


def create_state(rng: jax.Array, task, txs: dict[str, optax.GradientTransformation],
                 example_batch: dict) -> TrainState:
  """Initialises every player from ``rng`` (shapes from ``example_batch``).

  The players' keys are split(rng, P + 1)[:P] (``Task.player_keys``), the
  run's key the last one. Each EMA copy starts equal to its player.
  """
  run_rng = jax.random.split(rng, len(task.players) + 1)[-1]
  params, model_state = task.init(rng, example_batch)
  return TrainState(
      step=jnp.zeros((), jnp.int32), rng=run_rng, params=params,
      opt_state={name: txs[name].init(params[name]) for name in task.players},
      model_state=model_state,
      ema_params={name: jax.tree.map(jnp.copy, params[name])
                  for name in task.with_role('generator')})


def adam(lr: float, b1: float, b2: float) -> optax.GradientTransformation:
  """Adam as DCGAN uses it (lr 2e-4, b1 0.5 by default in the configs)."""
  return optax.adam(lr, b1=b1, b2=b2)
