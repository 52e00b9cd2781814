"""Model registry: ``create_models(config.model, sample_shape)`` -> (G, D).

Each entry builds a generator/discriminator pair of flax.linen modules from
explicit fields of the model config. Names: see ``MODELS``. Options for any
discriminator that has them: ``model.d_spectral_norm`` (dcgan and mlp) and
``model.pack`` (PacGAN, every model); ``model.dtype`` (float32 | bfloat16)
and ``model.conv_impl`` (how D's convolutions are computed, models/conv.py)
for the DCGANs. ``create_conditional_models`` wraps a pair into G(z, y) and
D(x, y) by ``model.g_conditioning`` and ``model.d_conditioning`` (see
conditional.py).
"""

from __future__ import annotations

import numbers
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import validation
from gan_jax.errors import ConfigError
from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.conditional import (D_CONDITIONINGS, G_CONDITIONINGS,
                                        ConditionalDiscriminator, ConditionalGenerator)
from gan_jax.models.conv import CONV_IMPLS
from gan_jax.models.dirac import DiracDiscriminator, DiracGenerator, SAMPLE_SHAPE
from gan_jax.models.image_to_image import PatchGAN, ResnetTranslator, SRResNet, UNet
from gan_jax.models.layers import CONV_TRANSPOSE_IMPLS
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

ModelPair = tuple[nn.Module, nn.Module]
SR_SCALES = (2, 4)  # model.scale of 'srresnet'


def _dcgan_mnist(cfg, shape, axis_name) -> ModelPair:
  # z -> 7x7x(4w) -> k5 transposed convs to 7x7x(2w), 14x14x(w), 28x28xC.
  w, v = cfg.g_width, cfg.d_width
  return (DCGANGenerator(
      base_size=7, features=(4 * w, 2 * w, w), strides=(1, 2, 2),
      kernel_size=5, out_channels=shape[-1], out_bias=True,
      conv_transpose_impl=cfg.conv_transpose_impl, axis_name=axis_name,
      dtype=_dtype(cfg)),
          DCGANDiscriminator(features=(v, 2 * v), strides=(2, 2),
                             kernel_size=5, axis_name=axis_name,
                             spectral_norm=_spectral_norm(cfg), dtype=_dtype(cfg),
                             conv_impl=_conv_impl(cfg), batch_norm=_d_batch_norm(cfg)))


def _dcgan64(cfg, shape, axis_name) -> ModelPair:
  # The classic 64x64 DCGAN: z -> 4x4x(8w) -> k4 s2 p1 transposed convs.
  w, v = cfg.g_width, cfg.d_width
  return (DCGANGenerator(
      base_size=4, features=(8 * w, 4 * w, 2 * w, w), strides=(2, 2, 2, 2),
      kernel_size=4, out_channels=shape[-1], out_bias=False,
      conv_transpose_impl=cfg.conv_transpose_impl, axis_name=axis_name,
      dtype=_dtype(cfg)),
          DCGANDiscriminator(features=(v, 2 * v, 4 * v, 8 * v),
                             strides=(2, 2, 2, 2), kernel_size=4,
                             padding=((1, 1), (1, 1)), in_bias=False,
                             out_bias=False, axis_name=axis_name,
                             spectral_norm=_spectral_norm(cfg), dtype=_dtype(cfg),
                             conv_impl=_conv_impl(cfg), batch_norm=_d_batch_norm(cfg)))


def _mlp(cfg, shape, axis_name) -> ModelPair:
  # Configs saved before the PacGAN options existed leave them out: off.
  init_std = float(cfg.get('init_std', 0.0))
  return (MLPGenerator(hidden=tuple(cfg.g_hidden), out_shape=tuple(shape),
                       output_activation=cfg.output_activation,
                       batch_norm=bool(cfg.get('g_batch_norm', False)),
                       init_std=init_std, axis_name=axis_name),
          MLPDiscriminator(hidden=tuple(cfg.d_hidden),
                           spectral_norm=_spectral_norm(cfg),
                           maxout_pieces=int(cfg.get('d_maxout_pieces', 1)),
                           init_std=init_std))


def _dirac(cfg, shape, axis_name) -> ModelPair:
  del axis_name
  if shape != SAMPLE_SHAPE:
    raise ConfigError(f"model.name='scalar_dirac' needs samples of shape {SAMPLE_SHAPE} "
                     f'(a point mass at 0), got {shape}')
  theta, psi = cfg.get('dirac_init', (1.0, 1.0))
  return DiracGenerator(theta_init=theta), DiracDiscriminator(psi_init=psi)


def _srresnet(cfg, shape, axis_name) -> ModelPair:
  # Super-resolution: G = SRResNet x model.scale, D = an unconditional PatchGAN.
  del axis_name  # no BatchNorm
  return (SRResNet(scale=cfg.scale, out_channels=shape[-1], features=cfg.g_width,
                   num_blocks=cfg.num_blocks), PatchGAN(features=cfg.d_width))


def _pix2pix(cfg, shape, axis_name) -> ModelPair:
  # Paired translation: a two-level U-Net and a PatchGAN D(output, input).
  del axis_name
  return (UNet(out_channels=shape[-1], features=(cfg.g_width, 2 * cfg.g_width)),
          PatchGAN(features=cfg.d_width, conditional=True))


def _cyclegan(cfg, shape, axis_name) -> ModelPair:
  # One direction of CycleGAN: the ResNet translator and a PatchGAN.
  del axis_name
  return (ResnetTranslator(out_channels=shape[-1], features=cfg.g_width,
                           num_blocks=cfg.num_blocks), PatchGAN(features=cfg.d_width))


# model.dtype: the computation dtype of the DCGANs (params stay float32).
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
DTYPE_MODELS = ('dcgan64', 'dcgan_mnist')  # the others compute in float32 only


def _dtype(cfg):
  return DTYPES[cfg.get('dtype', 'float32')]


def _spectral_norm(cfg) -> bool:
  # Configs written before the option existed (and tests' small ConfigDicts)
  # leave it out: off.
  return bool(cfg.get('d_spectral_norm', False))


def _d_batch_norm(cfg) -> bool:
  # Configs saved before the option existed: the DCGAN D they ran, with BatchNorm.
  return bool(cfg.get('d_batch_norm', True))


def _conv_impl(cfg) -> str:
  # Configs saved before the option existed (and tests' small ConfigDicts):
  # 'auto', which computes the same function as the nn.Conv they were run with.
  return cfg.get('conv_impl', 'auto')


# name -> (builder, native image size or None when any sample shape works).
MODELS: dict[str, tuple[Callable[..., ModelPair], int | None]] = {
    'dcgan_mnist': (_dcgan_mnist, 28),
    'dcgan64': (_dcgan64, 64),
    'mlp': (_mlp, None),
    'scalar_dirac': (_dirac, None),  # the Dirac-GAN's G = theta, D = psi x
    # Image-to-image (tasks 'superres', 'pix2pix', 'cyclegan'; models/image_to_image.py).
    'srresnet': (_srresnet, None),
    'pix2pix': (_pix2pix, None),
    'cyclegan': (_cyclegan, None),
}
# The models of the image-to-image tasks: G maps an image to an image.
IMAGE_TO_IMAGE_MODELS = ('srresnet', 'pix2pix', 'cyclegan')


class Packed(nn.Module):
  """PacGAN (Lin et al. 2018): D judges packs of ``pack`` samples at once.

  x (B, ..., C) -> (B / pack, ..., pack * C): rows k*pack .. (k+1)*pack - 1 are
  concatenated along the last axis and ``inner`` gives one logit per pack,
  (B / pack,). Seeing several samples together lets D notice a lack of
  diversity, which penalises mode collapse.

  Attributes:
    inner: the discriminator applied to packed inputs.
    pack: samples per pack; B must be a multiple of it.
  """
  inner: nn.Module
  pack: int

  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    b, *rest = x.shape
    x = jnp.moveaxis(x.reshape(b // self.pack, self.pack, *rest), 1, -2)
    return self.inner(x.reshape(b // self.pack, *rest[:-1], self.pack * rest[-1]),
                      train=train)


def native_image_size(name: str) -> int | None:
  """The image side a model makes, or None if it adapts to the data."""
  return _lookup(name)[1]


def _lookup(name: str):
  if name not in MODELS:
    raise ConfigError(
        f'model.name={name!r} is not a known model; allowed: {sorted(MODELS)}')
  return MODELS[name]


def create_models(cfg: ml_collections.ConfigDict, sample_shape,
                  axis_name: str | None = None) -> ModelPair:
  """Builds (G, D) for samples of ``sample_shape`` (e.g. (28, 28, 1) or (2,)).

  ``axis_name`` is the device axis for cross-replica BatchNorm (None on one
  device or under jit with sharded arrays, where XLA sees the whole batch).
  """
  builder, _ = _lookup(cfg.name)
  generator, discriminator = builder(cfg, tuple(sample_shape), axis_name)
  pack = cfg.get('pack', 1)
  if pack > 1:
    discriminator = Packed(discriminator, pack)
  return generator, discriminator


def create_conditional_models(cfg: ml_collections.ConfigDict, sample_shape, num_classes: int,
                              axis_name: str | None = None) -> ModelPair:
  """(G(z, y), D(x, y)) for K = ``num_classes`` classes, built around ``create_models``.

  ``model.g_conditioning`` ('concat' | 'cbn'), ``model.d_conditioning``
  ('projection' | 'acgan' | 'concat') and ``model.label_dim`` pick the
  conditioning; see models/conditional.py.
  """
  if cfg.name == 'scalar_dirac' or cfg.get('pack', 1) > 1:
    raise ConfigError(f'a class-conditional task needs model.name in '
                      f"{[n for n in MODELS if n != 'scalar_dirac']} and model.pack=1; got "
                      f'model.name={cfg.name!r}, model.pack={cfg.get("pack", 1)}')
  generator, discriminator = create_models(cfg, sample_shape, axis_name)
  g_cond = cfg.get('g_conditioning', 'concat')
  d_cond = cfg.get('d_conditioning', 'projection')
  if g_cond == 'cbn':
    if not isinstance(generator, DCGANGenerator):
      raise ConfigError(f"model.g_conditioning='cbn' needs a generator with BatchNorm, but "
                        f"model.name={cfg.name!r}; allowed: {list(DTYPE_MODELS)} (or "
                        "model.g_conditioning='concat')")
    generator = generator.clone(num_classes=num_classes)
  if d_cond != 'concat':
    discriminator = discriminator.clone(return_features=True)
  return (ConditionalGenerator(generator, num_classes, g_cond, cfg.get('label_dim', 32)),
          ConditionalDiscriminator(discriminator, num_classes, d_cond))


def validate_config(m) -> None:
  """Raises ConfigError for the first invalid field of ``config.model``."""
  validation.choice('model.name', m.name, MODELS)
  validation.choice('model.conv_transpose_impl', m.conv_transpose_impl, CONV_TRANSPOSE_IMPLS)
  validation.choice('model.conv_impl', _conv_impl(m), CONV_IMPLS)
  if _conv_impl(m) == 'space_to_depth' and m.name == 'dcgan_mnist':
    raise ConfigError("model.conv_impl='space_to_depth' needs kernels divisible by the "
                      "strides, but model.name='dcgan_mnist' has k5 s2 convolutions; use "
                      "'auto', 'xla', 'patches' or 'patches_vjp' (or model.name='dcgan64')")
  dtype = m.get('dtype', 'float32')
  validation.choice('model.dtype', dtype, DTYPES)
  if dtype != 'float32' and m.name not in DTYPE_MODELS:
    raise ConfigError(f'model.dtype={dtype!r} needs a model with dtype plumbing, but '
                      f'model.name={m.name!r}; allowed: {list(DTYPE_MODELS)} (or '
                      "model.dtype='float32')")
  if not isinstance(m.get('d_batch_norm', True), bool):
    raise ConfigError(f'model.d_batch_norm={m.d_batch_norm!r}; must be True or False')
  if not isinstance(m.d_spectral_norm, bool):
    raise ConfigError(f'model.d_spectral_norm={m.d_spectral_norm!r}; must be True or False')
  validation.positive('model.pack', m.pack, numbers.Integral)
  if m.name == 'scalar_dirac' and (len(m.dirac_init) != 2 or not all(
      isinstance(v, numbers.Real) for v in m.dirac_init)):
    raise ConfigError(f'model.dirac_init={tuple(m.dirac_init)!r}; must be two numbers '
                      '(theta, psi)')
  for field in ('z_dim', 'g_width', 'd_width'):
    validation.positive(f'model.{field}', m[field], numbers.Integral)
  for w in list(m.g_hidden) + list(m.d_hidden):
    validation.positive('model.g_hidden/d_hidden entries', w, numbers.Integral)
  validation.choice('model.output_activation', m.output_activation, ('none', 'tanh'))
  if not isinstance(m.get('g_batch_norm', False), bool):
    raise ConfigError(f'model.g_batch_norm={m.g_batch_norm!r}; must be True or False')
  validation.positive('model.d_maxout_pieces', m.get('d_maxout_pieces', 1), numbers.Integral)
  if m.name in IMAGE_TO_IMAGE_MODELS:
    validation.positive('model.num_blocks', m.get('num_blocks', 1), numbers.Integral)
    if m.get('pack', 1) != 1:
      raise ConfigError(f'model.pack={m.pack}; model.name={m.name!r} judges single images: '
                        'allowed: 1')
  if m.name == 'srresnet':
    scale = m.get('scale', 0)
    if scale not in SR_SCALES:
      raise ConfigError(f'model.scale={scale!r}; the SRResNet upsamples by sub-pixel x2 '
                        f'steps: allowed: {SR_SCALES}')
  validation.at_least_zero('model.init_std', m.get('init_std', 0.0))
  validation.choice('model.g_conditioning', m.get('g_conditioning', 'concat'), G_CONDITIONINGS)
  validation.choice('model.d_conditioning', m.get('d_conditioning', 'projection'),
                    D_CONDITIONINGS)
  validation.positive('model.label_dim', m.get('label_dim', 32), numbers.Integral)
