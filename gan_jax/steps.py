"""Pure train-step functions of the two-player game.

A step maps (state, real) -> (state, metrics). It is written per device: with
``axis_name`` set it averages gradients, losses and BatchNorm statistics over
that device axis (``jax.pmap``); with ``axis_name=None`` it sees the global
batch (one device, or ``jax.jit`` over a sharded batch, where XLA inserts the
reductions). The randomness of step t is fold_in(state.rng, t); the global
batch of z is drawn whole and each device takes its slice, so a step does not
depend on how the batch is split over devices.

Update rules (``train.update_rule``):
  simultaneous: the primer's simultaneous gradient descent. One forward pass
    G(z), D(x), D(G(z)); both players' gradients from it (one ``jax.vjp``,
    one cotangent per player); both optax updates applied at once.
  alternating: the classic PyTorch schedule. D steps on (x, G(z)); then G
    steps through the *updated* D, reusing the same G(z) and its pullback.
With ``d_steps = k`` the batch holds k chunks; D takes k - 1 extra steps on
the first chunks before the final update on the last one.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax.losses import LossFn
from gan_jax.state import GANState

Metrics = dict[str, jax.Array]
UPDATES = ('simultaneous', 'alternating')


def apply_model(model: nn.Module, params, model_state, x, train: bool = True):
  """Runs ``model`` and returns (output, updated model state)."""
  variables = {'params': params, **model_state}
  if not model_state:
    return model.apply(variables, x, train=train), model_state
  out, new_state = model.apply(variables, x, train=train,
                               mutable=list(model_state))
  return out, dict(new_state)


def sample_latent(rng: jax.Array, batch: int, z_dim: int,
                  axis_name: str | None) -> jax.Array:
  """z ~ N(0, I) of shape (batch, z_dim): this device's slice of the global z."""
  if axis_name is None:
    return jax.random.normal(rng, (batch, z_dim))
  z = jax.random.normal(rng, (batch * lax.psum(1, axis_name), z_dim))
  return lax.dynamic_slice_in_dim(z, lax.axis_index(axis_name) * batch, batch)


def _pmean(tree, axis_name):
  return tree if axis_name is None else lax.pmean(tree, axis_name)


def _probs(real_logits, fake_logits) -> Metrics:
  return {'d_real': jnp.mean(jax.nn.sigmoid(real_logits)),
          'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits))}


class Game:
  """The fixed parts of a step: models, loss, optimizers, latent size, device axis."""

  def __init__(self, generator, discriminator, loss_fn: LossFn,
               g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation, z_dim: int,
               axis_name: str | None = None):
    self.generator, self.discriminator = generator, discriminator
    self.loss_fn, self.g_tx, self.d_tx = loss_fn, g_tx, d_tx
    self.z_dim, self.axis_name = z_dim, axis_name

  def discriminate(self, d_params, d_state, real, fake):
    """D on the real batch, then on the fake batch (separate BatchNorm batches)."""
    real_logits, d_state = apply_model(self.discriminator, d_params, d_state, real)
    fake_logits, d_state = apply_model(self.discriminator, d_params, d_state, fake)
    return real_logits, fake_logits, d_state

  def update_d(self, state: GANState, d_grads, d_state) -> GANState:
    updates, d_opt_state = self.d_tx.update(d_grads, state.d_opt_state, state.d_params)
    return state.replace(d_params=optax.apply_updates(state.d_params, updates),
                         d_opt_state=d_opt_state, d_state=d_state)

  def update_g(self, state: GANState, g_grads, g_state) -> GANState:
    updates, g_opt_state = self.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    return state.replace(g_params=optax.apply_updates(state.g_params, updates),
                         g_opt_state=g_opt_state, g_state=g_state)

  def d_step(self, state: GANState, real, rng) -> tuple[GANState, Metrics]:
    """One D-only update on (real, G(z)) with G held fixed."""
    z = sample_latent(rng, real.shape[0], self.z_dim, self.axis_name)
    fake, g_state = apply_model(self.generator, state.g_params, state.g_state, z)
    fake = lax.stop_gradient(fake)

    def d_loss_fn(d_params):
      real_logits, fake_logits, d_state = self.discriminate(
          d_params, state.d_state, real, fake)
      d_loss, _ = self.loss_fn(real_logits, fake_logits)
      return d_loss, (d_state, _probs(real_logits, fake_logits))

    (d_loss, (d_state, probs)), d_grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(state.d_params)
    d_grads = _pmean(d_grads, self.axis_name)
    d_state = _pmean(d_state, self.axis_name)
    state = self.update_d(state, d_grads, d_state).replace(g_state=g_state)
    return state, {'d_loss': d_loss, 'd_grad_norm': optax.tree.norm(d_grads), **probs}


def _extra_d_steps(game: Game, state: GANState, real: jax.Array, d_steps: int):
  """Splits ``real`` into d_steps interleaved chunks; D-only updates on all but the last.

  Returns the state after them, the last chunk, and the z for the final update.
  The randomness of chunk k is fold_in(fold_in(rng, step), k).
  """
  rng = jax.random.fold_in(state.rng, state.step)
  # Chunk k is rows k, k + d_steps, ...: every contiguous shard of the batch
  # (a device's, a process's) holds its own slice of every chunk, so a step
  # splits the same way on one device and on many.
  chunks = real.reshape(real.shape[0] // d_steps, d_steps, *real.shape[1:]).swapaxes(0, 1)
  for k in range(d_steps - 1):
    state, _ = game.d_step(state, chunks[k], jax.random.fold_in(rng, k))
  z = sample_latent(jax.random.fold_in(rng, d_steps - 1), chunks.shape[1],
                    game.z_dim, game.axis_name)
  return state, chunks[-1], z


def _finish(game: Game, old: GANState, new: GANState, metrics: Metrics,
            g_grads, d_grads) -> tuple[GANState, Metrics]:
  """Adds gradient norms, averages metrics over devices, guards, advances the step.

  If any loss or gradient is non-finite the update is dropped (the state stays
  ``old``, only ``step`` advances) and ``metrics['finite']`` is 0; the trainer
  decides whether to stop or go on (``train.on_nonfinite``).
  """
  metrics = dict(metrics, g_grad_norm=optax.tree.norm(g_grads),
                 d_grad_norm=optax.tree.norm(d_grads))
  metrics = _pmean(metrics, game.axis_name)
  finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
  flags = {f'finite_{name}': jnp.isfinite(metrics[name]).astype(jnp.float32)
           for name in ('d_loss', 'g_loss', 'd_grad_norm', 'g_grad_norm')}
  kept = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  return (kept.replace(step=old.step + 1),
          {**metrics, **flags, 'finite': finite.astype(jnp.float32)})


def one_pass_gradients(game: Game, state: GANState, real: jax.Array, z: jax.Array):
  """Both players' loss gradients from one forward pass (this device's, not averaged).

  Runs G(z), D(real), D(G(z)) once, linearises them with ``jax.vjp`` and pulls
  back one cotangent per player: (0, 1) on (L_D, L_G) gives dL_G/dg and (1, 0)
  gives dL_D/dd. XLA prunes the unused half of each pullback, so every layer's
  backward pass runs only where a player needs it.

  Returns:
    (d_loss, g_loss), (g_grads, d_grads), (new g_state, new d_state, probs).
  """
  def forward(g_params, d_params):
    fake, g_state = apply_model(game.generator, g_params, state.g_state, z)
    real_logits, fake_logits, d_state = game.discriminate(
        d_params, state.d_state, real, fake)
    losses = game.loss_fn(real_logits, fake_logits)
    return losses, (g_state, d_state, _probs(real_logits, fake_logits))

  (d_loss, g_loss), pullback, aux = jax.vjp(
      forward, state.g_params, state.d_params, has_aux=True)
  one, zero = jnp.ones_like(d_loss), jnp.zeros_like(d_loss)
  g_grads = pullback((zero, one))[0]
  d_grads = pullback((one, zero))[1]
  return (d_loss, g_loss), (g_grads, d_grads), aux


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
    The new state and scalar metrics (losses, D(x), D(G(z)), gradient norms).
  """
  start = state
  state, real, z = _extra_d_steps(game, state, real, d_steps)

  (d_loss, g_loss), (g_grads, d_grads), (g_state, d_state, probs) = (
      one_pass_gradients(game, state, real, z))
  g_grads, d_grads, g_state, d_state = _pmean(
      (g_grads, d_grads, g_state, d_state), game.axis_name)
  new = game.update_d(game.update_g(state, g_grads, g_state), d_grads, d_state)
  return _finish(game, start, new,
                 {'d_loss': d_loss, 'g_loss': g_loss, **probs}, g_grads, d_grads)


def alternating_step(state: GANState, real: jax.Array, *, game: Game,
                     d_steps: int = 1) -> tuple[GANState, Metrics]:
  """D steps, then one G step through the updated D (the classic schedule).

  G(z) of the last D step is computed once; its pullback carries dL_G/dG(z),
  evaluated with the updated D, back to G's parameters. Same arguments and
  returns as ``simultaneous_step``; the metrics' d_loss, D(x) and D(G(z)) are
  those of the last D step, g_loss that of the G step.
  """
  start = state
  state, real, z = _extra_d_steps(game, state, real, d_steps)

  def generate(g_params):
    return apply_model(game.generator, g_params, state.g_state, z)

  fake, g_pullback, g_state = jax.vjp(generate, state.g_params, has_aux=True)

  def d_loss_fn(d_params):
    real_logits, fake_logits, d_state = game.discriminate(
        d_params, state.d_state, real, lax.stop_gradient(fake))
    return game.loss_fn(real_logits, fake_logits)[0], (
        d_state, _probs(real_logits, fake_logits))

  (d_loss, (d_state, probs)), d_grads = jax.value_and_grad(
      d_loss_fn, has_aux=True)(state.d_params)
  d_grads, d_state = _pmean((d_grads, d_state), game.axis_name)
  state = game.update_d(state, d_grads, d_state)

  def g_loss_fn(fake):
    fake_logits, d_state = apply_model(game.discriminator, state.d_params,
                                       state.d_state, fake)
    # The G loss of every registered loss depends on the fake logits only.
    return game.loss_fn(jnp.zeros_like(fake_logits), fake_logits)[1], d_state

  (g_loss, d_state), fake_grad = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
  (g_grads,) = g_pullback(fake_grad)
  g_grads, g_state, d_state = _pmean((g_grads, g_state, d_state), game.axis_name)
  new = game.update_g(state, g_grads, g_state).replace(d_state=d_state)
  return _finish(game, start, new,
                 {'d_loss': d_loss, 'g_loss': g_loss, **probs}, g_grads, d_grads)


STEPS: dict[str, Callable[..., Any]] = {
    'simultaneous': simultaneous_step,
    'alternating': alternating_step,
}


def make_train_step(game: Game, update: str, d_steps: int = 1):
  """The step function for ``train.update``, with its fixed arguments bound."""
  if update not in STEPS:
    raise ValueError(f'train.update_rule={update!r}; allowed: {sorted(STEPS)}')
  return functools.partial(STEPS[update], game=game, d_steps=d_steps)
