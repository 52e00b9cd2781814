"""Task registry: ``create_task(config, data, axis_name)`` -> a ``Task``.

``config.task`` names the game (default 'unconditional', so configs written
before tasks existed keep working):
  unconditional    the primer's G(z) against D(x) (tasks/unconditional.py).
  conditional      class-conditional G(z, y) against D(x, y) on labelled
                   images: projection, ACGAN or concatenation (conditional.py).
  toy_conditional  G(z, y) and D(x, y) on a labelled 2-D mixture (y = the
                   mode index): the worked example of README "Add a task".
  discrete         a generator of tokens (bit strings, grammar sentences,
                   binarised digits) by Gumbel-softmax, straight-through,
                   REINFORCE, boundary-seeking or maximum likelihood (discrete.py).
  toy_cycle        four players: G_ab, G_ba between two 2-D mixtures, D_a,
                   D_b, and a cycle loss (the layout a CycleGAN needs).
  superres         super-resolution G(low-res) -> high-res against D(high-res):
                   SRResNet, SRGAN, ESRGAN by the loss weights (paired.py).
  pix2pix          paired translation: U-Net G(a) against PatchGAN D(b, a),
                   L1 + conditional GAN (paired.py).
  cyclegan         CycleGAN: G_ab, G_ba, D_a, D_b on unpaired image domains,
                   cycle and identity losses, a pool of past fakes (cyclegan.py).
  bigan            BiGAN / ALI: G(z), an encoder E(x) and a joint D(x, z)
                   that tells (x, E(x)) from (G(z), z) (bigan.py).
Each entry builds its task from explicit config fields; see its module.
"""

from __future__ import annotations

from typing import Callable

from gan_jax import validation
from gan_jax.errors import ConfigError
from gan_jax.tasks import (bigan, conditional, cyclegan, discrete, paired, toy_conditional,
                           toy_cycle, unconditional)
from gan_jax.tasks.base import Player, Task

TASKS: dict[str, Callable[..., Task]] = {
    'unconditional': unconditional.from_config,
    'conditional': conditional.from_config,
    'discrete': discrete.from_config,
    'toy_conditional': toy_conditional.from_config,
    'toy_cycle': toy_cycle.from_config,
    'bigan': bigan.from_config,
    'superres': paired.from_config,
    'pix2pix': paired.from_config,
    'cyclegan': cyclegan.from_config,
}
# The rules a task can check from the config alone, before data is read.
STATIC_CHECKS = {'superres': paired.validate_config, 'pix2pix': paired.validate_config,
                 'cyclegan': cyclegan.validate_config}
DEFAULT_TASK = 'unconditional'


def task_name(config) -> str:
  return config.get('task', DEFAULT_TASK)


def create_task(config, data, axis_name: str | None = None) -> Task:
  """Builds the task ``config.task`` for ``data`` (a Dataset or ``build.DataSpec``).

  Args:
    config: the run's config (model, train fields).
    data: what the batches hold: ``sample_key``, ``sample_shape``, ``num_classes``.
    axis_name: the device axis of cross-replica BatchNorm and of the global
      draws of z (None on one device or under jit).
  """
  name = task_name(config)
  if name not in TASKS:
    raise ConfigError(f'task={name!r} is not a known task; allowed: {sorted(TASKS)}')
  return TASKS[name](config, data, axis_name)


def validate_config(config) -> None:
  """Raises ConfigError unless ``config.task`` names a registered task."""
  validation.choice('task', task_name(config), TASKS)
  if task_name(config) in STATIC_CHECKS:
    STATIC_CHECKS[task_name(config)](config)


__all__ = ['Player', 'Task', 'TASKS', 'create_task', 'task_name', 'validate_config']
