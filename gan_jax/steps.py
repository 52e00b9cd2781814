"""Pure train-step functions of the two-player game, and its gradient field.

A step maps (state, real) -> (state, metrics). It is written per device: with
``axis_name`` set it averages gradients, losses and BatchNorm statistics over
that device axis (``jax.pmap``); with ``axis_name=None`` it sees the global
batch (one device, or ``jax.jit`` over a sharded batch, where XLA inserts the
reductions). The randomness of step t is fold_in(state.rng, t); the global
batch of z is drawn whole and each device takes its slice, so a step does not
depend on how the batch is split over devices.

Each player minimises its own loss, L_G(g, d) and L_D(g, d) (D's includes its
regularisers); v = (dL_G/dg, dL_D/dd) is the game's gradient, and "a step of
v" means each optimizer's update from its part of v. Update rules
(``train.update_rule``, the keys of ``STEPS``):
  simultaneous: the primer's simultaneous gradient descent. One forward pass
    G(z), D(x), D(G(z)); both players' gradients from it (one ``jax.vjp``,
    one cotangent per player); both optax updates applied at once.
  alternating: the classic PyTorch schedule. D steps on (x, G(z)); then G
    steps through the *updated* D, reusing the same G(z) and its pullback.
  extragradient: (Korpelevich 1976; Gidel et al. 2019) a look-ahead step of v
    from (g, d), then the real step from (g, d) with v at the look-ahead point.
  optimistic: simultaneous, with each optimizer's update u_t replaced by
    2 u_t - u_{t-1} (OGDA with SGD, Optimistic Adam with Adam; Daskalakis et
    al. 2018). The previous update lives in the optimizer state:
    ``player_optimizer`` adds it (``train.create_game`` does).
  consensus: (Mescheder et al. 2017) simultaneous on v + gamma J^T v, the
    gradient of each player's loss plus gamma * 1/2 |v|^2, which damps the
    rotation of the field (J = dv/d(g, d), gamma = ``Game.consensus_gamma``).
With ``d_steps = k`` the batch holds k chunks; D takes k - 1 extra steps on
the first chunks before the final update on the last one. Every rule ends in
``_finish``: gradient and update norms, the generator EMA, and the guard that
drops a non-finite update.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.flatten_util import ravel_pytree

from gan_jax import optimizers
from gan_jax.losses import LossFn
from gan_jax.state import GANState

Metrics = dict[str, jax.Array]


def apply_model(model: nn.Module, params, model_state, x, train: bool = True):
  """Runs ``model`` and returns (output, updated model state)."""
  variables = {'params': params, **model_state}
  if not model_state:
    return model.apply(variables, x, train=train), model_state
  out, new_state = model.apply(variables, x, train=train,
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


def _pmean(tree, axis_name):
  return tree if axis_name is None else lax.pmean(tree, axis_name)


def _probs(real_logits, fake_logits) -> Metrics:
  return {'d_real': jnp.mean(jax.nn.sigmoid(real_logits)),
          'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits))}


def _penalty_rng(rng: jax.Array) -> jax.Array:
  # The randomness of D's penalties (WGAN-GP's interpolates) next to that of
  # z, which uses ``rng`` itself.
  return jax.random.fold_in(rng, 1)


class Game:
  """The fixed parts of a step.

  Attributes:
    generator, discriminator: flax modules (D may be PacGAN-packed).
    loss_fn: (real_logits, fake_logits) -> (d_loss, g_loss), see losses.py.
    g_tx, d_tx: each player's optax optimizer (their own learning rates).
    z_dim: latent size.
    axis_name: device axis to average over, or None.
    penalties: (name, fn, weight) triples added to D's loss as
      weight * fn(game, d_params, d_state, real, fake, rng); see
      regularizers.py.
    g_ema_decay: the generator EMA's decay beta: ema <- beta ema + (1 - beta) g.
    consensus_gamma: gamma of the 'consensus' update rule.
  """

  def __init__(self, generator, discriminator, loss_fn: LossFn,
               g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation, z_dim: int,
               axis_name: str | None = None, *, penalties=(),
               g_ema_decay: float = 0.0, consensus_gamma: float = 10.0):
    self.generator, self.discriminator = generator, discriminator
    self.loss_fn, self.g_tx, self.d_tx = loss_fn, g_tx, d_tx
    self.z_dim, self.axis_name = z_dim, axis_name
    self.penalties = tuple(penalties)
    self.g_ema_decay, self.consensus_gamma = g_ema_decay, consensus_gamma

  def discriminate(self, d_params, d_state, real, fake):
    """D on the real batch, then on the fake batch (separate BatchNorm batches)."""
    real_logits, d_state = apply_model(self.discriminator, d_params, d_state, real)
    fake_logits, d_state = apply_model(self.discriminator, d_params, d_state, fake)
    return real_logits, fake_logits, d_state

  def losses(self, d_params, d_state, real, fake, rng):
    """Both players' losses at (d_params, fake): L_D includes the penalties.

    Args:
      d_params, d_state: D's parameters and model state.
      real, fake: (B, ...) samples; G's gradient flows through ``fake``.
      rng: the penalties' randomness.
    Returns:
      (d_loss, g_loss), (D's new model state, metrics: D(x), D(G(z)) and each
      weighted penalty as '<name>_penalty').
    """
    real_logits, fake_logits, new_d_state = self.discriminate(
        d_params, d_state, real, fake)
    d_loss, g_loss = self.loss_fn(real_logits, fake_logits)
    metrics = _probs(real_logits, fake_logits)
    for i, (name, penalty, weight) in enumerate(self.penalties):
      # Penalties are D's alone: no gradient reaches G through them.
      value = weight * penalty(self, d_params, d_state, real,
                               lax.stop_gradient(fake), jax.random.fold_in(rng, i))
      metrics[f'{name}_penalty'] = value
      d_loss = d_loss + value
    return (d_loss, g_loss), (new_d_state, metrics)

  def update_d(self, state: GANState, d_grads, d_state) -> GANState:
    updates, d_opt_state = self.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    return state.replace(d_params=optax.apply_updates(state.d_params, updates),
                         d_opt_state=d_opt_state, d_state=d_state)

  def update_g(self, state: GANState, g_grads, g_state) -> GANState:
    updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    return state.replace(g_params=optax.apply_updates(state.g_params, updates),
                         g_opt_state=g_opt_state, g_state=g_state)

  def update_both(self, state: GANState, grads, model_states) -> GANState:
    """Both optax updates at once, from (g_grads, d_grads) and (g_state, d_state)."""
    return self.update_d(self.update_g(state, grads[0], model_states[0]),
                         grads[1], model_states[1])

  def d_update(self, state: GANState, real, fake, rng):
    """One D update on (real, fake) with G held fixed; gradients averaged.

    Returns (new state, d_loss, metrics, d_grads).
    """
    def d_loss_fn(d_params):
      (d_loss, _), aux = self.losses(d_params, state.d_state, real, fake, rng)
      return d_loss, aux

    (d_loss, (d_state, metrics)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_grads, d_state = _pmean((d_grads, d_state), self.axis_name)
    return self.update_d(state, d_grads, d_state), d_loss, metrics, d_grads

  def d_step(self, state: GANState, real, rng) -> tuple[GANState, Metrics]:
    """One D-only update on (real, G(z)) with G held fixed."""
    z = sample_latent(rng, real.shape[0], self.z_dim, self.axis_name)
    fake, g_state = apply_model(self.generator, state.g_params, state.g_state, z)
    state, d_loss, metrics, d_grads = self.d_update(
        state, real, lax.stop_gradient(fake), _penalty_rng(rng))
    return state.replace(g_state=g_state), {
        'd_loss': d_loss, 'd_grad_norm': optax.tree.norm(d_grads), **metrics}


def player_optimizer(update_rule: str,
                     tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """``tx`` with what ``update_rule`` needs in each player's optimizer state.

  Only 'optimistic' needs anything: the previous update (optimizers.optimistic).
  """
  return optax.chain(tx, optimizers.optimistic()) if update_rule == 'optimistic' else tx


def _extra_d_steps(game: Game, state: GANState, real: jax.Array, d_steps: int):
  """Splits ``real`` into d_steps interleaved chunks; D-only updates on all but the last.

  Returns the state after them, the last chunk, the z for the final update
  and the randomness of its penalties. The randomness of chunk k is
  fold_in(fold_in(rng, step), k).
  """
  rng = jax.random.fold_in(state.rng, state.step)
  # Chunk k is rows k, k + d_steps, ...: every contiguous shard of the batch
  # (a device's, a process's) holds its own slice of every chunk, so a step
  # splits the same way on one device and on many.
  chunks = real.reshape(real.shape[0] // d_steps, d_steps, *real.shape[1:]).swapaxes(0, 1)
  for k in range(d_steps - 1):
    state, _ = game.d_step(state, chunks[k], jax.random.fold_in(rng, k))
  last = jax.random.fold_in(rng, d_steps - 1)
  z = sample_latent(last, chunks.shape[1], game.z_dim, game.axis_name)
  return state, chunks[-1], z, _penalty_rng(last)


def _distance(a, b) -> jax.Array:
  return optax.tree.norm(jax.tree.map(jnp.subtract, a, b))


def _finish(game: Game, old: GANState, new: GANState, metrics: Metrics,
            g_grads, d_grads) -> tuple[GANState, Metrics]:
  """Adds norms and the EMA, averages metrics over devices, guards, advances the step.

  Metrics added: each player's gradient norm (of the gradient its optimizer
  received in the final update) and update norm |params_new - params_old|
  (all of this step's updates, extra D steps included). The EMA generator
  becomes beta ema + (1 - beta) g_new.

  If any loss, penalty or norm is non-finite the update is dropped (the state
  stays ``old``, only ``step`` advances) and ``metrics['finite']`` is 0; the
  trainer decides whether to stop or go on (``train.on_nonfinite``).
  """
  new = new.replace(g_ema_params=optax.incremental_update(
      new.g_params, old.g_ema_params, step_size=1 - game.g_ema_decay))
  metrics = dict(metrics, g_grad_norm=optax.tree.norm(g_grads),
                 d_grad_norm=optax.tree.norm(d_grads),
                 g_update_norm=_distance(new.g_params, old.g_params),
                 d_update_norm=_distance(new.d_params, old.d_params))
  metrics = _pmean(metrics, game.axis_name)
  finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
  flags = {f'finite_{name}': jnp.isfinite(metrics[name]).astype(jnp.float32)
           for name in ('d_loss', 'g_loss', 'd_grad_norm', 'g_grad_norm')}
  kept = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  return (kept.replace(step=old.step + 1),
          {**metrics, **flags, 'finite': finite.astype(jnp.float32)})


def one_pass_gradients(game: Game, state: GANState, real: jax.Array, z: jax.Array,
                       rng: jax.Array | None = None):
  """Both players' loss gradients from one forward pass (this device's, not averaged).

  Runs G(z), D(real), D(G(z)) once, linearises them with ``jax.vjp`` and pulls
  back one cotangent per player: (0, 1) on (L_D, L_G) gives dL_G/dg and (1, 0)
  gives dL_D/dd. XLA prunes the unused half of each pullback, so every layer's
  backward pass runs only where a player needs it.

  Args:
    game, state: as for a step.
    real: (B, ...) real samples; z: (B, z_dim).
    rng: randomness of D's penalties (default: derived from state.rng, step).
  Returns:
    (d_loss, g_loss), (g_grads, d_grads), (new g_state, new d_state, metrics).
  """
  if rng is None:
    rng = _penalty_rng(jax.random.fold_in(state.rng, state.step))

  def forward(g_params, d_params):
    fake, g_state = apply_model(game.generator, g_params, state.g_state, z)
    losses, (d_state, metrics) = game.losses(d_params, state.d_state, real, fake, rng)
    return losses, (g_state, d_state, metrics)

  (d_loss, g_loss), pullback, aux = jax.vjp(
      forward, state.g_params, state.d_params, has_aux=True)
  one, zero = jnp.ones_like(d_loss), jnp.zeros_like(d_loss)
  g_grads = pullback((zero, one))[0]
  d_grads = pullback((one, zero))[1]
  return (d_loss, g_loss), (g_grads, d_grads), aux


def _averaged_gradients(game: Game, state: GANState, real, z, rng):
  """``one_pass_gradients`` with gradients and model states averaged over devices.

  Returns (d_loss, g_loss), (g_grads, d_grads), (g_state, d_state), metrics.
  """
  losses, grads, (g_state, d_state, metrics) = one_pass_gradients(
      game, state, real, z, rng)
  grads, model_states = _pmean((grads, (g_state, d_state)), game.axis_name)
  return losses, grads, model_states, metrics


def _at(state: GANState, params) -> GANState:
  """``state`` with (g_params, d_params) replaced."""
  return state.replace(g_params=params[0], d_params=params[1])


# Each final update maps (game, state, real, z, rng) -> (new state, metrics,
# (g_grads, d_grads)); ``_run`` wraps it in the extra D steps and ``_finish``.

def _simultaneous_update(game, state, real, z, rng):
  (d_loss, g_loss), grads, model_states, metrics = _averaged_gradients(
      game, state, real, z, rng)
  new = game.update_both(state, grads, model_states)
  return new, {'d_loss': d_loss, 'g_loss': g_loss, **metrics}, grads


def _alternating_update(game, state, real, z, rng):
  def generate(g_params):
    return apply_model(game.generator, g_params, state.g_state, z)

  fake, g_pullback, g_state = jax.vjp(generate, state.g_params, has_aux=True)
  state, d_loss, metrics, d_grads = game.d_update(
      state, real, lax.stop_gradient(fake), rng)

  def g_loss_fn(fake):
    # The real logits under the updated D, for losses whose G term reads them
    # (relativistic). Their model-state update is dropped, so D's running
    # statistics see the real batch once per D update; under jit the pass is
    # pruned for losses that ignore it.
    real_logits, _ = apply_model(game.discriminator, state.d_params,
                                 state.d_state, real)
    fake_logits, d_state = apply_model(game.discriminator, state.d_params,
                                       state.d_state, fake)
    return game.loss_fn(real_logits, fake_logits)[1], d_state

  (g_loss, d_state), fake_grad = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
  (g_grads,) = g_pullback(fake_grad)
  g_grads, g_state, d_state = _pmean((g_grads, g_state, d_state), game.axis_name)
  new = game.update_g(state, g_grads, g_state).replace(d_state=d_state)
  return new, {'d_loss': d_loss, 'g_loss': g_loss, **metrics}, (g_grads, d_grads)


def _extragradient_update(game, state, real, z, rng):
  losses, grads, _, metrics = _averaged_gradients(game, state, real, z, rng)
  # The look-ahead point; its optimizer and model states are thrown away.
  ahead = game.update_both(state, grads, (state.g_state, state.d_state))
  # v at the look-ahead point, on the same batch, z and penalty randomness.
  _, grads, model_states, _ = _averaged_gradients(
      game, _at(state, (ahead.g_params, ahead.d_params)), real, z, rng)
  new = game.update_both(state, grads, model_states)
  return new, {'d_loss': losses[0], 'g_loss': losses[1], **metrics}, grads


def _consensus_update(game, state, real, z, rng):
  def local_field(params):
    losses, grads, aux = one_pass_gradients(game, _at(state, params), real, z, rng)
    return grads, (losses, aux)

  local, pullback, ((d_loss, g_loss), (g_state, d_state, metrics)) = jax.vjp(
      local_field, (state.g_params, state.d_params), has_aux=True)
  field = _pmean(local, game.axis_name)
  # grad 1/2 |v|^2 = J^T v. The global J is the mean of the devices' J_k, so
  # J^T v = mean_k J_k^T v: pull the averaged v back locally, then average
  # (no collective inside the differentiated function).
  (consensus,) = pullback(field)
  consensus = _pmean(consensus, game.axis_name)
  grads = jax.tree.map(lambda v, c: v + game.consensus_gamma * c, field, consensus)
  new = game.update_both(state, grads, _pmean((g_state, d_state), game.axis_name))
  metrics = dict(metrics, consensus_loss=0.5 * optax.tree.norm(field) ** 2)
  return new, {'d_loss': d_loss, 'g_loss': g_loss, **metrics}, grads


def _is_optimistic(opt_state) -> bool:
  is_leaf = lambda s: isinstance(s, optimizers.OptimisticState)
  return any(map(is_leaf, jax.tree.leaves(opt_state, is_leaf=is_leaf)))


def _optimistic_update(game, state, real, z, rng):
  for player, opt_state in [('g', state.g_opt_state), ('d', state.d_opt_state)]:
    if not _is_optimistic(opt_state):
      raise ValueError(
          f"train.update_rule='optimistic' needs the previous update in the "
          f'optimizer state, but {player}_opt_state has none: build each '
          "optimizer with steps.player_optimizer('optimistic', tx) "
          '(train.create_game does)')
  return _simultaneous_update(game, state, real, z, rng)


def _run(final_update, state: GANState, real: jax.Array, game: Game,
         d_steps: int) -> tuple[GANState, Metrics]:
  start = state
  state, real, z, rng = _extra_d_steps(game, state, real, d_steps)
  new, metrics, (g_grads, d_grads) = final_update(game, state, real, z, rng)
  return _finish(game, start, new, metrics, g_grads, d_grads)


def simultaneous_step(state: GANState, real: jax.Array, *, game: Game,
                      d_steps: int = 1) -> tuple[GANState, Metrics]:
  """Simultaneous gradient descent with both gradients from one forward pass.

  With L_D, L_G = loss(D(x), D(G(z))):  g <- g - lr dL_G/dg and
  d <- d - lr dL_D/dd, both evaluated at the same (g, d).

  Args:
    state: the current ``GANState``.
    real: (d_steps * B, ...) real samples, this device's shard.
    game: models, loss and optimizers (bound with functools.partial).
    d_steps: D updates per G update.
  Returns:
    The new state and scalar metrics: losses, D(x), D(G(z)), penalties,
    gradient and update norms, finiteness flags.
  """
  return _run(_simultaneous_update, state, real, game, d_steps)


def alternating_step(state: GANState, real: jax.Array, *, game: Game,
                     d_steps: int = 1) -> tuple[GANState, Metrics]:
  """D steps, then one G step through the updated D (the classic schedule).

  d <- d - lr dL_D/dd (g, d);  then g <- g - lr dL_G/dg (g, d_new).
  G(z) of the last D step is computed once; its pullback carries dL_G/dG(z),
  evaluated with the updated D (on fresh real logits, for losses that need
  them), back to G's parameters. Same arguments and returns as
  ``simultaneous_step``; the metrics' d_loss, D(x) and D(G(z)) are those of
  the last D step, g_loss that of the G step.
  """
  return _run(_alternating_update, state, real, game, d_steps)


def extragradient_step(state: GANState, real: jax.Array, *, game: Game,
                       d_steps: int = 1) -> tuple[GANState, Metrics]:
  """Extragradient: step from x = (g, d) with the gradient at a look-ahead point.

  With SGD: x_half = x - lr v(x), x_new = x - lr v(x_half). With another
  optimizer both steps are its updates from the same optimizer state; the
  look-ahead's state is discarded. Same batch and z at both points. Metrics
  (losses, D outputs) are those at x; gradient norms those of v(x_half).
  """
  return _run(_extragradient_update, state, real, game, d_steps)


def optimistic_step(state: GANState, real: jax.Array, *, game: Game,
                    d_steps: int = 1) -> tuple[GANState, Metrics]:
  """Optimistic gradient descent: x_{t+1} = x_t - 2 lr v(x_t) + lr v(x_{t-1}) with SGD.

  The simultaneous step, with each optimizer chained with
  ``optimizers.optimistic`` (u_t -> 2 u_t - u_{t-1}): build them with
  ``player_optimizer('optimistic', tx)``; a state without it is an error.
  """
  return _run(_optimistic_update, state, real, game, d_steps)


def consensus_step(state: GANState, real: jax.Array, *, game: Game,
                   d_steps: int = 1) -> tuple[GANState, Metrics]:
  """Consensus optimisation (Mescheder et al. 2017).

  Both players step at once on v + gamma grad L with L = 1/2 |v|^2 and
  grad L = J^T v (a vector-Jacobian product through ``one_pass_gradients``):
  x <- x - lr (v + gamma J^T v). The metrics add consensus_loss = L; the
  gradient norms are those of the regularised gradients.
  """
  return _run(_consensus_update, state, real, game, d_steps)


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
    raise ValueError(f'train.update_rule={update!r}; allowed: {sorted(STEPS)}')
  return functools.partial(STEPS[update], game=game, d_steps=d_steps)


def simultaneous_field(game: Game, state: GANState, real: jax.Array, z: jax.Array,
                       rng: jax.Array | None = None) -> jax.Array:
  """The flow of simultaneous gradient descent at the state, flattened.

  F(g, d) = -(dL_G/dg, dL_D/dd) = -v, raveled as ``ravel_pytree((g, d))``
  orders the parameters. Gradient descent with step h is x <- x + h F(x).
  Single device (axis_name None), fixed real batch, z and penalty randomness.
  """
  _, grads, _ = one_pass_gradients(game, state, real, z, rng)
  return -ravel_pytree(grads)[0]


def field_jacobian(game: Game, state: GANState, real: jax.Array, z: jax.Array,
                   rng: jax.Array | None = None) -> jax.Array:
  """dF/dx (P, P) at x = (g, d) of the flow F of ``simultaneous_field``, by jax.jacfwd.

  P = number of parameters of both players. Its eigenvalues say how the
  continuous-time game x' = F(x) behaves near x: negative real parts attract,
  imaginary parts rotate; at the Dirac-GAN's equilibrium they are +-0.5i.
  """
  flat, unravel = ravel_pytree((state.g_params, state.d_params))
  return jax.jacfwd(lambda x: simultaneous_field(
      game, _at(state, unravel(x)), real, z, rng))(flat)


def field_eigenvalues(game: Game, state: GANState, real: jax.Array, z: jax.Array,
                      rng: jax.Array | None = None) -> np.ndarray:
  """The (P,) complex eigenvalues of ``field_jacobian``, computed on the host."""
  return np.linalg.eigvals(np.asarray(
      jax.jit(field_jacobian, static_argnums=0)(game, state, real, z, rng), np.float64))
