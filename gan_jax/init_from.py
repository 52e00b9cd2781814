"""Starting some players of a new run from another run's checkpoint (``train.init_from``).

SRGAN and ESRGAN train their adversarial stage from a generator trained on
the content loss alone (Ledig et al. 2017, Wang et al. 2018), and ESRGAN's
network interpolation between the two is meaningful only because one
continues the other. ``train.init_from=<workdir>`` does that for any task:
at a fresh start, the players named in ``train.init_players`` take their
params, their EMA copy (if any) and their model state from the newest intact
checkpoint of that run; their optimiser state is initialised anew from
those params, and every other player keeps its own initialisation. A run
that resumes from its own checkpoint ignores ``init_from``.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
from absl import logging

from gan_jax import trained
from gan_jax.errors import ConfigError
from gan_jax.state import TrainState


def _shapes(tree) -> list:
  return [(jax.tree_util.keystr(path), leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)]


def _take(target, source, field: str, player: str, num_seeds: int):
  """``source`` shaped like ``target`` (broadcast over a leading seed axis when
  ``num_seeds > 1``); a ConfigError naming the first leaf that differs."""
  want = _shapes(jax.tree.map(lambda x: x[0], target) if num_seeds > 1 else target)
  have = _shapes(source)
  if want != have:
    diff = next(((w, h) for w, h in zip(want, have) if w != h), (want[len(have):] or None,
                                                                 have[len(want):] or None))
    raise ConfigError(f'train.init_from: the {field} of player {player!r} differ from this '
                      f'run\'s (first difference: this run {diff[0]}, the source {diff[1]}); '
                      'allowed: a run whose player has the same architecture')
  return jax.tree.map(lambda t, s: jnp.broadcast_to(jnp.asarray(s, t.dtype), t.shape),
                      target, source)


def _source_config(workdir: str):
  if not os.path.isfile(os.path.join(workdir, 'config.json')):
    raise ConfigError(f'train.init_from={workdir!r} holds no config.json; allowed: the '
                      'workdir of a training run (or \'\' to start from the seed)')
  return trained.load_run_config(workdir)


def _players(t) -> tuple[str, ...]:
  return tuple(t.get('init_players', ('generator',)))  # configs/dcgan.py's default


def check(config, players: tuple[str, ...]) -> None:
  """The cheap checks, before the workdir is touched: ``train.init_players`` among
  this task's ``players``, and ``train.init_from`` a run of one seed."""
  t = config.train
  chosen = _players(t)
  unknown = sorted(set(chosen) - set(players))
  if unknown or not chosen:
    raise ConfigError(f'train.init_players={chosen!r}: {unknown or "empty"}; allowed: a '
                      f'non-empty tuple of this task\'s players {sorted(players)}')
  source_config = _source_config(t.init_from)
  if source_config.train.get('num_seeds', 1) != 1:
    raise ConfigError(f'train.init_from={t.init_from!r} trained '
                      f'{source_config.train.num_seeds} seeds; allowed: a run of one seed')


def initialise_from(state: TrainState, config, game) -> TrainState:
  """``state`` with ``config.train.init_players`` taken from ``config.train.init_from``.

  ``state`` is the new run's step-0 state on the host (a leading seed axis on
  every leaf when ``train.num_seeds > 1``: each seed starts from the same
  source). Raises ConfigError if the source has no checkpoint, lacks a
  player, or a player's shapes differ (``check`` first).
  """
  t = config.train
  check(config, tuple(state.params))
  source_dir, players = t.init_from, _players(t)
  source_config = _source_config(source_dir)
  try:
    source, _, _ = trained.restore(source_dir, source_config,
                                   trained.load_dataset(source_config))
  except ConfigError as e:
    raise ConfigError(f'train.init_from={source_dir!r}: {e}') from None
  if int(source.step) != source_config.train.num_steps:
    # A sweep in parallel mode can start a run before the run it starts from
    # has ended; a partial generator would pass silently for the finished one.
    raise ConfigError(f'train.init_from={source_dir!r}: its newest checkpoint is at step '
                      f'{int(source.step)} of its {source_config.train.num_steps}; allowed: '
                      'a finished run (train it to the end first)')
  missing = sorted(set(players) - set(source.params))
  if missing:
    raise ConfigError(f'train.init_from={source_dir!r} has no player {missing}; its players: '
                      f'{sorted(source.params)}')
  num_seeds = t.get('num_seeds', 1)
  params, ema, model_state, opt_state = (dict(state.params), dict(state.ema_params),
                                         dict(state.model_state), dict(state.opt_state))
  for p in players:
    params[p] = _take(state.params[p], source.params[p], 'params', p, num_seeds)
    if p in ema:
      # The source's EMA if it kept one, else its params: what it sampled with.
      ema[p] = _take(state.ema_params[p], source.ema_params.get(p, source.params[p]),
                     'EMA params', p, num_seeds)
    model_state[p] = _take(state.model_state[p], source.model_state.get(p, {}),
                           'model state', p, num_seeds)
    init = jax.vmap(game.txs[p].init) if num_seeds > 1 else game.txs[p].init
    opt_state[p] = init(params[p])
  logging.warning('train.init_from: players %s start from %s at its step %d (params, EMA, '
                  'model state; new optimiser state); the others from this run\'s seed.',
                  list(players), source_dir, int(source.step))
  return state.replace(params=params, ema_params=ema, model_state=model_state,
                       opt_state=opt_state)
