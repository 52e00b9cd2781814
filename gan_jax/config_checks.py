"""Validation of a run's config before anything heavy starts.

Every error is a ``ConfigError`` whose message names the field, the bad value
and what is allowed.
"""

from __future__ import annotations

import difflib
import numbers

import jax

from gan_jax import losses, models, optimizers, regularizers, steps
from gan_jax.data import TOY_DATASETS
from gan_jax.data.images import SOURCES
from gan_jax.models.layers import CONV_TRANSPOSE_IMPLS
from gan_jax.parallel import PARALLEL_MODES

NONFINITE_ACTIONS = ('stop', 'skip')


class ConfigError(ValueError):
  """A config field has a value the run cannot use."""


def _choice(field: str, value, allowed) -> None:
  if value not in allowed:
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    raise ConfigError(f'{field}={value!r} is not allowed{hint}; allowed: '
                      f'{", ".join(repr(a) for a in sorted(allowed))}')


def _positive(field: str, value, kind=numbers.Real) -> None:
  if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
    what = 'a positive integer' if kind is numbers.Integral else 'a positive number'
    raise ConfigError(f'{field}={value!r}; must be {what}')


def _at_least_zero(field: str, value, below_one: bool = False) -> None:
  ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
        and 0 <= value and (not below_one or value < 1))
  if not ok:
    raise ConfigError(f'{field}={value!r}; must be a number in '
                      + ('[0, 1)' if below_one else '[0, inf)'))


def _validate_game(config) -> None:
  """The game's swappable pieces: optimizer, regularisers, EMA, smoothing, packing."""
  m, t, o = config.model, config.train, config.optim
  _choice('optim.name', o.name, optimizers.OPTIMIZERS)
  if isinstance(t.regularizers, str) or not all(
      isinstance(r, str) for r in t.regularizers):
    raise ConfigError(f'train.regularizers={t.regularizers!r}; must be a tuple of '
                      "names, e.g. ('r1',); allowed names: "
                      f'{", ".join(repr(r) for r in sorted(regularizers.REGULARIZERS))}')
  for i, name in enumerate(t.regularizers):
    _choice(f'train.regularizers[{i}]', name, regularizers.REGULARIZERS)
  for field in ('r1_gamma', 'r2_gamma', 'gp_lambda', 'consensus_gamma'):
    _at_least_zero(f'train.{field}', t[field])
  _at_least_zero('train.g_ema_decay', t.g_ema_decay, below_one=True)
  _at_least_zero('train.label_smoothing', t.label_smoothing, below_one=True)
  if t.label_smoothing and t.loss not in losses.SMOOTHABLE:
    raise ConfigError(f'train.label_smoothing={t.label_smoothing!r} needs a loss with '
                      f'a real target, but train.loss={t.loss!r}; allowed losses: '
                      f'{", ".join(repr(n) for n in losses.SMOOTHABLE)}')
  if not isinstance(m.d_spectral_norm, bool):
    raise ConfigError(f'model.d_spectral_norm={m.d_spectral_norm!r}; must be True or False')
  _positive('model.pack', m.pack, numbers.Integral)
  if m.name == 'scalar_dirac' and (len(m.dirac_init) != 2 or not all(
      isinstance(v, numbers.Real) for v in m.dirac_init)):
    raise ConfigError(f'model.dirac_init={tuple(m.dirac_init)!r}; must be two numbers '
                      '(theta, psi)')


def validate(config, num_devices: int | None = None) -> None:
  """Raises ``ConfigError`` for the first invalid field of ``config``."""
  m, d, t, o, log = config.model, config.data, config.train, config.optim, config.log
  _choice('model.name', m.name, models.MODELS)
  _choice('model.conv_transpose_impl', m.conv_transpose_impl, CONV_TRANSPOSE_IMPLS)
  dtype = m.get('dtype', 'float32')
  _choice('model.dtype', dtype, models.DTYPES)
  if dtype != 'float32' and m.name not in models.DTYPE_MODELS:
    raise ConfigError(f'model.dtype={dtype!r} needs a model with dtype plumbing, but '
                      f'model.name={m.name!r}; allowed: {list(models.DTYPE_MODELS)} (or '
                      "model.dtype='float32')")
  _choice('train.loss', t.loss, losses.LOSSES)
  _choice('train.update_rule', t.update_rule, steps.STEPS)
  _choice('train.on_nonfinite', t.on_nonfinite, NONFINITE_ACTIONS)
  _choice('data.source', d.source, SOURCES)
  _choice('parallel', config.parallel, PARALLEL_MODES)
  _positive('train.num_seeds', t.num_seeds, numbers.Integral)
  _validate_game(config)
  for field, value in [('model.z_dim', m.z_dim), ('model.g_width', m.g_width),
                       ('model.d_width', m.d_width),
                       ('train.num_steps', t.num_steps),
                       ('train.batch_size', t.batch_size),
                       ('train.d_steps', t.d_steps),
                       ('log.log_every', log.log_every),
                       ('log.sample_every', log.sample_every),
                       ('log.checkpoint_every', log.checkpoint_every),
                       ('log.num_samples', log.num_samples),
                       ('log.keep_checkpoints', log.keep_checkpoints)]:
    _positive(field, value, numbers.Integral)
  for field, value in [('optim.g_lr', o.g_lr), ('optim.d_lr', o.d_lr)]:
    _positive(field, value)
  for field, value in [('optim.b1', o.b1), ('optim.b2', o.b2)]:
    if not isinstance(value, numbers.Real) or not 0 <= value < 1:
      raise ConfigError(f'{field}={value!r}; must be in [0, 1)')
  for w in list(m.g_hidden) + list(m.d_hidden):
    _positive('model.g_hidden/d_hidden entries', w, numbers.Integral)
  _choice('model.output_activation', m.output_activation, ('none', 'tanh'))
  if not isinstance(d.image_size, numbers.Integral) or d.image_size < 0:
    raise ConfigError(f'data.image_size={d.image_size!r}; must be an integer >= 0 '
                      '(0 = the size the model makes)')
  native = models.native_image_size(m.name)
  if native is not None and d.image_size not in (0, native):
    raise ConfigError(f'data.image_size={d.image_size} but model.name={m.name!r} '
                      f'makes {native}x{native} images; allowed: {native} or 0')
  if d.name in TOY_DATASETS and native is not None:
    raise ConfigError(f'model.name={m.name!r} makes images but data.name={d.name!r} '
                      "is 2-D points; allowed for 2-D data: 'mlp'")
  for digit in d.digits:
    if isinstance(digit, bool) or not isinstance(digit, numbers.Integral) or digit < 0:
      raise ConfigError(f'data.digits={tuple(d.digits)!r}; must be labels >= 0, e.g. (7,)')
  num_devices = num_devices or jax.local_device_count()
  if t.batch_size % num_devices:
    raise ConfigError(f'train.batch_size={t.batch_size} does not divide over '
                      f'{num_devices} devices; use a multiple of {num_devices}')
  if t.batch_size % (num_devices * m.pack):
    raise ConfigError(f'train.batch_size={t.batch_size} does not split into packs of '
                      f'model.pack={m.pack} on each of {num_devices} devices; use a '
                      f'multiple of {num_devices * m.pack}')
