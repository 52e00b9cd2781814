"""Paired image-to-image GANs: super-resolution and pix2pix (``task = 'superres' | 'pix2pix'``).

Batch {'a': (B, h, w, C) inputs, 'b': (B, H, W, C) their true outputs} of
paired 'domains' data (data/domains.py; super-resolution: a = b downsampled by
``model.scale``). G maps a to b; D judges b alone (super-resolution, as SRGAN
and ESRGAN) or the pair (b, a) (pix2pix's conditional D, ``model.name =
'pix2pix'``). With fake = G(a), (L_D, L_G) = loss(D(b), D(fake)) of
``train.loss`` (patch logits for a PatchGAN) and the content terms
    l1 = mean |fake - b|,   l2 = mean (fake - b)^2          (per pixel)
    features = mean (phi(fake) - phi(b))^2                  (per feature)
with phi the shipped digit classifier's 128-d penultimate features (the
digits' stand-in for SRGAN's VGG features), the players minimise
    L_G = w_adv L_G + w_l1 l1 + w_l2 l2 + w_feat features,     L_D (+ penalties),
the weights ``train.adversarial_weight``, ``train.l1_weight``,
``train.l2_weight``, ``train.feature_weight``. The variants of
configs/superres.py and configs/pix2pix.py are settings of these weights:
SRResNet (l2 or l1 only), SRGAN (features + 1e-3 adversarial, Ledig et al.
2017), ESRGAN (relativistic average loss, features + 1e-2 l1 + 5e-3
adversarial, Wang et al. 2018), pix2pix (100 l1 + 1 cGAN, Isola et al. 2017).
With w_adv = 0 D still trains (its loss is logged) but G ignores it.

Since phi is also the network the evaluators measure FID and accuracy with,
a generator trained with ``feature_weight > 0`` is partly optimised for those
metrics; docs/superres.md says so beside its rows.

Samples are G(a) for held-out inputs a (the data's test set): sample_inputs
draws rows of it, and ``sample({'a': a})`` translates any a.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses, models, regularizers, validation
from gan_jax.data import domains
from gan_jax.errors import ConfigError
from gan_jax.evaluation.base import as_images, shipped_classifier
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task
from gan_jax.tasks.unconditional import d_probabilities, penalty_rng

CONTENT_WEIGHTS = ('adversarial_weight', 'l1_weight', 'l2_weight', 'feature_weight')


def mean_l1(x: jax.Array, y: jax.Array) -> jax.Array:
  """mean |x - y| over every element (PyTorch's L1Loss, the weight-100 term of pix2pix)."""
  return jnp.mean(jnp.abs(x - y))


def mean_l2(x: jax.Array, y: jax.Array) -> jax.Array:
  """mean (x - y)^2 over every element (SRResNet's MSE)."""
  return jnp.mean(jnp.square(x - y))


class HeldOutInputs:
  """sample_inputs of the image-to-image tasks: rows of the data's test inputs.

  num <= the test set's size draws distinct rows (a random subset, so an FID
  of the translations has no repeated inputs); more draws with replacement.
  """

  def __init__(self, test_inputs: np.ndarray):
    self.test_inputs = jnp.asarray(as_images(test_inputs))

  def __call__(self, rng, num):
    n = self.test_inputs.shape[0]
    rows = (jax.random.permutation(rng, n)[:num] if num <= n
            else jax.random.randint(rng, (num,), 0, n))
    return {'a': self.test_inputs[rows]}


class PairedTranslation(Task):
  """Players 'generator' G(a) -> b and 'discriminator' D(b) or D(b, a); see the module docstring.

  Args:
    generator, discriminator: flax modules (models/image_to_image.py).
    loss_fn: (real_logits, fake_logits) -> (d_loss, g_loss), see losses.py.
    weights: {'adversarial_weight', 'l1_weight', 'l2_weight', 'feature_weight'}.
    test_inputs: uint8 held-out inputs, what samples translate.
    conditional_d: D reads (b, a).
    penalties: (name, fn, weight) triples of regularizers.py.
  """
  sample_key = 'b'
  latent_inputs = False  # samples translate held-out images

  def __init__(self, generator, discriminator, loss_fn, weights: dict, test_inputs,
               conditional_d: bool = False, penalties=(), axis_name=None):
    self.players = {'generator': Player(generator, 'generator', 'g'),
                    'discriminator': Player(discriminator, 'discriminator', 'd')}
    self.loss_fn, self.weights, self.conditional_d = loss_fn, dict(weights), conditional_d
    self.penalties, self.axis_name = tuple(penalties), axis_name
    self.sample_inputs = HeldOutInputs(test_inputs)
    self.features = None
    if self.weights['feature_weight']:
      classifier = shipped_classifier()
      self.features = lambda x: classifier.features(classifier.params, x)

  def _discriminate(self, params, image, source):
    d = self.module('discriminator')
    args = (image, source) if self.conditional_d else (image,)
    return d.apply({'params': params['discriminator']}, *args)

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    a, b = (jnp.zeros((1, *example_batch[k].shape[1:])) for k in ('a', 'b'))
    g_params, _ = split_variables(self.module('generator').init(keys['generator'], a))
    d_args = (b, a) if self.conditional_d else (b,)
    d_params, _ = split_variables(self.module('discriminator').init(keys['discriminator'],
                                                                    *d_args))
    return ({'generator': g_params, 'discriminator': d_params},
            {'generator': {}, 'discriminator': {}})

  def generate(self, params, model_state, batch, rng):
    del model_state, rng  # deterministic given a
    fake = self.module('generator').apply({'params': params['generator']}, batch['a'])
    return {'fake': fake}, {}

  def judge(self, params, model_state, batch, samples, rng):
    a, b, fake = batch['a'], batch['b'], samples['fake']
    real_logits = self._discriminate(params, b, a)
    fake_logits = self._discriminate(params, fake, a)
    d_loss, g_adv = self.loss_fn(real_logits, fake_logits)
    w = self.weights
    l1, l2 = mean_l1(fake, b), mean_l2(fake, b)
    g_loss = w['adversarial_weight'] * g_adv + w['l1_weight'] * l1 + w['l2_weight'] * l2
    metrics = {**d_probabilities(real_logits, fake_logits), 'l1': l1, 'l2': l2,
               'g_adversarial': g_adv}
    if self.features is not None:
      feature_loss = mean_l2(self.features(fake), self.features(b))
      g_loss = g_loss + w['feature_weight'] * feature_loss
      metrics['feature_loss'] = feature_loss
    critic = lambda x: self._discriminate(params, x, a)
    d_loss = regularizers.add_penalties(self.penalties, critic, b, fake, penalty_rng(rng),
                                        self.axis_name, d_loss, metrics)
    return {'generator': g_loss, 'discriminator': d_loss}, ({}, metrics)

  def sample(self, params, model_state, inputs):
    del model_state
    return self.module('generator').apply({'params': params['generator']}, inputs['a'])


def content_weights(train_cfg) -> dict[str, float]:
  """The four weights of the generator's loss, each a number >= 0."""
  weights = {}
  for field in CONTENT_WEIGHTS:
    value = train_cfg.get(field, 0.0)
    validation.at_least_zero(f'train.{field}', value)
    weights[field] = float(value)
  if not any(weights.values()):
    raise ConfigError(f'train.{", train.".join(CONTENT_WEIGHTS)} are all 0: G would have '
                      'no loss; set at least one > 0')
  return weights


def check_domains(data, task: str, paired: bool):
  """Raises ConfigError unless ``data`` is the 'domains' data of ``task``."""
  if not hasattr(data, 'test_a'):
    raise ConfigError(f"task={task!r} needs two image domains: data.name='domains' "
                      f'(data/domains.py); the data is '
                      f'{getattr(data, "description", data.sample_key)}')
  if data.paired != paired:
    raise ConfigError(f'task={task!r} trains on {"paired" if paired else "unpaired"} '
                      f'domains; set data.paired={paired}')


def check_static(config, task: str, models_allowed: tuple[str, ...], paired: bool) -> None:
  """The rules every image-to-image task checks before data is read."""
  d = config.data
  if d.name != 'domains':
    raise ConfigError(f"task={task!r} needs data.name='domains' (two image domains); "
                      f'got data.name={d.name!r}')
  if d.get('paired', False) != paired:
    raise ConfigError(f'data.paired={d.get("paired", False)!r}; task={task!r} trains on '
                      f'{"paired" if paired else "unpaired"} domains: allowed {paired}')
  validation.choice(f'model.name (task={task!r})', config.model.name, models_allowed)


def validate_config(config) -> None:
  """The static rules of the paired tasks (before any data is read)."""
  task, m, d = config.task, config.model, config.data
  check_static(config, task, ('srresnet',) if task == 'superres' else ('pix2pix',), True)
  content_weights(config.train)
  if task == 'superres':
    down = domains.downsampling_of(d.get('transforms_a', ()))
    if down is None or d.get('transforms_b', ()):
      raise ConfigError(f'task=superres needs data.transforms_a = one downsampling of '
                        f'{sorted(domains.DOWNSAMPLINGS)} and data.transforms_b=(); got '
                        f'{tuple(d.get("transforms_a", ()))!r} and '
                        f'{tuple(d.get("transforms_b", ()))!r}')
    if down[0] != m.get('scale', 0):
      raise ConfigError(f'model.scale={m.get("scale", 0)!r} but data.transforms_a='
                        f'{tuple(d.transforms_a)!r} downsamples x{down[0]}; the generator '
                        f'must undo it: allowed model.scale={down[0]}')


def from_config(config, data, axis_name=None) -> PairedTranslation:
  """G and D of ``config.model`` for paired ``data``; the weights of ``config.train``."""
  task = config.get('task')
  check_domains(data, task, paired=True)
  if task == 'superres':
    factor = data.sample_shape[0] // data.source_shape[0]
    if factor != config.model.scale or data.downsampling is None:
      raise ConfigError(f'model.scale={config.model.scale} but the data maps '
                        f'{data.source_shape} to {data.sample_shape} (x{factor}); '
                        f'allowed: model.scale={factor}')
  elif data.source_shape[:2] != data.sample_shape[:2] or any(
      s % 4 for s in data.sample_shape[:2]):
    raise ConfigError(f'task=pix2pix maps an image to one of the same size, a multiple of 4; '
                      f'the data maps {data.source_shape} to {data.sample_shape}')
  t = config.train
  generator, discriminator = models.create_models(config.model, data.sample_shape, axis_name)
  return PairedTranslation(generator, discriminator, losses.get_loss(t.loss, t.label_smoothing),
                           content_weights(t), data.test_a, conditional_d=task == 'pix2pix',
                           penalties=regularizers.create_penalties(t), axis_name=axis_name)
