"""Pure train-step functions of a game between named players, and its gradient field.

A step maps (state, batch) -> (state, metrics); ``batch`` is a dict of arrays
that share their leading (batch) axis. It is written per device: with the
task's ``axis_name`` set it averages gradients, losses and model states over
that device axis (``jax.pmap``); with ``axis_name=None`` it sees the global
batch (one device, or ``jax.jit`` over a sharded batch, where XLA inserts the
reductions). The key of step t is fold_in(state.rng, t); the task draws its
randomness (z) for the global batch and each device takes its slice, so a
step does not depend on how the batch is split over devices.

Player p minimises its own loss L_p(params of every player); v = (dL_p/dp)_p
is the game's gradient, and "a step of v" means each player's optimizer
update from its part of v. Update rules (``train.update_rule``, the keys of
``STEPS``):
  simultaneous: the primer's simultaneous gradient descent. One forward pass
    of the task's losses; every player's gradient from it (one ``jax.vjp``,
    one one-hot cotangent per player); all updates applied at once.
  alternating: the phases of ``task.phases`` one after another: the
    discriminators step, then the generators at the updated discriminators.
    A task written as ``generate`` + ``judge`` runs its generators once (the
    classic schedule's reuse of G(z) and its pullback).
  extragradient: (Korpelevich 1976; Gidel et al. 2019) a look-ahead step of v,
    then the real step from the same point with v at the look-ahead point.
  optimistic: simultaneous, with each optimizer's update u_t replaced by
    2 u_t - u_{t-1} (OGDA with SGD, Optimistic Adam with Adam; Daskalakis et
    al. 2018), through ``optax.scale_by_optimistic_gradient`` chained into
    each optimizer by ``player_optimizer``.
  consensus: (Mescheder et al. 2017) simultaneous on v + gamma J^T v, the
    gradient of each player's loss plus gamma * 1/2 |v|^2, which damps the
    rotation of the field (J = dv/dparams, gamma = ``Game.consensus_gamma``).
With ``d_steps = k`` every batch leaf holds k interleaved chunks; the
players of role 'discriminator' take k - 1 extra updates on the first chunks
before the rule's update on the last one.

Model states (BatchNorm statistics) advance with the first forward pass of
each update: an extra discriminator update, a simultaneous update, the first
phase of an alternating one. Later phases of the same update judge at moved
parameters and do not advance them again.

Every rule ends in ``_finish``: gradient and update norms, the EMA of the
generators, and the guard that drops a non-finite update.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from gan_jax import validation
from gan_jax.errors import ConfigError
from gan_jax.modeling import pmean
from gan_jax.state import TrainState
from gan_jax.tasks.base import Task

Metrics = dict[str, jax.Array]
Grads = dict[str, Any]


class Game:
  """The fixed parts of a step: the task, each player's optimizer, the rule's constants.

  Attributes:
    task: the players and their losses (gan_jax/tasks).
    txs: {player: optax optimizer} (their own learning rates: TTUR).
    g_ema_decay: beta of the generators' EMA: ema <- beta ema + (1 - beta) p.
    consensus_gamma: gamma of the 'consensus' update rule.
  """

  def __init__(self, task: Task, txs: dict[str, optax.GradientTransformation], *,
               g_ema_decay: float = 0.0, consensus_gamma: float = 10.0):
    missing = sorted(set(task.players) - set(txs))
    if missing:
      raise ValueError(f'Game: no optimizer for players {missing}')
    self.task, self.txs = task, txs
    self.g_ema_decay, self.consensus_gamma = g_ema_decay, consensus_gamma

  @property
  def axis_name(self) -> str | None:
    return self.task.axis_name

  def prefix(self, player: str) -> str:
    return self.task.players[player].prefix

  def apply(self, state: TrainState, grads: Grads, model_state=None) -> TrainState:
    """Each optax update of the players in ``grads``; ``model_state`` replaces the old one."""
    params, opt_state = dict(state.params), dict(state.opt_state)
    for name, g in grads.items():
      updates, opt_state[name] = self.txs[name].update(g, opt_state[name], params[name])
      params[name] = optax.apply_updates(params[name], updates)
    return state.replace(params=params, opt_state=opt_state,
                         model_state=state.model_state if model_state is None else model_state)


def player_optimizer(update_rule: str,
                     tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """``tx`` with what ``update_rule`` needs in each player's optimizer state.

  Only 'optimistic' needs anything: u_t -> 2 u_t - u_{t-1} after ``tx``
  (``optax.scale_by_optimistic_gradient`` with alpha = beta = 1).
  """
  if update_rule != 'optimistic':
    return tx
  return optax.chain(tx, optax.scale_by_optimistic_gradient(alpha=1.0, beta=1.0))


def step_key(state: TrainState, chunk: int = 0) -> jax.Array:
  """The key of chunk ``chunk`` of step ``state.step``: fold_in(fold_in(rng, step), chunk)."""
  return jax.random.fold_in(jax.random.fold_in(state.rng, state.step), chunk)


def player_gradients(game: Game, state: TrainState, batch: dict, rng: jax.Array,
                     players=None):
  """Each player's gradient of its own loss, from one forward pass (this device's).

  Runs ``task.losses`` once, linearises it with ``jax.vjp`` in the params of
  ``players`` (default: all; the others are held fixed) and pulls back one
  cotangent per player, one-hot on its own loss: dL_p/dp. XLA prunes what
  each pullback does not need, so every layer's backward pass runs only
  where some player needs it.

  Returns:
    {player: loss} (all players), {player: grads} (``players``),
    ({player: new model state}, metrics).
  """
  players = tuple(players or game.task.players)

  def forward(moving):
    return game.task.losses({**state.params, **moving}, state.model_state, batch, rng)

  losses, pullback, aux = jax.vjp(forward, {p: state.params[p] for p in players},
                                  has_aux=True)
  grads = {p: g[p] for p, g in _one_hot_pullbacks(pullback, losses, players).items()}
  return losses, grads, aux


def _averaged_gradients(game: Game, state, batch, rng, players=None):
  """``player_gradients`` with gradients and model states averaged over devices."""
  losses, grads, (model_state, metrics) = player_gradients(game, state, batch, rng, players)
  grads, model_state = pmean((grads, model_state), game.axis_name)
  return losses, grads, model_state, metrics


def _loss_metrics(game: Game, losses: dict) -> Metrics:
  return {f'{game.prefix(p)}_loss': loss for p, loss in losses.items()}


def _chunks(batch: dict, d_steps: int) -> dict:
  # Chunk k is rows k, k + d_steps, ...: every contiguous shard of the batch
  # (a device's, a process's) holds its own slice of every chunk, so a step
  # splits the same way on one device and on many.
  return jax.tree.map(lambda x: x.reshape(x.shape[0] // d_steps, d_steps, *x.shape[1:])
                      .swapaxes(0, 1), batch)


def _extra_steps(game: Game, state: TrainState, batch: dict, d_steps: int):
  """The discriminators' d_steps - 1 extra updates, each on its own chunk and key.

  Returns the state after them, the last chunk and its key.
  """
  chunks = _chunks(batch, d_steps)
  critics = game.task.with_role('discriminator')
  for k in range(d_steps - 1):
    chunk = jax.tree.map(lambda c, k=k: c[k], chunks)
    _, grads, model_state, _ = _averaged_gradients(game, state, chunk, step_key(state, k),
                                                   critics)
    state = game.apply(state, grads, model_state)
  return state, jax.tree.map(lambda c: c[-1], chunks), step_key(state, d_steps - 1)


def _distance(a, b) -> jax.Array:
  return optax.tree.norm(jax.tree.map(jnp.subtract, a, b))


def _finish(game: Game, old: TrainState, new: TrainState, metrics: Metrics,
            grads: Grads) -> tuple[TrainState, Metrics]:
  """Adds norms and the EMA, averages metrics over devices, guards, advances the step.

  Metrics added per player (with its prefix, e.g. 'g'): '<p>_grad_norm' (of
  the gradient its optimizer received in the final update) and
  '<p>_update_norm' |params_new - params_old| (all of this step's updates,
  extra steps included). Each generator's EMA becomes beta ema + (1 - beta) p.

  If any loss, penalty or norm is non-finite the update is dropped (the state
  stays ``old``, only ``step`` advances) and ``metrics['finite']`` is 0; the
  trainer decides whether to stop or go on (``train.on_nonfinite``).
  """
  new = new.replace(ema_params={
      p: optax.incremental_update(new.params[p], ema, step_size=1 - game.g_ema_decay)
      for p, ema in old.ema_params.items()})
  metrics = dict(metrics)
  for p in game.task.players:
    metrics[f'{game.prefix(p)}_grad_norm'] = optax.tree.norm(grads[p])
    metrics[f'{game.prefix(p)}_update_norm'] = _distance(new.params[p], old.params[p])
  metrics = pmean(metrics, game.axis_name)
  finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
  flags = {f'finite_{game.prefix(p)}_{kind}':
           jnp.isfinite(metrics[f'{game.prefix(p)}_{kind}']).astype(jnp.float32)
           for p in game.task.players for kind in ('loss', 'grad_norm')}
  kept = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  return (kept.replace(step=old.step + 1),
          {**metrics, **flags, 'finite': finite.astype(jnp.float32)})


# Each rule's final update maps (game, state, batch, rng) -> (new state,
# metrics, grads); ``_run`` wraps it in the extra steps and ``_finish``.

def _simultaneous_update(game, state, batch, rng):
  losses, grads, model_state, metrics = _averaged_gradients(game, state, batch, rng)
  return (game.apply(state, grads, model_state),
          {**_loss_metrics(game, losses), **metrics}, grads)


def _one_hot_pullbacks(pullback, losses: dict, players) -> dict:
  """{p: pullback(one-hot cotangent on losses[p])}: each player's own loss pulled back."""
  return {p: pullback({q: (jnp.ones_like if q == p else jnp.zeros_like)(loss)
                       for q, loss in losses.items()})[0] for p in players}


def _alternating_two_stage(game, state, batch, rng):
  """The classic schedule for a task with ``generate`` and ``judge``.

  The generators run once: samples and their pullback. The discriminators
  step on the samples held fixed; then each generator's loss, judged by the
  updated discriminators, is pulled back through the samples to its params.
  """
  task = game.task
  critics, makers = task.phases
  params = state.params

  def generate(g_params):
    return task.generate({**params, **g_params}, state.model_state, batch, rng)

  samples, g_pullback, g_state = jax.vjp(generate, {p: params[p] for p in makers},
                                         has_aux=True)
  fixed = jax.lax.stop_gradient(samples)

  def judge_critics(d_params):
    return task.judge({**params, **d_params}, state.model_state, batch, fixed, rng)

  d_losses, d_pullback, (d_state, metrics) = jax.vjp(
      judge_critics, {p: params[p] for p in critics}, has_aux=True)
  d_grads = {p: g[p] for p, g in _one_hot_pullbacks(d_pullback, d_losses, critics).items()}
  d_grads, model_state = pmean((d_grads, {**state.model_state, **g_state, **d_state}),
                               game.axis_name)
  state = game.apply(state, d_grads, model_state)

  def judge_makers(samples):
    return task.judge(state.params, state.model_state, batch, samples, rng)[0]

  g_losses, s_pullback = jax.vjp(judge_makers, samples)
  g_grads = pmean({p: g_pullback(cot)[0][p] for p, cot in
                   _one_hot_pullbacks(s_pullback, g_losses, makers).items()}, game.axis_name)
  state = game.apply(state, g_grads)
  losses = {**{p: d_losses[p] for p in critics}, **{p: g_losses[p] for p in makers}}
  return state, {**_loss_metrics(game, losses), **metrics}, {**d_grads, **g_grads}


def _alternating_update(game, state, batch, rng):
  if game.task.two_stage and len(game.task.phases) == 2:
    return _alternating_two_stage(game, state, batch, rng)
  # Any other task: each phase recomputes the whole forward pass.
  all_grads, losses, metrics = {}, {}, {}
  for i, phase in enumerate(game.task.phases):
    phase_losses, grads, model_state, phase_metrics = _averaged_gradients(
        game, state, batch, rng, phase)
    state = game.apply(state, grads, model_state if i == 0 else None)
    all_grads.update(grads)
    losses.update({p: phase_losses[p] for p in phase})  # as its own player saw it
    if i == 0:
      metrics = phase_metrics
  return state, {**_loss_metrics(game, losses), **metrics}, all_grads


def _extragradient_update(game, state, batch, rng):
  losses, grads, _, metrics = _averaged_gradients(game, state, batch, rng)
  # The look-ahead point; its optimizer and model states are thrown away.
  ahead = game.apply(state, grads)
  # v at the look-ahead point, on the same batch and key.
  _, grads, model_state, _ = _averaged_gradients(
      game, state.replace(params=ahead.params), batch, rng)
  return (game.apply(state, grads, model_state),
          {**_loss_metrics(game, losses), **metrics}, grads)


def _consensus_update(game, state, batch, rng):
  def local_field(params):
    losses, grads, aux = player_gradients(game, state.replace(params=params), batch, rng)
    return grads, (losses, aux)

  local, pullback, (losses, (model_state, metrics)) = jax.vjp(
      local_field, state.params, has_aux=True)
  field = pmean(local, game.axis_name)
  # grad 1/2 |v|^2 = J^T v. The global J is the mean of the devices' J_k, so
  # J^T v = mean_k J_k^T v: pull the averaged v back locally, then average
  # (no collective inside the differentiated function).
  (consensus,) = pullback(field)
  consensus = pmean(consensus, game.axis_name)
  grads = jax.tree.map(lambda v, c: v + game.consensus_gamma * c, field, consensus)
  new = game.apply(state, grads, pmean(model_state, game.axis_name))
  metrics = dict(metrics, consensus_loss=0.5 * optax.tree.norm(field) ** 2)
  return new, {**_loss_metrics(game, losses), **metrics}, grads


@functools.cache
def _optimistic_state_type() -> type:
  # optax exports the transformation, not its state class: take the class from
  # an instance, on first use (at import time it would start the XLA backend
  # before jax.distributed.initialize).
  return type(optax.scale_by_optimistic_gradient().init({}))


def _is_optimistic(opt_state) -> bool:
  is_leaf = lambda s: isinstance(s, _optimistic_state_type())
  return any(map(is_leaf, jax.tree.leaves(opt_state, is_leaf=is_leaf)))


def _optimistic_update(game, state, batch, rng):
  for player, opt_state in state.opt_state.items():
    if not _is_optimistic(opt_state):
      raise ValueError(
          f"train.update_rule='optimistic' needs the previous update in the "
          f'optimizer state, but the {player} optimizer has none: build each '
          "optimizer with steps.player_optimizer('optimistic', tx) "
          '(build.create_game does)')
  return _simultaneous_update(game, state, batch, rng)


def _run(final_update, state: TrainState, batch: dict, game: Game,
         d_steps: int) -> tuple[TrainState, Metrics]:
  start = state
  state, batch, rng = _extra_steps(game, state, batch, d_steps)
  new, metrics, grads = final_update(game, state, batch, rng)
  return _finish(game, start, new, metrics, grads)


def simultaneous_step(state: TrainState, batch: dict, *, game: Game,
                      d_steps: int = 1) -> tuple[TrainState, Metrics]:
  """Simultaneous gradient descent with every gradient from one forward pass.

  p <- p - lr_p dL_p/dp for every player p, all evaluated at the same params.

  Args:
    state: the current ``TrainState``.
    batch: {name: (d_steps * B, ...)}, this device's shard.
    game: task and optimizers (bound with functools.partial).
    d_steps: discriminator updates per generator update.
  Returns:
    The new state and scalar metrics: each player's loss, the task's metrics
    (D(x), D(G(z)), penalties), gradient and update norms, finiteness flags.
  """
  return _run(_simultaneous_update, state, batch, game, d_steps)


def alternating_step(state: TrainState, batch: dict, *, game: Game,
                     d_steps: int = 1) -> tuple[TrainState, Metrics]:
  """The players in phases (``task.phases``): D steps, then G through the updated D.

  d <- d - lr dL_D/dd (g, d);  then g <- g - lr dL_G/dg (g, d_new). Same
  arguments and returns as ``simultaneous_step``; each player's loss is the
  one of its own phase, the other metrics those of the first phase.
  """
  return _run(_alternating_update, state, batch, game, d_steps)


def extragradient_step(state: TrainState, batch: dict, *, game: Game,
                       d_steps: int = 1) -> tuple[TrainState, Metrics]:
  """Extragradient: step from x with the gradient at a look-ahead point.

  With SGD: x_half = x - lr v(x), x_new = x - lr v(x_half). With another
  optimizer both steps are its updates from the same optimizer state; the
  look-ahead's state is discarded. Same batch and key at both points.
  Metrics (losses, D outputs) are those at x; gradient norms those of
  v(x_half).
  """
  return _run(_extragradient_update, state, batch, game, d_steps)


def optimistic_step(state: TrainState, batch: dict, *, game: Game,
                    d_steps: int = 1) -> tuple[TrainState, Metrics]:
  """Optimistic gradient descent: x_{t+1} = x_t - 2 lr v(x_t) + lr v(x_{t-1}) with SGD.

  The simultaneous step, with each optimizer chained with
  ``optax.scale_by_optimistic_gradient``: build them with
  ``player_optimizer('optimistic', tx)``; a state without it is an error.
  """
  return _run(_optimistic_update, state, batch, game, d_steps)


def consensus_step(state: TrainState, batch: dict, *, game: Game,
                   d_steps: int = 1) -> tuple[TrainState, Metrics]:
  """Consensus optimisation (Mescheder et al. 2017).

  Every player steps at once on v + gamma grad L with L = 1/2 |v|^2 and
  grad L = J^T v (a vector-Jacobian product through ``player_gradients``):
  x <- x - lr (v + gamma J^T v). The metrics add consensus_loss = L; the
  gradient norms are those of the regularised gradients.
  """
  return _run(_consensus_update, state, batch, game, d_steps)


STEPS: dict[str, Callable[..., Any]] = {
    'simultaneous': simultaneous_step,
    'alternating': alternating_step,
    'extragradient': extragradient_step,
    'optimistic': optimistic_step,
    'consensus': consensus_step,
}


def make_train_step(game: Game, update: str, d_steps: int = 1):
  """The step function for ``train.update_rule``, with its fixed arguments bound."""
  if update not in STEPS:
    raise ConfigError(f'train.update_rule={update!r}; allowed: {sorted(STEPS)}')
  return functools.partial(STEPS[update], game=game, d_steps=d_steps)


def validate_config(t) -> None:
  """Raises ConfigError for the update rule's fields of ``config.train``."""
  validation.choice('train.update_rule', t.update_rule, STEPS)
  validation.positive('train.d_steps', t.d_steps, numbers.Integral)
  validation.at_least_zero('train.consensus_gamma', t.consensus_gamma)
  validation.at_least_zero('train.g_ema_decay', t.g_ema_decay, below_one=True)


def simultaneous_field(game: Game, state: TrainState, batch: dict,
                       rng: jax.Array | None = None) -> jax.Array:
  """The flow of simultaneous gradient descent at the state, flattened.

  F(params) = -v, raveled as ``ravel_pytree(state.params)`` orders the
  parameters (players in sorted name order). Gradient descent with step h is
  x <- x + h F(x). Single device, fixed batch and key (default: the key of
  ``state.step``'s first chunk).
  """
  rng = step_key(state) if rng is None else rng
  _, grads, _ = player_gradients(game, state, batch, rng)
  return -ravel_pytree(grads)[0]


def field_jacobian(game: Game, state: TrainState, batch: dict,
                   rng: jax.Array | None = None) -> jax.Array:
  """dF/dx (P, P) of the flow F of ``simultaneous_field``, by jax.jacfwd.

  P = number of parameters of every player. Its eigenvalues say how the
  continuous-time game x' = F(x) behaves near x: negative real parts attract,
  imaginary parts rotate; at the Dirac-GAN's equilibrium they are +-0.5i.
  """
  flat, unravel = ravel_pytree(state.params)
  return jax.jacfwd(lambda x: simultaneous_field(
      game, state.replace(params=unravel(x)), batch, rng))(flat)


def field_eigenvalues(game: Game, state: TrainState, batch: dict,
                      rng: jax.Array | None = None) -> np.ndarray:
  """The (P,) complex eigenvalues of ``field_jacobian``, computed on the host."""
  return np.linalg.eigvals(np.asarray(
      jax.jit(field_jacobian, static_argnums=0)(game, state, batch, rng), np.float64))
