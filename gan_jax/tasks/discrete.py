"""A GAN whose generator makes discrete tokens (``task = 'discrete'``).

Batch: {'tokens': (B, L) int} (data 'bits', 'grammar') or {'image': (B, H, W, 1)}
of binarised digits (``data.binarize``; the tokens are the pixels, V = 2).
G makes L tokens over V (models/discrete.py: 'autoregressive' or
'factorized', ``model.discrete_generator``) by ``train.estimator``
(estimators.py). D is an MLP on one-hot codes (B, L, V) (``model.d_hidden``):

    l_real = D(e(x)),  l_fake = D(y),  (L_D, L_G_adv) = loss(l_real, l_fake)

with y what the estimator lets D see. G minimises
  gumbel, straight_through  L_G_adv, through y;
  reinforce                 -mean (r - b) log p(x), r = log D(x) = -softplus(-l_fake),
                            b <- beta b + (1 - beta) mean r (``train.baseline_decay``,
                            b = mean r at step 0);
  bgan                      -mean over groups sum_m softmax_m(l_fake) log p(x_m), a
                            group being the M = ``train.bgan_samples`` draws of one z
                            (factorized) or the whole batch (autoregressive: no z);
  mle                       -mean log p(x_real), teacher forcing (autoregressive only).
The relaxation's temperature anneals from ``train.tau0`` to ``train.tau_min``
over ``train.tau_anneal_steps`` (estimators.temperature) and the baseline
moves each step; both live in G's model state ({'step', 'baseline'}), so a
resumed run continues them, and they advance with every forward pass of the
step (also D's extra ones with ``train.d_steps`` > 1).

Metrics: d_real, d_fake, tau, reward (mean log D(x) of the fakes) and, for the
autoregressive G, nll (-mean log p_G of the real batch, nats per sequence).

Sampling (``sample``): inputs {'gumbel': (n, L, V)} (+ 'z' (n, z_dim) for the
factorized G, + optional 'temperature' (n,)) give the tokens (n, L), or for
image data the binarised images (n, H, W, 1) in {-1, 1}. Inputs {'score':
(n, L) tokens} (+ optional 'temperature') give their exact log p_G (n,)
instead: the query of the exact evaluators (evaluation/discrete_metrics.py).
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from gan_jax import estimators, losses, validation
from gan_jax.errors import ConfigError
from gan_jax.modeling import device_draw, sample_latent
from gan_jax.models.discrete import AutoregressiveGenerator, FactorizedGenerator
from gan_jax.models.mlp import MLPDiscriminator
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task
from gan_jax.tasks.unconditional import d_probabilities

GENERATORS = ('autoregressive', 'factorized')
# REINFORCE's reward log D(x) and BGAN's weights D / (1 - D) read D as a probability.
CLASSIFIER_LOSSES = ('non_saturating', 'minimax')
MAX_AUTOREGRESSIVE_LENGTH = 64  # the GRU's loop is unrolled


class Discrete(Task):
  """Players 'generator' (tokens) and 'discriminator' (one-hot codes -> logits); see the module."""

  def __init__(self, generator, discriminator, loss_fn, *, estimator: str, vocab: int,
               sample_key: str, sample_shape, z_dim: int = 0, tau0: float = 1.0,
               tau_min: float = 0.5, tau_anneal_steps: int = 0,
               baseline_decay: float = 0.9, bgan_samples: int = 1,
               axis_name: str | None = None):
    self.players = {'generator': Player(generator, 'generator', 'g'),
                    'discriminator': Player(discriminator, 'discriminator', 'd')}
    self.loss_fn, self.estimator, self.vocab = loss_fn, estimator, vocab
    self.sample_key, self.sample_shape = sample_key, tuple(sample_shape)
    self.length = math.prod(self.sample_shape)
    self.autoregressive = isinstance(generator, AutoregressiveGenerator)
    self.z_dim, self.axis_name = z_dim, axis_name
    self.tau = (tau0, tau_min, tau_anneal_steps)
    self.baseline_decay, self.bgan_samples = baseline_decay, bgan_samples

  @property
  def generator(self):
    return self.module('generator')

  def tokens(self, batch) -> jax.Array:
    """The batch's samples as tokens (B, L): the tokens, or the pixels > 0 of binarised images."""
    x = batch[self.sample_key]
    if self.sample_key == 'tokens':
      return x.astype(jnp.int32)
    return (x.reshape(x.shape[0], -1) > 0).astype(jnp.int32)

  def _generator_args(self, inputs) -> tuple:
    """G's positional inputs: (gumbel,) for the autoregressive G, (z, gumbel) else."""
    return (inputs['gumbel'],) if self.autoregressive else (inputs['z'], inputs['gumbel'])

  def _generate(self, g_params, inputs, tau=1.0, estimator='hard'):
    return self.generator.apply({'params': g_params}, *self._generator_args(inputs), tau=tau,
                                estimator=estimator, temperature=inputs.get('temperature'))

  def log_prob(self, g_params, tokens, temperature=None) -> jax.Array:
    """Exact log p_G(tokens) (B,) of the autoregressive generator."""
    return self.generator.apply({'params': g_params}, tokens, temperature,
                                method=AutoregressiveGenerator.log_prob)

  def critic(self, d_params, codes):
    return self.module('discriminator').apply({'params': d_params}, codes)

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    inputs = self.sample_inputs(jax.random.PRNGKey(0), 1)
    g, _ = split_variables(self.generator.init(keys['generator'], *self._generator_args(inputs)))
    d, _ = split_variables(self.module('discriminator').init(
        keys['discriminator'], jnp.zeros((1, self.length, self.vocab))))
    state = {'step': jnp.zeros((), jnp.float32), 'baseline': jnp.zeros((), jnp.float32)}
    return {'generator': g, 'discriminator': d}, {'generator': state, 'discriminator': {}}

  def _train_inputs(self, rng, batch: int) -> dict:
    # z drawn once per group of M rows (BGAN's samples of one z), then repeated.
    k_z, k_g = jax.random.split(rng)
    inputs = {'gumbel': device_draw(jax.random.gumbel, k_g, (batch, self.length, self.vocab),
                                    self.axis_name)}
    if not self.autoregressive:
      m = self.bgan_samples if self.estimator == 'bgan' else 1
      z = sample_latent(k_z, batch // m, self.z_dim, self.axis_name)
      inputs['z'] = jnp.repeat(z, m, axis=0)
    return inputs

  def losses(self, params, model_state, batch, rng):
    real_tokens = self.tokens(batch)
    b = real_tokens.shape[0]
    state = model_state['generator']
    tau = estimators.temperature(state['step'], *self.tau)
    out = self._generate(params['generator'], self._train_inputs(rng, b), tau, self.estimator)
    real_logits = self.critic(params['discriminator'], jax.nn.one_hot(real_tokens, self.vocab))
    fake_logits = self.critic(params['discriminator'], out['y'])
    d_loss, g_loss = self.loss_fn(real_logits, fake_logits)
    reward = -jax.nn.softplus(-fake_logits)  # log D(x) of each fake
    mean_reward = jax.lax.stop_gradient(jnp.mean(reward))
    first = state['step'] == 0
    baseline = jnp.where(first, mean_reward, state['baseline'])
    metrics = {**d_probabilities(real_logits, fake_logits), 'tau': tau,
               'reward': mean_reward}
    nll = None
    if self.autoregressive:
      nll = -jnp.mean(self.log_prob(params['generator'], real_tokens))
      metrics['nll'] = jax.lax.stop_gradient(nll)
    if self.estimator == 'reinforce':
      g_loss = estimators.reinforce_loss(out['log_prob'], reward, baseline)
    elif self.estimator == 'bgan':
      group = self.bgan_samples if not self.autoregressive else b
      g_loss = estimators.bgan_loss(out['log_prob'], fake_logits, group)
    elif self.estimator == 'mle':
      g_loss = nll
    new_state = {'step': state['step'] + 1,
                 'baseline': jnp.where(first, mean_reward, self.baseline_decay * baseline
                                       + (1 - self.baseline_decay) * mean_reward)}
    return ({'generator': g_loss, 'discriminator': d_loss},
            ({'generator': new_state, 'discriminator': {}}, metrics))

  def sample_inputs(self, rng, num):
    k_z, k_g = jax.random.split(rng)
    inputs = {'gumbel': jax.random.gumbel(k_g, (num, self.length, self.vocab))}
    if not self.autoregressive:
      inputs['z'] = jax.random.normal(k_z, (num, self.z_dim))
    return inputs

  def sample(self, params, model_state, inputs):
    del model_state
    if 'score' in inputs:
      return self.log_prob(params['generator'], inputs['score'], inputs.get('temperature'))
    tokens = self._generate(params['generator'], inputs)['tokens']
    if self.sample_key == 'tokens':
      return tokens
    return (2.0 * tokens - 1.0).reshape(tokens.shape[0], *self.sample_shape)


def validate(config, data) -> None:
  """The discrete task's fields, against its data; ConfigError names the first bad one."""
  t, m = config.train, config.model
  validation.choice('train.estimator', t.get('estimator'), estimators.ESTIMATORS)
  validation.choice('model.discrete_generator', m.get('discrete_generator'), GENERATORS)
  validation.positive('train.tau0', t.tau0)
  validation.positive('train.tau_min', t.tau_min)
  if t.tau_min > t.tau0:
    raise ConfigError(f'train.tau_min={t.tau_min} is above train.tau0={t.tau0}; the '
                      'temperature anneals down: use tau_min <= tau0')
  validation.at_least_zero('train.tau_anneal_steps', t.tau_anneal_steps)
  validation.at_least_zero('train.baseline_decay', t.baseline_decay, below_one=True)
  validation.positive('train.bgan_samples', t.bgan_samples, numbers.Integral)
  if m.name != 'mlp':
    raise ConfigError(f"task='discrete' builds its own G and an MLP D on one-hot tokens; "
                      f"model.name={m.name!r}, allowed: 'mlp'")
  if t.regularizers:
    raise ConfigError(f"train.regularizers={tuple(t.regularizers)!r}: gradient penalties "
                      "take dD/dx, which one-hot tokens do not have; task='discrete' "
                      'allows ()')
  if t.estimator in ('reinforce', 'bgan') and t.loss not in CLASSIFIER_LOSSES:
    raise ConfigError(f"train.loss={t.loss!r} with train.estimator={t.estimator!r}: the "
                      'reward log D and the weights D / (1 - D) need D to be a probability; '
                      f'allowed: {CLASSIFIER_LOSSES}')
  tokens = data.sample_key == 'tokens'
  binary_images = data.sample_key == 'image' and len(data.sample_shape) == 3 and (
      data.sample_shape[-1] == 1 and config.data.get('binarize', False))
  if not (tokens or binary_images):
    described = getattr(data, 'description', 'continuous')
    raise ConfigError(f"task='discrete' needs discrete data: data.name 'bits' or 'grammar', "
                      f'or single-channel images with data.binarize=True; got '
                      f'data.name={config.data.name!r} ({described})')
  length = math.prod(data.sample_shape)
  if m.discrete_generator == 'autoregressive' and length > MAX_AUTOREGRESSIVE_LENGTH:
    raise ConfigError(f"model.discrete_generator='autoregressive' unrolls one GRU step per "
                      f'token, at most {MAX_AUTOREGRESSIVE_LENGTH}; the data has {length}: '
                      "use model.discrete_generator='factorized'")
  if t.estimator == 'mle' and m.discrete_generator != 'autoregressive':
    raise ConfigError("train.estimator='mle' needs a likelihood: "
                      "model.discrete_generator='autoregressive' (the factorized G's p(x) "
                      'integrates over z)')
  if (t.estimator == 'bgan' and m.discrete_generator == 'factorized'
      and t.batch_size % t.bgan_samples):
    raise ConfigError(f'train.batch_size={t.batch_size} is not a multiple of '
                      f'train.bgan_samples={t.bgan_samples} (the draws of each z)')


def from_config(config, data, axis_name=None) -> Discrete:
  """G of ``model.discrete_generator`` (``model.g_hidden``) and the MLP D (``model.d_hidden``)."""
  validate(config, data)
  m, t = config.model, config.train
  vocab = getattr(data, 'vocab', 2)
  length = math.prod(data.sample_shape)
  if m.discrete_generator == 'autoregressive':
    generator = AutoregressiveGenerator(vocab=vocab, length=length, hidden=m.g_hidden[0])
  else:
    generator = FactorizedGenerator(vocab=vocab, length=length, hidden=tuple(m.g_hidden))
  discriminator = MLPDiscriminator(hidden=tuple(m.d_hidden))
  return Discrete(generator, discriminator, losses.get_loss(t.loss, t.label_smoothing),
                  estimator=t.estimator, vocab=vocab, sample_key=data.sample_key,
                  sample_shape=data.sample_shape, z_dim=m.z_dim, tau0=t.tau0,
                  tau_min=t.tau_min, tau_anneal_steps=t.tau_anneal_steps,
                  baseline_decay=t.baseline_decay, bgan_samples=t.bgan_samples,
                  axis_name=axis_name)
