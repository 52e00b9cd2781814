"""Checkpoints of the ``GANState`` with orbax, verified on restore.

orbax writes each step into a temporary folder and renames it when complete,
so a checkpoint is visible only once whole, and ``max_to_keep`` deletes old
ones only after a newer one is finished. On top of that, each checkpoint's
metadata records a SHA-256 of the state's bytes: restore recomputes it, so a
truncated or bit-flipped file is detected even where the storage format would
decode it, and restore falls back to the newest checkpoint that is intact.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from gan_jax.parallel import to_host
from gan_jax.state import GANState


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (disk full, permissions, ...)."""


def state_digest(state_dict) -> str:
  """SHA-256 over the leaves' dtypes, shapes and bytes, in tree order."""
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(to_host(state_dict)):
    a = np.ascontiguousarray(leaf)
    h.update(f'{a.dtype}{a.shape}'.encode())
    h.update(a.tobytes())
  return h.hexdigest()


class Checkpointer:
  """Saves and restores ``GANState`` under ``<workdir>/checkpoints``."""

  def __init__(self, workdir: str, max_to_keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, state: GANState, meta: dict | None = None) -> None:
    """Writes ``state`` and a JSON ``meta`` dict at step ``state.step``; blocks."""
    tree = flax.serialization.to_state_dict(state)
    meta = dict(meta or {}, state_sha256=state_digest(tree))
    step = int(np.max(to_host(state.step)))  # one step for all seeds
    try:
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)))
      self.manager.wait_until_finished()
    except OSError as e:
      # orbax only renames a finished checkpoint into place, so the earlier
      # ones are untouched; say so, rather than a traceback from a thread.
      raise CheckpointWriteError(
          f'could not write checkpoint step {step} to {self.directory} '
          f'({e.strerror or e}); the checkpoints already there are intact: '
          f'{self.all_steps()}') from None

  def restore(self, template: GANState, step: int) -> tuple[GANState, dict]:
    """Restores ``step`` into the structure of ``template``; raises if corrupt."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                            flax.serialization.to_state_dict(template))
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    meta = dict(restored['meta'])
    if state_digest(restored['state']) != meta.get('state_sha256'):
      raise ValueError('its contents do not match the checksum written with it')
    return flax.serialization.from_state_dict(template, restored['state']), meta

  def restore_latest_good(self, template: GANState) -> tuple[GANState, dict] | None:
    """The newest intact checkpoint, warning about each damaged one skipped.

    A damaged checkpoint is moved (not deleted) to ``checkpoints_damaged/`` so
    that the run can write that step again. Returns None (after saying so)
    when there is no usable checkpoint.
    """
    steps = self.all_steps()
    damaged = []
    for step in reversed(steps):
      try:
        result = self.restore(template, step)
        break
      except Exception as e:  # pylint: disable=broad-except
        # Any failure to read a checkpoint back makes it unusable; say why and
        # try the previous one.
        logging.warning('Checkpoint step %d in %s is damaged (%s: %s); falling '
                        'back to the previous one.', step, self.directory,
                        type(e).__name__, (str(e).splitlines() or [''])[0][:200])
        damaged.append(step)
    else:
      result = None
      if steps:
        logging.warning('No usable checkpoint among steps %s in %s: starting '
                        'fresh.', steps, self.directory)
    if damaged:
      aside = self.directory + '_damaged'
      os.makedirs(aside, exist_ok=True)
      for step in damaged:
        target = os.path.join(aside, str(step))
        while os.path.exists(target):  # damaged again after an earlier move
          target += '_'
        shutil.move(os.path.join(self.directory, str(step)), target)
      self.manager.reload()
    return result

  def close(self):
    self.manager.close()
