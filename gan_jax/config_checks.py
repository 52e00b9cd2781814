"""Validation of a run's config before anything heavy starts.

Each registry validates its own fields (``validate_config`` of tasks,
models, losses, regularizers, steps, optimizers, data, and ``parallel``);
this module calls them, checks the training loop's own fields (train.*
sizes, log.*), and keeps the rules that span several components: image size
against the model, point data against image models, the batch against
devices and packs. Every error is a ``ConfigError`` whose message names the
field, the bad value and what is allowed.
"""

from __future__ import annotations

import numbers

import jax

from gan_jax import (data, losses, models, optimizers, parallel, regularizers, steps,
                     tasks, validation)
from gan_jax.data import DISCRETE_DATASETS, TOY_DATASETS
from gan_jax.errors import ConfigError

NONFINITE_ACTIONS = ('stop', 'skip')
_LOOP_SIZES = ('train.num_steps', 'train.batch_size', 'train.num_seeds', 'log.log_every',
               'log.sample_every', 'log.checkpoint_every', 'log.num_samples',
               'log.keep_checkpoints')


def _validate_loop(config) -> None:
  """The training loop's own fields: sizes, intervals, what to do on NaN."""
  validation.choice('train.on_nonfinite', config.train.on_nonfinite, NONFINITE_ACTIONS)
  for field in _LOOP_SIZES:
    section, name = field.split('.')
    validation.positive(field, config[section][name], numbers.Integral)
  validation.at_least_zero('log.profile_steps', config.log.get('profile_steps', 0))
  validation.positive('train.steps_per_dispatch',
                      config.train.get('steps_per_dispatch', 1), numbers.Integral)


def _validate_across(config, num_devices: int) -> None:
  """Rules that no single component can check alone."""
  m, d, t = config.model, config.data, config.train
  native = models.native_image_size(m.name)
  if native is not None and d.image_size not in (0, native):
    raise ConfigError(f'data.image_size={d.image_size} but model.name={m.name!r} '
                      f'makes {native}x{native} images; allowed: {native} or 0')
  if d.name in TOY_DATASETS and native is not None:
    raise ConfigError(f'model.name={m.name!r} makes images but data.name={d.name!r} '
                      "is 2-D points; allowed for 2-D data: 'mlp'")
  if d.name in DISCRETE_DATASETS and tasks.task_name(config) != 'discrete':
    raise ConfigError(f'data.name={d.name!r} is token data; task={tasks.task_name(config)!r} '
                      "makes continuous samples; allowed: task='discrete'")
  if t.batch_size % num_devices:
    raise ConfigError(f'train.batch_size={t.batch_size} does not divide over '
                      f'{num_devices} devices; use a multiple of {num_devices}')
  if t.batch_size % (num_devices * m.pack):
    raise ConfigError(f'train.batch_size={t.batch_size} does not split into packs of '
                      f'model.pack={m.pack} on each of {num_devices} devices; use a '
                      f'multiple of {num_devices * m.pack}')


def validate(config, num_devices: int | None = None) -> None:
  """Raises ``ConfigError`` for the first invalid field of ``config``."""
  tasks.validate_config(config)
  models.validate_config(config.model)
  losses.validate_config(config.train)
  steps.validate_config(config.train)
  regularizers.validate_config(config.train)
  optimizers.validate_config(config.optim)
  data.validate_config(config.data)
  validation.choice('parallel', config.parallel, parallel.PARALLEL_MODES)
  _validate_loop(config)
  _validate_across(config, num_devices or jax.local_device_count())
