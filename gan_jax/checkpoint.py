"""Checkpoints of the ``GANState`` with orbax.

orbax writes each step into a temporary folder and renames it when complete,
so a checkpoint is visible only once whole; ``max_to_keep`` removes old ones
only after a newer one is finished.
"""

from __future__ import annotations

import os

import flax.serialization
import jax
import orbax.checkpoint as ocp

from gan_jax.state import GANState


class Checkpointer:
  """Saves and restores ``GANState`` under ``<workdir>/checkpoints``."""

  def __init__(self, workdir: str, max_to_keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state: GANState, meta: dict | None = None) -> None:
    """Writes ``state`` (and a JSON ``meta`` dict) at step ``state.step``; blocks."""
    step = int(state.step)
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(flax.serialization.to_state_dict(state)),
        meta=ocp.args.JsonSave(meta or {})))
    self.manager.wait_until_finished()

  def restore(self, template: GANState, step: int | None = None) -> tuple[GANState, dict]:
    """Restores step ``step`` (default: latest) into the structure of ``template``."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                            flax.serialization.to_state_dict(template))
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return (flax.serialization.from_state_dict(template, restored['state']),
            dict(restored['meta']))

  def close(self):
    self.manager.close()
