"""BiGAN / ALI: a generator, an encoder and a joint discriminator (``task = 'bigan'``).

(Donahue et al. 2016, arXiv 1605.09782; Dumoulin et al. 2016, arXiv 1606.00704.)
Batch: {sample_key: (B, ...) real samples, ...}; other entries (labels) are
ignored. Players:
  'generator'      G: z (B, z_dim) -> x (B, ...)  (models.create_models' G)
  'encoder'        E: x (B, ...) -> z (B, z_dim), deterministic
  'discriminator'  D: (x, z) -> logits (B,)       (models/bigan.py)
D tells the real pair (x, E(x)) from the generated pair (G(z), z), with
z ~ N(0, I) of (B, z_dim) drawn per device slice of the global z:
    l_real = D(x, E(x)),   l_fake = D(G(z), z),
    L_D = loss(l_real, l_fake)[0]                       (``train.loss``),
and G and E both minimise ONE loss, D's with the labels flipped:
    non_saturating, least_squares:  L_GE = loss(l_fake, l_real)[0]
        (non_saturating: -E log D(G(z), z) - E log(1 - D(x, E(x))));
    minimax:                        L_GE = V = E log D(x, E(x)) + E log(1 - D(G(z), z)),
the zero-sum game of the papers. One-sided label smoothing s
(``train.label_smoothing``) softens only D's target for real pairs (a
regulariser of D, as in the other tasks, whose G loss never sees s); the
flipped loss keeps hard targets: applied to it, s would instead pull the
*generated* pairs' target away from 1, and for minimax -L_D would add
-s E[l_real] to E's loss. With s = 0, L_GE = -L_D for minimax.

At the optimum E = G^{-1}: the two joint distributions of (x, z) are equal.
Metrics: d_real, d_fake (mean sigmoid of l_real, l_fake) and
    latent_mse = E_z |E(G(z)) - z|^2 / z_dim
under stop_gradient (E in training mode on the generated batch, its
BatchNorm statistics from that pass discarded): one extra forward pass of E,
a cheap check that E inverts G: 1 for E = 0, 0 for an exact inverse.

Public methods beyond the Task interface, for inversion tools, in eval mode
(BatchNorm's running statistics): ``encode(params, model_state, images) ->
(N, z_dim)`` = E(x) and ``discriminate_pairs(params, model_state, images,
z) -> (N,)`` = D's logits of (x, z); ``sample`` is G(inputs['z']).
"""

from __future__ import annotations

import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax import losses, models, validation
from gan_jax.errors import ConfigError
from gan_jax.models.bigan import create_bigan_models
from gan_jax.modeling import apply_model, sample_latent
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task
from gan_jax.tasks.unconditional import d_probabilities

# train.loss values with a "flipped" loss for G and E (see the module docstring).
FLIPPED = ('non_saturating', 'least_squares')
BIGAN_LOSSES = ('minimax',) + FLIPPED


def flipped_loss(name: str, loss_fn):
  """(real_logits, fake_logits) -> L_GE, the loss G and E both minimise.

  Args:
    name: ``train.loss``, one of ``BIGAN_LOSSES``.
    loss_fn: that loss WITHOUT label smoothing (losses.get_loss(name)).
  """
  if name == 'minimax':
    return lambda real, fake: -loss_fn(real, fake)[0]
  return lambda real, fake: loss_fn(fake, real)[0]


class BiGAN(Task):
  """Players 'generator', 'encoder' (both role 'generator') and 'discriminator'.

  Args:
    generator: G, z (B, z_dim) -> (B, ...).
    encoder: E, (B, ...) -> (B, z_dim).
    discriminator: D, ((B, ...), (B, z_dim)) -> logits (B,).
    d_loss_fn: (real_logits, fake_logits) -> (d_loss, _), see losses.py
      (label smoothing included).
    ge_loss_fn: (real_logits, fake_logits) -> L_GE (``flipped_loss``).
    z_dim: latent size.
    sample_key: the batch entry with the real samples ('image' or 'x').
    axis_name: device axis of z's global draw, or None.
  """

  def __init__(self, generator: nn.Module, encoder: nn.Module, discriminator: nn.Module,
               d_loss_fn, ge_loss_fn, z_dim: int, sample_key: str = 'image',
               axis_name: str | None = None):
    self.players = {'generator': Player(generator, 'generator', 'g'),
                    'encoder': Player(encoder, 'generator', 'e'),
                    'discriminator': Player(discriminator, 'discriminator', 'd')}
    self.d_loss_fn, self.ge_loss_fn = d_loss_fn, ge_loss_fn
    self.z_dim, self.sample_key, self.axis_name = z_dim, sample_key, axis_name

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    z = jnp.zeros((1, self.z_dim))
    x = jnp.zeros((1, *example_batch[self.sample_key].shape[1:]))
    variables = {
        'generator': self.module('generator').init(keys['generator'], z, train=False),
        'encoder': self.module('encoder').init(keys['encoder'], x, train=False),
        'discriminator': self.module('discriminator').init(keys['discriminator'], x, z,
                                                           train=False)}
    split = {name: split_variables(v) for name, v in variables.items()}
    return ({name: p for name, (p, _) in split.items()},
            {name: s for name, (_, s) in split.items()})

  def _apply(self, name, params, model_state, *inputs):
    return apply_model(self.module(name), params[name], model_state[name], *inputs)

  def generate(self, params, model_state, batch, rng):
    """G(z) and E(x) for z ~ N(0, I) drawn from ``rng``.

    Returns ({'fake': G(z), 'code': E(x), 'z': z, 'code_of_fake':
    stop_gradient(E(G(z)))}, {'generator': G's state, 'encoder': E's state});
    E's state is the one of its pass on the real batch.
    """
    x = batch[self.sample_key]
    z = sample_latent(rng, x.shape[0], self.z_dim, self.axis_name)
    fake, g_state = self._apply('generator', params, model_state, z)
    code, e_state = self._apply('encoder', params, model_state, x)
    # The health metric's pass: no gradient, and its BatchNorm update dropped.
    code_of_fake, _ = self._apply('encoder', jax.lax.stop_gradient(params), model_state,
                                  jax.lax.stop_gradient(fake))
    return ({'fake': fake, 'code': code, 'z': z,
             'code_of_fake': jax.lax.stop_gradient(code_of_fake)},
            {'generator': g_state, 'encoder': e_state})

  def judge(self, params, model_state, batch, samples, rng):
    """D on (x, E(x)) then on (G(z), z) (separate BatchNorm batches): the losses."""
    del rng  # z was drawn by generate; no penalties
    d, d_params = self.module('discriminator'), params['discriminator']
    real_logits, d_state = apply_model(d, d_params, model_state['discriminator'],
                                       batch[self.sample_key], samples['code'])
    fake_logits, d_state = apply_model(d, d_params, d_state, samples['fake'], samples['z'])
    d_loss, _ = self.d_loss_fn(real_logits, fake_logits)
    ge_loss = self.ge_loss_fn(real_logits, fake_logits)
    metrics = d_probabilities(real_logits, fake_logits)
    metrics['latent_mse'] = jnp.mean(jnp.square(samples['code_of_fake'] - samples['z']))
    return ({'generator': ge_loss, 'encoder': ge_loss, 'discriminator': d_loss},
            ({'discriminator': d_state}, metrics))

  def sample_inputs(self, rng, num):
    return {'z': jax.random.normal(rng, (num, self.z_dim))}

  def sample(self, params, model_state, inputs):
    """G(z) in eval mode: (N, z_dim) -> (N, ...)."""
    return self.module('generator').apply(
        {'params': params['generator'], **model_state['generator']}, inputs['z'], train=False)

  def encode(self, params, model_state, images):
    """E(x) in eval mode: (N, ...) -> (N, z_dim); G(encode(x)) reconstructs x."""
    return self.module('encoder').apply(
        {'params': params['encoder'], **model_state['encoder']}, images, train=False)

  def discriminate_pairs(self, params, model_state, images, z):
    """D's logits of pairs in eval mode: (N, ...) x (N, z_dim) -> (N,)."""
    return self.module('discriminator').apply(
        {'params': params['discriminator'], **model_state['discriminator']}, images, z,
        train=False)


def check_config(config) -> None:
  """Raises ConfigError for a field of ``config`` that the BiGAN game cannot use."""
  t, m = config.train, config.model
  if t.loss not in BIGAN_LOSSES:
    raise ConfigError(f"train.loss={t.loss!r} has no flipped-label loss for task='bigan'; "
                      f'allowed: {", ".join(repr(n) for n in BIGAN_LOSSES)}')
  if tuple(t.get('regularizers', ())):
    raise ConfigError(f'train.regularizers={tuple(t.regularizers)!r}: task=\'bigan\' has no '
                      'penalties of the joint discriminator; allowed: ()')
  if m.get('pack', 1) != 1:
    raise ConfigError(f"model.pack={m.pack}: task='bigan' judges single (x, z) pairs; "
                      'allowed: 1')
  if m.get('d_spectral_norm', False):
    raise ConfigError(f"model.d_spectral_norm={m.d_spectral_norm!r}: task='bigan' has no "
                      'spectral normalisation; allowed: False')
  validation.positive('model.joint_hidden', m.get('joint_hidden', 512), numbers.Integral)


def from_config(config, data, axis_name=None) -> BiGAN:
  """G of ``config.model`` (models registry), E and D(x, z) of models/bigan.py."""
  check_config(config)
  t = config.train
  encoder, discriminator = create_bigan_models(config.model, axis_name)
  generator = models.create_models(config.model, data.sample_shape, axis_name)[0]
  return BiGAN(generator, encoder, discriminator,
               losses.get_loss(t.loss, t.label_smoothing),
               flipped_loss(t.loss, losses.get_loss(t.loss)),
               config.model.z_dim, data.sample_key, axis_name)
