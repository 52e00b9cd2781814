"""Class-conditional GANs on labelled images (``task = 'conditional'``).

Batch {sample_key: (B, ...) real samples, 'label': (B,) int in [0, K)}. G
draws for the labels of the real batch, so real and fake batches hold the
same classes. With z ~ N(0, I) of (B, z_dim):
    fake = G(z, y),   (l_real, c_real) = D(x, y),   (l_fake, c_fake) = D(fake, y),
    (L_D, L_G) = loss(l_real, l_fake)                     (``train.loss``),
and for an auxiliary-classifier D (ACGAN, Odena et al. 2017; ``model.d_conditioning
= 'acgan'``), with CE the softmax cross-entropy against y and w =
``train.acgan_weight``:
    L_D += w (CE(c_real) + CE(c_fake)),    L_G += w CE(c_fake),
i.e. both players maximise the log-likelihood of the right class. D's
penalties (``train.regularizers``) see the critic x -> l(x, y) of the batch's
labels. The conditionings are in models/conditional.py.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import losses, models, regularizers
from gan_jax.errors import ConfigError
from gan_jax.modeling import apply_model, sample_latent
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task
from gan_jax.tasks.unconditional import d_probabilities, penalty_rng


def class_loss(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy of (B, K) logits against (B,) labels."""
  return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels).mean()


class Conditional(Task):
  """Players 'generator' G(z, y) and 'discriminator' D(x, y); see the module docstring.

  Args:
    generator, discriminator: ``models.create_conditional_models``' pair.
    loss_fn: (real_logits, fake_logits) -> (d_loss, g_loss), see losses.py.
    z_dim: latent size.
    num_classes: K.
    sample_key: the batch entry of the samples.
    axis_name: device axis of z's global draw and BatchNorm, or None.
    penalties: (name, fn, weight) triples of regularizers.py.
    acgan_weight: w of the class losses (used when D has a class head).
  """

  def __init__(self, generator, discriminator, loss_fn, z_dim: int, num_classes: int,
               sample_key: str = 'image', axis_name: str | None = None, penalties=(),
               acgan_weight: float = 1.0):
    self.players = {'generator': Player(generator, 'generator', 'g'),
                    'discriminator': Player(discriminator, 'discriminator', 'd')}
    self.loss_fn, self.z_dim, self.num_classes = loss_fn, z_dim, num_classes
    self.sample_key, self.axis_name = sample_key, axis_name
    self.penalties, self.acgan_weight = tuple(penalties), acgan_weight

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    label = jnp.zeros((1,), jnp.int32)
    g_params, g_state = split_variables(self.module('generator').init(
        keys['generator'], jnp.zeros((1, self.z_dim)), label, train=False))
    sample_shape = example_batch[self.sample_key].shape[1:]
    d_params, d_state = split_variables(self.module('discriminator').init(
        keys['discriminator'], jnp.zeros((1, *sample_shape)), label, train=False))
    return ({'generator': g_params, 'discriminator': d_params},
            {'generator': g_state, 'discriminator': d_state})

  def generate(self, params, model_state, batch, rng):
    """G(z, y) for the batch's labels y: ({'fake'}, G's state)."""
    labels = batch['label']
    z = sample_latent(rng, labels.shape[0], self.z_dim, self.axis_name)
    fake, g_state = apply_model(self.module('generator'), params['generator'],
                                model_state['generator'], z, labels)
    return {'fake': fake}, {'generator': g_state}

  def judge(self, params, model_state, batch, samples, rng):
    d, d_params = self.module('discriminator'), params['discriminator']
    real, fake, labels = batch[self.sample_key], samples['fake'], batch['label']
    state = model_state['discriminator']
    (real_logits, real_classes), new_state = apply_model(d, d_params, state, real, labels)
    (fake_logits, fake_classes), new_state = apply_model(d, d_params, new_state, fake, labels)
    d_loss, g_loss = self.loss_fn(real_logits, fake_logits)
    metrics = d_probabilities(real_logits, fake_logits)
    if real_classes is not None:
      real_ce, fake_ce = class_loss(real_classes, labels), class_loss(fake_classes, labels)
      d_loss = d_loss + self.acgan_weight * (real_ce + fake_ce)
      g_loss = g_loss + self.acgan_weight * fake_ce
      metrics.update(class_loss_real=real_ce, class_loss_fake=fake_ce,
                     class_acc_real=jnp.mean(jnp.argmax(real_classes, -1) == labels),
                     class_acc_fake=jnp.mean(jnp.argmax(fake_classes, -1) == labels))
    critic = lambda x: apply_model(d, d_params, state, x, labels)[0][0]
    d_loss = regularizers.add_penalties(self.penalties, critic, real, fake, penalty_rng(rng),
                                        self.axis_name, d_loss, metrics)
    return ({'generator': g_loss, 'discriminator': d_loss},
            ({'discriminator': new_state}, metrics))

  def sample_inputs(self, rng, num):
    # Row i asks for class i % K: any num_samples that is a multiple of K
    # draws every class equally often.
    return {'z': jax.random.normal(rng, (num, self.z_dim)),
            'label': jnp.arange(num) % self.num_classes}

  def grid_columns(self, num):
    return max(1, num // self.num_classes)

  def grid_inputs(self, rng, num):
    """K rows of ``grid_columns(num)``: row r is class r, column c the same z in every row."""
    cols = self.grid_columns(num)
    z = jax.random.normal(rng, (cols, self.z_dim))
    return {'z': jnp.tile(z, (self.num_classes, 1)),
            'label': jnp.repeat(jnp.arange(self.num_classes), cols)}

  def sample(self, params, model_state, inputs):
    g = self.module('generator')
    return g.apply({'params': params['generator'], **model_state['generator']},
                   inputs['z'], inputs['label'], train=False)


def check_labels(data, num_classes_field) -> int:
  """K for ``data``: raises ConfigError unless it holds labels 0 .. K - 1, each present.

  ``num_classes_field`` is ``model.num_classes`` (0 = the data's own count).
  """
  if not data.num_classes:
    raise ConfigError(f"task='conditional' needs labelled data, but the data "
                      f'({getattr(data, "description", data.sample_key)}) has no labels')
  k = data.num_classes
  labels = getattr(data, 'labels', None)
  if labels is not None:
    present = np.unique(np.asarray(labels))
    if len(present) != k:
      raise ConfigError(
          f"task='conditional' draws every label 0..{k - 1}, but the data holds only "
          f'labels {present.tolist()}; keep all classes (data.digits=()) or relabel them')
  if not isinstance(num_classes_field, numbers.Integral) or num_classes_field < 0:
    raise ConfigError(f'model.num_classes={num_classes_field!r}; must be an integer >= 0 '
                      '(0 = the number of classes of the data)')
  if num_classes_field and num_classes_field != k:
    raise ConfigError(f'model.num_classes={num_classes_field} disagrees with the data, '
                      f'which has labels 0..{k - 1}; use model.num_classes={k} or 0')
  return k


def from_config(config, data, axis_name=None) -> Conditional:
  """G(z, y) and D(x, y) of ``config.model`` for labelled ``data``."""
  m, t = config.model, config.train
  k = check_labels(data, m.get('num_classes', 0))
  generator, discriminator = models.create_conditional_models(m, data.sample_shape, k,
                                                              axis_name)
  weight = t.get('acgan_weight', 1.0)
  if not isinstance(weight, numbers.Real) or weight < 0:
    raise ConfigError(f'train.acgan_weight={weight!r}; must be a number >= 0')
  return Conditional(generator, discriminator, losses.get_loss(t.loss, t.label_smoothing),
                     m.z_dim, k, data.sample_key, axis_name,
                     penalties=regularizers.create_penalties(t), acgan_weight=weight)
