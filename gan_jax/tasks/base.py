"""What a task is: a game between named players on dict batches.

A task owns the networks and the losses of one kind of GAN; the update rules
(steps.py), the devices (parallel.py), the seeds, the checkpoints and the
loop know nothing else about it. Each player minimises its own loss.

Interface (shapes for a batch of B examples on this device):
  players         {name: Player}: each a flax module and its role.
  order           the players' order for alternating updates (the default:
                  discriminators, then generators).
  init(rng, example_batch) -> (params, model_state), each {player: tree}.
  losses(params, model_state, batch, rng)
      -> ({player: () loss}, ({player: new model state}, {metric: ()}))
      from ONE forward pass; the update rules take every player's gradient
      from it (one ``jax.vjp``, one cotangent per player).
  sample_inputs(rng, n) -> {name: (n, ...)}: what ``sample`` needs (z, labels,
      a source image), drawn from ``rng``.
  sample(params, model_state, inputs) -> (n, ...) samples, eval mode.
  sample_key      the batch entry that holds real samples of what ``sample``
                  makes (for pictures and evaluators).
  grid_inputs(rng, n), grid_columns(n)
                  the inputs of the sample grids and their number of columns
                  (default: ``sample_inputs`` in a square grid); a conditional
                  task puts one class per row.

A task may write its losses as two stages instead (all three tasks here do):
  generate(params, model_state, batch, rng) -> (samples, {generator: state})
      the generators' forward pass, reading only their params;
  judge(params, model_state, batch, samples, rng)
      -> ({player: loss}, ({discriminator: state}, metrics))
      everything else, reading only the discriminators' params, so that every
      generator's loss depends on its params only through ``samples``.
Then ``losses`` is judge(generate(...)), and the alternating rule runs the
generators once per step: their pullback carries the gradient at the updated
discriminators back to their params, as the classic schedule reuses G(z).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax

PyTree = Any
ROLES = ('generator', 'discriminator')


@dataclasses.dataclass(frozen=True)
class Player:
  """One network of the game.

  Attributes:
    module: the flax module, called as ``module(x, train=...)``.
    role: 'generator' (learning rate ``optim.g_lr``, an EMA copy with
      ``train.g_ema_decay``) or 'discriminator' (``optim.d_lr``, takes the
      ``train.d_steps - 1`` extra updates of each step).
    prefix: short name in metrics: '<prefix>_loss', '<prefix>_grad_norm', ...
  """
  module: nn.Module
  role: str
  prefix: str

  def __post_init__(self):
    if self.role not in ROLES:
      raise ValueError(f'Player.role={self.role!r}; allowed: {ROLES}')


class Task:
  """Base class; subclasses set ``players`` (and maybe ``order``) and the methods."""
  players: dict[str, Player]
  sample_key: str = 'image'
  axis_name: str | None = None
  # Whether the sampler's float inputs are latents worth walking between (the
  # run's final interpolation grid); an image-to-image task's are images.
  latent_inputs: bool = True

  @property
  def phases(self) -> tuple[tuple[str, ...], ...]:
    """Alternating updates: the discriminators together, then the generators
    together at the updated discriminators."""
    return self.with_role('discriminator'), self.with_role('generator')

  @property
  def order(self) -> tuple[str, ...]:
    """The players in the order of ``phases``."""
    return tuple(p for phase in self.phases for p in phase)

  @property
  def two_stage(self) -> bool:
    """Whether the task splits its losses into ``generate`` and ``judge``."""
    return type(self).generate is not Task.generate

  def with_role(self, role: str) -> tuple[str, ...]:
    return tuple(name for name, p in self.players.items() if p.role == role)

  def module(self, name: str) -> nn.Module:
    return self.players[name].module

  def player_keys(self, rng: jax.Array) -> dict[str, jax.Array]:
    """One init key per player, in ``players`` order: split(rng, P + 1)[:P].

    ``state.create_state`` keeps the last of the same split as the run's key.
    """
    keys = jax.random.split(rng, len(self.players) + 1)
    return dict(zip(self.players, keys))

  def init(self, rng: jax.Array, example_batch: dict) -> tuple[dict, dict]:
    raise NotImplementedError

  def losses(self, params: dict, model_state: dict, batch: dict, rng: jax.Array):
    """({player: loss}, ({player: new model state}, metrics)) from one forward pass."""
    samples, g_state = self.generate(params, model_state, batch, rng)
    losses, (d_state, metrics) = self.judge(params, model_state, batch, samples, rng)
    return losses, ({**model_state, **g_state, **d_state}, metrics)

  def generate(self, params: dict, model_state: dict, batch: dict, rng: jax.Array):
    raise NotImplementedError

  def judge(self, params: dict, model_state: dict, batch: dict, samples, rng: jax.Array):
    raise NotImplementedError

  def sample_inputs(self, rng: jax.Array, num: int) -> dict:
    raise NotImplementedError

  def sample(self, params: dict, model_state: dict, inputs: dict) -> jax.Array:
    raise NotImplementedError

  def grid_inputs(self, rng: jax.Array, num: int) -> dict:
    """The inputs of the run's sample grids (``num`` samples)."""
    return self.sample_inputs(rng, num)

  def grid_columns(self, num: int) -> int | None:
    """Columns of the sample grids; None = the squarest grid for ``num``."""
    del num
    return None
