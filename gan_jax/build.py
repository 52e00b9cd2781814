"""Builds a run's pieces from its config: the task and its optimizers, the state, the sampler.

Each piece is looked up by name in its own registry (tasks, models, losses,
optimizers, regularisers), which validates its own fields.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import optimizers, steps, tasks
from gan_jax.seeds import Seeds
from gan_jax.state import TrainState, create_state

# The key of the one batch of sampler inputs every sample grid of a run uses.
_FIXED_INPUTS_OFFSET = 1_000_003


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """What a task needs to know of its data (every ``Dataset`` has these fields).

  Attributes:
    sample_key: the batch entry of the samples ('image' or 'x').
    sample_shape: one sample's shape.
    num_classes: labels 0 .. K - 1 in 'label'; 0 = no labels.
  """
  sample_key: str
  sample_shape: tuple[int, ...]
  num_classes: int = 0


def data_spec(data) -> DataSpec | object:
  """``data`` as a task sees it: a Dataset or DataSpec as it is; a bare sample
  shape as unlabelled data ('x' for shapes of one axis, else 'image')."""
  if isinstance(data, (tuple, list)):
    shape = tuple(data)
    return DataSpec('x' if len(shape) == 1 else 'image', shape)
  return data


def example_batch(data) -> dict[str, np.ndarray]:
  """One example batch (leading axis 1): the dataset's first row, or zeros for a spec."""
  data = data_spec(data)
  if hasattr(data, 'batch'):
    return data.batch(0, 1)
  batch = {data.sample_key: np.zeros((1, *data.sample_shape), np.float32)}
  if data.num_classes:
    batch['label'] = np.zeros((1,), np.int32)
  return batch


def create_game(config, data, axis_name: str | None = None) -> steps.Game:
  """The task of ``config.task`` and one optimizer per player: the fixed parts of a step.

  A player of role 'generator' learns at ``optim.g_lr``, one of role
  'discriminator' at ``optim.d_lr`` (TTUR when they differ).
  """
  task = tasks.create_task(config, data_spec(data), axis_name)
  t, o = config.train, config.optim
  rates = {'generator': o.g_lr, 'discriminator': o.d_lr}
  txs = {name: steps.player_optimizer(
      t.update_rule, optimizers.create_optimizer(o, rates[player.role]))
         for name, player in task.players.items()}
  return steps.Game(task, txs, g_ema_decay=t.g_ema_decay,
                    consensus_gamma=t.consensus_gamma)


def init_state(config, game: steps.Game, data, num_seeds: int = 1) -> TrainState:
  """The step-0 state, from PRNGKey(config.seed + i) for each of ``num_seeds``.

  With several seeds every leaf gets a leading seed axis (see seeds.py).
  """
  example = example_batch(data)
  return Seeds(config.seed, num_seeds).init(
      lambda rng: create_state(rng, game.task, game.txs, example))


def sampling_params(game: steps.Game, state: TrainState) -> dict:
  """The params samples are drawn with: each generator's EMA when train.g_ema_decay > 0."""
  if game.g_ema_decay > 0:
    return {**state.params, **state.ema_params}
  return state.params


def make_sampler(game: steps.Game):
  """state, inputs -> samples (eval mode: BatchNorm's running statistics).

  ``inputs`` is what ``game.task.sample_inputs`` draws, e.g. {'z': (N, z_dim)}.
  """
  @jax.jit
  def sample(state: TrainState, inputs):
    return game.task.sample(sampling_params(game, state), state.model_state, inputs)
  return sample


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation of rows: (R, ...) x (R, ...) x (C,) -> (R, C, ...).

  sin((1 - t) w) / sin(w) a + sin(t w) / sin(w) b, w the angle between the
  flattened rows (White 2016: a Gaussian z keeps a typical norm along the
  path, where a straight line would pass through the low-density centre);
  linear where the rows are parallel.
  """
  flat_a, flat_b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
  cos = jnp.sum(flat_a * flat_b, -1) / (
      jnp.linalg.norm(flat_a, axis=-1) * jnp.linalg.norm(flat_b, axis=-1))
  omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))[:, None]
  sin = jnp.sin(omega)
  parallel = sin < 1e-6
  safe = jnp.where(parallel, 1.0, sin)
  wa = jnp.where(parallel, 1 - t, jnp.sin((1 - t) * omega) / safe)
  wb = jnp.where(parallel, t, jnp.sin(t * omega) / safe)
  out = wa[..., None] * flat_a[:, None] + wb[..., None] * flat_b[:, None]
  return out.reshape(a.shape[0], t.shape[0], *a.shape[1:])


def interpolation_inputs(config, game: steps.Game, rows: int = 8,
                         cols: int = 10) -> dict[str, jax.Array]:
  """rows x cols sampler inputs, row-major: row r walks from one draw of the
  grid inputs to another (``slerp`` on float entries such as z; integer
  entries such as labels are the start's, so a conditional task keeps row
  r's class). Drawn from fixed keys, like ``fixed_inputs``."""
  rng = jax.random.PRNGKey(config.seed + _FIXED_INPUTS_OFFSET + 1)
  start, end = (game.task.grid_inputs(k, rows) for k in jax.random.split(rng))
  t = jnp.linspace(0.0, 1.0, cols)

  def walk(a, b):
    a, b = jnp.asarray(a), jnp.asarray(b)
    if jnp.issubdtype(a.dtype, jnp.floating):
      path = slerp(a, b, t)
    else:
      path = jnp.broadcast_to(a[:, None], (a.shape[0], cols, *a.shape[1:]))
    return path.reshape(-1, *a.shape[1:])
  return jax.tree.map(walk, start, end)


def fixed_inputs(config, game: steps.Game) -> dict[str, jax.Array]:
  """The one batch of sampler inputs that every sample grid of a run is drawn from."""
  rng = jax.random.PRNGKey(config.seed + _FIXED_INPUTS_OFFSET)
  return jax.tree.map(jnp.asarray, game.task.grid_inputs(rng, config.log.num_samples))
