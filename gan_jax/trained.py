"""A finished run's config, data and checkpoint; its networks, frozen, as functions.

``load_run_config``, ``load_dataset`` and ``restore`` rebuild a run as the
trainer built it (``gan_jax.evaluate`` scores it). The tools that use a trained GAN rather than train one (``gan_jax.invert``,
``gan_jax.inpaint``) restore the run's checkpoint as ``gan_jax.evaluate``
does and need only G (and D, and a BiGAN's encoder) in eval mode: BatchNorm
uses its running statistics, so each output row depends on its input row
alone and a batch of any size can be searched at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
from absl import logging

from gan_jax import build, models
from gan_jax.checkpoint import Checkpointer
from gan_jax.data import create_dataset
from gan_jax.errors import ConfigError
from gan_jax.evaluation import evaluators as evaluators_lib
from gan_jax.tasks import task_name

# The tasks whose generator is G(z) alone, so that z can be searched for x.
LATENT_TASKS = ('unconditional', 'bigan')


@dataclasses.dataclass(frozen=True)
class TrainedGAN:
  """A run's frozen players.

  Attributes:
    generate: z (M, z_dim) -> samples (M, *sample_shape), eval mode (the EMA
      params when the run kept them).
    discriminate: (samples (M, ...), z (M, z_dim)) -> logits (M,); z is used
      only by a BiGAN's D(x, z).
    encode: x (M, ...) -> z (M, z_dim) for a BiGAN run, else None.
    z_dim, sample_shape: G's input and output sizes.
    config: the run's resolved config; step: the checkpoint's step.
    workdir: the run's workdir.
  """
  generate: Callable[[jax.Array], jax.Array]
  discriminate: Callable[[jax.Array, jax.Array], jax.Array]
  encode: Callable[[jax.Array], jax.Array] | None
  z_dim: int
  sample_shape: tuple[int, ...]
  config: object
  step: int
  workdir: str


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config the trainer wrote to ``<workdir>/config.json``."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise ConfigError(f'--workdir={workdir!r} holds no config.json; is it a training '
                      'run\'s workdir?')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def load_dataset(config):
  """The run's training data ('stacked_mnist' included), as the trainer built it."""
  native = models.native_image_size(config.model.name)
  return create_dataset(config.data, config.seed, config.data.image_size or native)


def restore(workdir: str, config, dataset, which: str = 'latest'):
  """The state of the newest intact checkpoint of ``which``, the sampler and the game."""
  game = build.create_game(config, dataset)
  # Shapes only: restoring needs the state's structure, not its initial values,
  # and tracing the init is much cheaper than compiling and running it.
  template = jax.eval_shape(
      lambda: build.init_state(config, game, dataset, config.train.get('num_seeds', 1)))
  root = os.path.join(workdir, evaluators_lib.BEST_DIR) if which == 'best' else workdir
  if not os.path.isdir(os.path.join(root, 'checkpoints')):  # Checkpointer would create it
    raise ConfigError(f'--which={which}: there is no {os.path.join(root, "checkpoints")}'
                      + (' (best checkpoints are kept only when training runs '
                         'evaluators and tracks a best metric)' if which == 'best' else ''))
  ckpt = Checkpointer(root)
  restored = ckpt.restore_latest_good(template)
  ckpt.close()
  if restored is None:
    raise ConfigError(f'--which={which}: no usable checkpoint in {ckpt.directory}')
  return restored[0], build.make_sampler(game), game


def _seed_slice(tree, index: int, num_seeds: int):
  """Seed ``index`` of a state trained with several seeds (a leading seed axis)."""
  if num_seeds == 1:
    return tree
  return jax.tree.map(lambda leaf: leaf[index], tree)


def load(workdir: str, which: str = 'latest', seed_index: int = 0) -> TrainedGAN:
  """Restores ``workdir``'s checkpoint (``which`` = 'latest' | 'best').

  Raises ConfigError (one line) when the workdir holds no config or no
  usable checkpoint, when its task has no G(z) to invert, or when
  ``seed_index`` is not one of its seeds.
  """
  config = load_run_config(workdir)
  name = task_name(config)
  if name not in LATENT_TASKS:
    raise ConfigError(f'--workdir={workdir!r} trained task={name!r}, whose generator is not '
                      f'G(z) alone; allowed: {list(LATENT_TASKS)}')
  num_seeds = config.train.get('num_seeds', 1)
  if not 0 <= seed_index < num_seeds:
    raise ConfigError(f'--seed_index={seed_index}; the run trained {num_seeds} seed(s): '
                      f'allowed 0..{num_seeds - 1}')
  dataset = load_dataset(config)
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.WARNING)  # orbax logs every restore at length
  try:
    state, _, game = restore(workdir, config, dataset, which)
  finally:
    logging.set_verbosity(verbosity)
  task = game.task
  params = _seed_slice(build.sampling_params(game, state), seed_index, num_seeds)
  model_state = _seed_slice(state.model_state, seed_index, num_seeds)
  step = int(jnp.max(state.step))

  generate = jax.jit(lambda z: task.sample(params, model_state, {'z': z}))
  if name == 'bigan':
    discriminate = jax.jit(lambda x, z: task.discriminate_pairs(params, model_state, x, z))
    encode = jax.jit(lambda x: task.encode(params, model_state, x))
  else:
    d_vars = {'params': params['discriminator'], **model_state['discriminator']}
    module = task.module('discriminator')
    discriminate = jax.jit(lambda x, z: module.apply(d_vars, x, train=False))
    encode = None
  return TrainedGAN(generate, discriminate, encode, task.z_dim, tuple(dataset.sample_shape),
                    config, step, workdir)
