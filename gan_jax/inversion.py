"""Recovering z from x for a trained generator G: optimisation, an encoder, both.

The primer's open challenge "using the code": G maps z to x, but nothing maps
x back. Methods (``METHODS``), for images x (N, H, W, C) in [-1, 1]:
  optimize  z_hat = argmin_z L(z; x) by Adam from R draws of the prior, the
            best of R kept (latent_search.py), with
                L(z; x) = mean_pixels (G(z) - x)^2
                          + feature_weight * mean_k (f_k(G(z)) - f_k(x))^2
                          + prior_weight * |z|^2 / d,
            f the shipped digit classifier's 128 features, d = z_dim; z kept
            in the box [-bound, bound] by stochastic clipping (or free).
  encoder   z_hat = E(x), E trained against the frozen G on G's own samples,
            whose z is known: min_E E_z |E(G(z)) - z|^2 / d (``train_encoder``).
  hybrid    E(x) as the one start of ``optimize``.
  bigan     z_hat = E(x) of a BiGAN run (tasks/bigan.py): E learned
            adversarially with G, not by regression on G's samples.

Metrics (``latent_metrics`` on G's own samples, ``image_metrics`` on real
images) are defined in their docstrings.
"""

from __future__ import annotations

import os
import time
from typing import Callable, NamedTuple

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from gan_jax import latent_search, validation
from gan_jax.batching import in_batches
from gan_jax.evaluation.classifier import apply_in_batches
from gan_jax.modeling import apply_model
from gan_jax.models.bigan import create_bigan_models
from gan_jax.state import split_variables

METHODS = ('optimize', 'encoder', 'hybrid', 'bigan')
# A latent counts as recovered when |z_hat - z*| / sqrt(d) is below this.
RECOVERY_TOLERANCE = 0.01


def reconstruction_objective(generate: Callable, features: Callable | None = None,
                             feature_weight: float = 0.0, prior_weight: float = 0.0):
  """L(z; x) of the module docstring as (z (M, d), {'image': (M, ...)}) -> (M,).

  ``features``: images (M, ...) -> (M, K), used when ``feature_weight`` > 0.
  """
  def objective(z, targets):
    x = targets['image']
    fake = generate(z)
    loss = jnp.mean(jnp.square(fake - x).reshape(x.shape[0], -1), axis=1)
    if feature_weight:
      loss += feature_weight * jnp.mean(jnp.square(features(fake) - features(x)), axis=1)
    if prior_weight:
      loss += prior_weight * jnp.mean(jnp.square(z), axis=1)
    return loss
  return objective


def prior_starts(num: int, restarts: int, z_dim: int, seed: int) -> np.ndarray:
  """(num, restarts, z_dim) draws of N(0, I), the starts of ``optimize``."""
  return np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (num, restarts, z_dim)))


class Encoder(NamedTuple):
  """A trained encoder: ``encode`` x (M, ...) -> z (M, d) in eval mode, its training curve."""
  encode: Callable[[jax.Array], jax.Array]
  variables: dict
  curve: np.ndarray
  seconds: float


def train_encoder(generate: Callable, module: nn.Module, z_dim: int, sample_shape, *,
                  steps: int = 2000, batch_size: int = 64, learning_rate: float = 1e-3,
                  seed: int = 0, log_every: int = 200) -> Encoder:
  """E minimising E_z |E(G(z)) - z|^2 / d against the frozen ``generate``, z ~ N(0, I).

  Args:
    generate: z (B, d) -> (B, *sample_shape), G in eval mode (not trained).
    module: the encoder, called as ``module(x, train=...)`` -> (B, d).
    z_dim, sample_shape: d and one sample's shape.
    steps, batch_size, learning_rate: Adam(learning_rate) on fresh z each step.
    seed: init and z draws.
  Returns:
    Encoder; ``curve`` is the loss at every step.
  """
  validation.positive('encoder steps', steps, int)
  init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
  params, model_state = split_variables(
      module.init(init_key, jnp.zeros((1, *sample_shape)), train=False))
  optimizer = optax.adam(learning_rate)

  def loss_fn(p, state, z):
    code, state = apply_model(module, p, state, jax.lax.stop_gradient(generate(z)))
    return jnp.mean(jnp.square(code - z)), state

  @jax.jit
  def step(p, state, opt_state, t):
    z = jax.random.normal(jax.random.fold_in(data_key, t), (batch_size, z_dim))
    (loss, state), grad = jax.value_and_grad(loss_fn, has_aux=True)(p, state, z)
    updates, opt_state = optimizer.update(grad, opt_state, p)
    return optax.apply_updates(p, updates), state, opt_state, loss

  opt_state, curve, start = optimizer.init(params), [], time.time()
  for t in range(steps):
    params, model_state, opt_state, loss = step(params, model_state, opt_state, t)
    curve.append(loss)
    if (t + 1) % log_every == 0 or t + 1 == steps:
      logging.info('encoder: step %d / %d, |E(G(z)) - z|^2 / d = %.4f, %.1f s', t + 1, steps,
                   float(loss), time.time() - start)
  variables = {'params': params, **model_state}
  encode = jax.jit(lambda x: module.apply(variables, x, train=False))
  return Encoder(encode, variables, np.asarray(jnp.stack(curve)), time.time() - start)


def encoder_from_variables(module: nn.Module, variables: dict) -> Callable:
  """x -> E(x) in eval mode for saved ``variables``."""
  return jax.jit(lambda x: module.apply(variables, x, train=False))


def cached_encoder(gan, steps: int, seed: int = 0) -> Callable:
  """The regression encoder of ``gan`` (trained.TrainedGAN): x -> E(x).

  E is ``models.bigan``'s encoder for the run's model (the discriminator's
  trunk with a z_dim head), trained by ``train_encoder`` on first use and
  kept in ``<workdir>/inversion/encoder_g<G's step>_s<steps>_seed<seed>.msgpack``
  (written atomically), so that later calls with the same G reuse it.
  """
  module = create_bigan_models(gan.config.model)[0]
  path = os.path.join(gan.workdir, 'inversion',
                      f'encoder_g{gan.step}_s{steps}_seed{seed}.msgpack')
  template = module.init(jax.random.PRNGKey(0), jnp.zeros((1, *gan.sample_shape)), train=False)
  if os.path.exists(path):
    with open(path, 'rb') as f:
      variables = flax.serialization.from_bytes(template, f.read())
    logging.info('encoder: reusing %s', path)
    return encoder_from_variables(module, variables)
  encoder = train_encoder(gan.generate, module, gan.z_dim, gan.sample_shape, steps=steps,
                          seed=seed)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + '.tmp', 'wb') as f:
    f.write(flax.serialization.to_bytes(encoder.variables))
  os.replace(path + '.tmp', path)
  return encoder.encode


def latent_metrics(z_hat: np.ndarray, z_true: np.ndarray, recon: np.ndarray,
                   target: np.ndarray) -> dict[str, float]:
  """On G's own samples x = G(z*), with z_hat (N, d) and recon = G(z_hat):

  recovery_rate  fraction of rows with |z_hat - z*| / sqrt(d) < RECOVERY_TOLERANCE;
  latent_rmse    mean over rows of |z_hat - z*| / sqrt(d);
  pixel_mse      mean over rows and pixels of (G(z_hat) - x)^2.
  """
  err = np.linalg.norm(z_hat - z_true, axis=1) / np.sqrt(z_true.shape[1])
  return {'recovery_rate': float(np.mean(err < RECOVERY_TOLERANCE)),
          'latent_rmse': float(np.mean(err)),
          'pixel_mse': float(np.mean(np.square(recon - target)))}


def image_metrics(recon: np.ndarray, target: np.ndarray, labels: np.ndarray,
                  classifier) -> dict[str, float]:
  """On real images x (N, 28, 28, 1) with labels, recon = G(z_hat), f = the classifier:

  pixel_mse         mean over rows and pixels of (G(z_hat) - x)^2;
  feature_distance  mean over rows of |f(G(z_hat)) - f(x)|_2 (128 features);
  label_kept        fraction of rows whose reconstruction the classifier
                    labels as the digit's true label;
  label_real        the same classifier's accuracy on the originals (the
                    ceiling of label_kept).
  """
  f_recon = apply_in_batches(classifier.features, classifier.params, recon)
  f_real = apply_in_batches(classifier.features, classifier.params, target)
  predict = lambda x: np.argmax(apply_in_batches(classifier.logits, classifier.params, x), 1)
  return {'pixel_mse': float(np.mean(np.square(recon - target))),
          'feature_distance': float(np.mean(np.linalg.norm(f_recon - f_real, axis=1))),
          'label_kept': float(np.mean(predict(recon) == labels)),
          'label_real': float(np.mean(predict(target) == labels))}


class SearchSettings(NamedTuple):
  """The options of ``optimize`` and ``hybrid`` (see the module docstring)."""
  restarts: int = 4
  steps: int = 500
  learning_rate: float = 0.05
  constraint: str = 'clip'
  bound: float = 4.0
  feature_weight: float = 0.0
  prior_weight: float = 0.0
  seed: int = 0

  def validate(self) -> None:
    validation.positive('restarts', self.restarts, int)
    latent_search.validate(self.steps, self.learning_rate, self.constraint, self.bound)
    validation.at_least_zero('feature_weight', self.feature_weight)
    validation.at_least_zero('prior_weight', self.prior_weight)


class Inversion(NamedTuple):
  """z_hat (N, d), G(z_hat) (N, ...), seconds per image (encoder training not counted),
  the search's mean-loss curve ((steps,), empty without a search)."""
  z: np.ndarray
  recon: np.ndarray
  seconds_per_image: float
  curve: np.ndarray


def invert(method: str, generate: Callable, z_dim: int, images: np.ndarray,
           settings: SearchSettings = SearchSettings(), encode: Callable | None = None,
           features: Callable | None = None) -> Inversion:
  """z_hat for each of ``images`` (N, ...) by ``method`` (one of METHODS).

  Args:
    generate: z (M, d) -> (M, ...), G frozen in eval mode.
    encode: x (M, ...) -> (M, d), needed by 'encoder', 'hybrid' and 'bigan'.
    features: images -> (M, K), needed when settings.feature_weight > 0.
  """
  validation.choice('method', method, METHODS)
  settings.validate()
  start = time.time()
  curve = np.zeros((0,), np.float32)
  if method == 'optimize' or method == 'hybrid':
    z0 = (in_batches(encode, images)[:, None] if method == 'hybrid' else
          prior_starts(len(images), settings.restarts, z_dim, settings.seed))
    objective = reconstruction_objective(generate, features, settings.feature_weight,
                                         settings.prior_weight)
    result = latent_search.search(
        objective, {'image': images}, z0, steps=settings.steps,
        learning_rate=settings.learning_rate, constraint=settings.constraint,
        bound=settings.bound, seed=settings.seed, label=method)
    z, curve = result.z, result.curve
  else:
    z = in_batches(encode, images)
  seconds = time.time() - start
  return Inversion(z, in_batches(generate, z), seconds / len(images), curve)
