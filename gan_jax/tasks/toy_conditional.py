"""A class-conditional GAN on a labelled 2-D mixture (``task = 'toy_conditional'``).

The worked example of README "Add a task": the smallest game whose batches
carry more than the samples. Batch {'x': (B, 2) points, 'label': (B,) the
index of the mode each point was drawn from}. With e(y) the one-hot code of
y over K = data.num_classes classes and z ~ N(0, I) of (B, z_dim):
    fake = G([z, e(y)]),  l_real = D([x, e(y)]),  l_fake = D([fake, e(y)]),
    (L_D, L_G) = loss(l_real, l_fake)      (``train.loss``),
so G learns p(x | y) for the labels of the real batch and D judges
(sample, label) pairs. Both networks are MLPs (``model.g_hidden``,
``model.d_hidden``, ``model.output_activation``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax.errors import ConfigError
from gan_jax.modeling import sample_latent
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task
from gan_jax.tasks.unconditional import d_probabilities


class ToyConditional(Task):
  """Players 'generator' G([z, e(y)]) -> (B, *shape) and 'discriminator'
  D([x, e(y)]) -> logits (B,); see the module docstring."""
  sample_key = 'x'

  def __init__(self, generator, discriminator, loss_fn, z_dim: int, num_classes: int,
               axis_name: str | None = None):
    self.players = {'generator': Player(generator, 'generator', 'g'),
                    'discriminator': Player(discriminator, 'discriminator', 'd')}
    self.loss_fn, self.z_dim, self.num_classes = loss_fn, z_dim, num_classes
    self.axis_name = axis_name

  def _code(self, labels):
    return jax.nn.one_hot(labels, self.num_classes)

  def conditional_sample(self, g_params, z, labels):
    """G([z, e(labels)]): (B, z_dim), (B,) -> (B, *shape)."""
    return self.module('generator').apply(
        {'params': g_params}, jnp.concatenate([z, self._code(labels)], -1))

  def critic(self, d_params, x, labels):
    return self.module('discriminator').apply(
        {'params': d_params}, jnp.concatenate([x, self._code(labels)], -1))

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    dim = example_batch['x'].shape[-1]
    g, _ = split_variables(self.module('generator').init(
        keys['generator'], jnp.zeros((1, self.z_dim + self.num_classes))))
    d, _ = split_variables(self.module('discriminator').init(
        keys['discriminator'], jnp.zeros((1, dim + self.num_classes))))
    return {'generator': g, 'discriminator': d}, {'generator': {}, 'discriminator': {}}

  def generate(self, params, model_state, batch, rng):
    """G([z, e(y)]) for the batch's labels y: ({'fake'}, no model state)."""
    x, y = batch['x'], batch['label']
    z = sample_latent(rng, x.shape[0], self.z_dim, self.axis_name)
    return {'fake': self.conditional_sample(params['generator'], z, y)}, {}

  def judge(self, params, model_state, batch, samples, rng):
    x, y = batch['x'], batch['label']
    real_logits = self.critic(params['discriminator'], x, y)
    fake_logits = self.critic(params['discriminator'], samples['fake'], y)
    d_loss, g_loss = self.loss_fn(real_logits, fake_logits)
    return {'generator': g_loss, 'discriminator': d_loss}, ({}, d_probabilities(
        real_logits, fake_logits))

  def sample_inputs(self, rng, num):
    # Class i % K for row i: every picture and evaluation sees every class.
    return {'z': jax.random.normal(rng, (num, self.z_dim)),
            'label': jnp.arange(num) % self.num_classes}

  def sample(self, params, model_state, inputs):
    del model_state
    return self.conditional_sample(params['generator'], inputs['z'], inputs['label'])


def from_config(config, data, axis_name=None) -> ToyConditional:
  """MLPs of ``config.model`` for labelled points ``data`` (``data.num_classes`` > 0)."""
  if not data.num_classes or len(data.sample_shape) != 1:
    raise ConfigError(f"task='toy_conditional' needs labelled points (data.name 'ring' "
                      f"or 'grid'); the data has samples of {tuple(data.sample_shape)} "
                      f'and {data.num_classes} classes')
  m, t = config.model, config.train
  generator = MLPGenerator(hidden=tuple(m.g_hidden), out_shape=tuple(data.sample_shape),
                           output_activation=m.output_activation)
  discriminator = MLPDiscriminator(hidden=tuple(m.d_hidden))
  return ToyConditional(generator, discriminator, losses.get_loss(t.loss), m.z_dim,
                        data.num_classes, axis_name)
