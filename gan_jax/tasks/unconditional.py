"""The primer's game: G(z) against D(x) (``task = 'unconditional'``, the default).

Batch: {sample_key: (B, ...) real samples, ...}; other entries (labels) are
ignored. z ~ N(0, I) of (B, z_dim) is drawn from the step's key, per device
slice of the global z. With (d_loss, g_loss) = loss(D(x), D(G(z))), D's loss
also carries the weighted penalties of ``train.regularizers``, computed on
(x, stop_gradient(G(z))) so that no gradient reaches G through them.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import losses, models, regularizers
from gan_jax.modeling import apply_model, sample_latent
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task


def d_probabilities(real_logits, fake_logits) -> dict[str, jax.Array]:
  """Mean D(x) and D(G(z)), the progress line's d_real and d_fake."""
  return {'d_real': jnp.mean(jax.nn.sigmoid(real_logits)),
          'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits))}


def penalty_rng(rng: jax.Array) -> jax.Array:
  """The key of D's penalties (WGAN-GP's interpolates); z uses ``rng`` itself."""
  return jax.random.fold_in(rng, 1)


class Unconditional(Task):
  """Players 'generator' (G: z (B, z_dim) -> (B, ...)) and 'discriminator'
  (D: (B, ...) -> logits (B / pack,)).

  Args:
    generator, discriminator: flax modules (D may be PacGAN-packed).
    loss_fn: (real_logits, fake_logits) -> (d_loss, g_loss), see losses.py.
    z_dim: latent size.
    sample_key: the batch entry with the real samples ('image' or 'x').
    axis_name: device axis of z's global draw, or None.
    penalties: (name, fn, weight) triples, see regularizers.py; each adds
      weight * fn(critic, x, G(z), key, axis_name) to D's loss and the metric
      '<name>_penalty'.
  """

  def __init__(self, generator: nn.Module, discriminator: nn.Module, loss_fn,
               z_dim: int, sample_key: str = 'image', axis_name: str | None = None,
               penalties=()):
    self.players = {'generator': Player(generator, 'generator', 'g'),
                    'discriminator': Player(discriminator, 'discriminator', 'd')}
    self.loss_fn, self.z_dim, self.sample_key = loss_fn, z_dim, sample_key
    self.axis_name, self.penalties = axis_name, tuple(penalties)

  @property
  def generator(self) -> nn.Module:
    return self.module('generator')

  @property
  def discriminator(self) -> nn.Module:
    return self.module('discriminator')

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    g_params, g_state = split_variables(self.generator.init(
        keys['generator'], jnp.zeros((1, self.z_dim)), train=False))
    # A PacGAN discriminator judges packs of `pack` samples: its dummy batch
    # must hold one whole pack. Parameters do not depend on the batch size.
    sample_shape = example_batch[self.sample_key].shape[1:]
    d_batch = getattr(self.discriminator, 'pack', 1)
    d_params, d_state = split_variables(self.discriminator.init(
        keys['discriminator'], jnp.zeros((d_batch, *sample_shape)), train=False))
    return ({'generator': g_params, 'discriminator': d_params},
            {'generator': g_state, 'discriminator': d_state})

  def discriminate(self, d_params, d_state, real, fake):
    """D on the real batch, then on the fake batch (separate BatchNorm batches)."""
    real_logits, d_state = apply_model(self.discriminator, d_params, d_state, real)
    fake_logits, d_state = apply_model(self.discriminator, d_params, d_state, fake)
    return real_logits, fake_logits, d_state

  def d_losses(self, d_params, d_state, real, fake, rng):
    """(d_loss, g_loss), (D's new state, metrics) at D's params for given samples.

    ``rng`` is the penalties' key; G's gradient, if any, flows through ``fake``.
    """
    real_logits, fake_logits, new_d_state = self.discriminate(d_params, d_state, real, fake)
    d_loss, g_loss = self.loss_fn(real_logits, fake_logits)
    metrics = d_probabilities(real_logits, fake_logits)
    critic = lambda x: apply_model(self.discriminator, d_params, d_state, x)[0]
    d_loss = regularizers.add_penalties(self.penalties, critic, real, fake, rng,
                                        self.axis_name, d_loss, metrics)
    return (d_loss, g_loss), (new_d_state, metrics)

  def generate(self, params, model_state, batch, rng):
    """G(z) for z ~ N(0, I) of (B, z_dim) drawn from ``rng``: ({'fake'}, G's state)."""
    z = sample_latent(rng, batch[self.sample_key].shape[0], self.z_dim, self.axis_name)
    fake, g_state = apply_model(self.generator, params['generator'],
                                model_state['generator'], z)
    return {'fake': fake}, {'generator': g_state}

  def judge(self, params, model_state, batch, samples, rng):
    (d_loss, g_loss), (d_state, metrics) = self.d_losses(
        params['discriminator'], model_state['discriminator'], batch[self.sample_key],
        samples['fake'], penalty_rng(rng))
    return ({'generator': g_loss, 'discriminator': d_loss},
            ({'discriminator': d_state}, metrics))

  def sample_inputs(self, rng, num):
    return {'z': jax.random.normal(rng, (num, self.z_dim))}

  def sample(self, params, model_state, inputs):
    return self.generator.apply({'params': params['generator'],
                                 **model_state['generator']}, inputs['z'], train=False)


def from_config(config, data, axis_name=None) -> Unconditional:
  """The task of ``config.model`` (models registry), ``train.loss`` and
  ``train.regularizers`` for samples ``data.sample_key`` of ``data.sample_shape``."""
  t = config.train
  generator, discriminator = models.create_models(config.model, data.sample_shape,
                                                  axis_name=axis_name)
  return Unconditional(generator, discriminator, losses.get_loss(t.loss, t.label_smoothing),
                       config.model.z_dim, data.sample_key, axis_name,
                       penalties=regularizers.create_penalties(t))
