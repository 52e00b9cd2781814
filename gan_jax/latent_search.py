"""Searching G's latent space: z = argmin_z L(z) by Adam, R starts per target.

Shared by inversion (L = distance of G(z) to an image) and semantic
inpainting (L = contextual + prior loss). G is frozen and in eval mode, so
the per-target losses are independent: the N targets x R starts are one
batch of N R rows, and one ``jax.vjp`` with a cotangent of ones gives every
row's own gradient. optax's Adam is elementwise, so one Adam on the (N R, d)
array is N R independent Adams. Targets are searched ``chunk`` at a time
(memory is that of one chunk's G forward and backward passes), by one
compiled step.

Constraint on z:
  'clip'  stochastic clipping (Lipton & Tripathi, arXiv 1702.04782): after
          each step, every component outside the box [-b, b] is redrawn
          inside it. They draw uniformly (their prior is uniform on the box);
          ours is N(0, I), so a component is redrawn from N(0, 1) truncated
          to the box, the prior restricted to the box.
  'none'  z is free.
"""

from __future__ import annotations

import functools
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from gan_jax import validation

CONSTRAINTS = ('clip', 'none')
PROGRESS_EVERY = 100  # steps between progress lines of a long search
# Objective: (z (M, d), targets {name: (M, ...)}) -> (M,) losses.
Objective = Callable[[jax.Array, dict], jax.Array]


class SearchResult(NamedTuple):
  """The best start of each target.

  Attributes:
    z: (N, d) the latent of the lowest final loss over the R starts.
    loss: (N,) its loss.
    curve: (steps,) the mean loss over all N R rows at each step (before the
      update of that step).
    seconds: wall time of the whole search (compilation included).
  """
  z: np.ndarray
  loss: np.ndarray
  curve: np.ndarray
  seconds: float


def stochastic_clip(z: jax.Array, rng: jax.Array, bound: float) -> jax.Array:
  """Components of z (..., d) with |z_i| > bound redrawn from N(0, 1) truncated to [-bound, bound]."""
  fresh = jax.random.truncated_normal(rng, -bound, bound, z.shape, z.dtype)
  return jnp.where(jnp.abs(z) > bound, fresh, z)


def row_gradients(objective: Objective, z: jax.Array, targets: dict):
  """(losses (M,), d loss_m / d z_m (M, d)): every row's own gradient from one ``jax.vjp``.

  Row m's loss depends on row m of z only, so the cotangent of ones gives
  the gradient of each row's loss with respect to its own z.
  """
  losses, pullback = jax.vjp(lambda v: objective(v, targets), z)
  (grad,) = pullback(jnp.ones_like(losses))
  return losses, grad


def validate(steps: int, learning_rate: float, constraint: str, bound: float) -> None:
  """Raises ConfigError (one line) for the first unusable search setting."""
  validation.positive('steps', steps, int)
  validation.positive('learning_rate', learning_rate)
  validation.choice('constraint', constraint, CONSTRAINTS)
  validation.positive('bound', bound)


def _search_chunk(objective: Objective, steps: int, learning_rate: float,
                  constraint: str, bound: float):
  """The search of one chunk: (z0 (M, d), targets, rng) -> (z, loss (M,),
  losses (steps, M) before each step's update)."""
  optimizer = optax.adam(learning_rate)

  # One jitted step called from a Python loop, not a lax.scan over the steps:
  # XLA:CPU ran the scanned DCGAN step 1.9x slower (0.58 against 0.31 s per
  # step for 32 rows, same machine), and the loop costs nothing measurable.
  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def step(z, opt_state, targets, key):
    losses, grad = row_gradients(objective, z, targets)
    updates, opt_state = optimizer.update(grad, opt_state, z)
    z = optax.apply_updates(z, updates)
    if constraint == 'clip':
      z = stochastic_clip(z, key, bound)
    return z, opt_state, losses

  final = jax.jit(objective)

  def run(z0, targets, rng, progress):
    z, opt_state, curve = z0, optimizer.init(z0), []
    for t, key in enumerate(jax.random.split(rng, steps)):
      z, opt_state, losses = step(z, opt_state, targets, key)
      curve.append(losses)
      if (t + 1) % PROGRESS_EVERY == 0:
        progress(t + 1, losses)
    return z, final(z, targets), jnp.stack(curve)
  return run


def search(objective: Objective, targets: dict, z0: np.ndarray, *, steps: int,
           learning_rate: float, constraint: str = 'clip', bound: float = 4.0,
           seed: int = 0, chunk: int = 128, label: str = 'search') -> SearchResult:
  """Minimises ``objective`` from each of R starts per target; keeps the best start.

  Args:
    objective: (z (M, d), targets {name: (M, ...)}) -> (M,) losses, row m of
      z scored against row m of the targets only.
    targets: {name: (N, ...)} arrays, e.g. {'image': (N, H, W, C)}.
    z0: (N, R, d) starting points (draws of the prior, or an encoder's
      output with R = 1).
    steps, learning_rate: Adam steps and rate.
    constraint, bound: 'clip' (stochastic clipping to [-bound, bound]) or 'none'.
    seed: key of the clipping's redraws; chunk: targets per compiled search.
    label: name in the progress log lines.

  Returns:
    SearchResult; row n is the start r of target n with the lowest final loss.
  """
  validate(steps, learning_rate, constraint, bound)
  n, r, d = z0.shape
  chunk = min(chunk, n)  # a full chunk of padding would be wasted work
  run = _search_chunk(objective, steps, learning_rate, constraint, bound)
  start = time.time()
  zs, losses, curves = [], [], []
  for lo in range(0, n, chunk):
    hi = min(lo + chunk, n)
    # Pad the last chunk so that every chunk has one shape: one compilation.
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], lo + chunk - hi, 0)]) if hi - lo < chunk else a
    rows = {k: np.repeat(pad(np.asarray(v[lo:hi])), r, axis=0) for k, v in targets.items()}
    progress = lambda t, step_losses: logging.info(
        '%s: targets %d-%d of %d, step %d / %d, mean loss %.4g, %.1f s', label, lo + 1, hi, n,
        t, steps, float(jnp.mean(step_losses)), time.time() - start)
    z, loss, curve = run(jnp.asarray(pad(z0[lo:hi]).reshape(-1, d)), rows,
                         jax.random.fold_in(jax.random.PRNGKey(seed), lo), progress)
    z, loss = np.asarray(z).reshape(chunk, r, d)[:hi - lo], np.asarray(loss).reshape(chunk, r)[:hi - lo]
    best = np.argmin(loss, axis=1)
    zs.append(z[np.arange(hi - lo), best])
    losses.append(loss[np.arange(hi - lo), best])
    curves.append(np.asarray(curve)[:, :(hi - lo) * r])  # without the padding rows
    logging.info('%s: %d / %d targets, mean loss %.4g, %.1f s', label, hi, n,
                 float(np.mean(np.concatenate(losses))), time.time() - start)
  return SearchResult(np.concatenate(zs), np.concatenate(losses),
                      np.concatenate(curves, axis=1).mean(axis=1), time.time() - start)
