"""Checkpoints of the ``TrainState`` with orbax, verified on restore.

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

from gan_jax.errors import CheckpointLayoutError, CheckpointWriteError
from gan_jax.parallel import to_host
from gan_jax.state import TrainState


# The fields of the two-player state before tasks -> (field, player) now.
LEGACY_FIELDS = {
    'g_params': ('params', 'generator'), 'd_params': ('params', 'discriminator'),
    'g_ema_params': ('ema_params', 'generator'),
    'g_state': ('model_state', 'generator'), 'd_state': ('model_state', 'discriminator'),
    'g_opt_state': ('opt_state', 'generator'), 'd_opt_state': ('opt_state', 'discriminator'),
}


def _path(path) -> str:
  """A ``tree_flatten_with_path`` path as 'params/generator/Dense_0/kernel'."""
  return '/'.join(str(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k))))
                  for k in path)


def state_digest(state_dict) -> str:
  """SHA-256 over the leaves' dtypes, shapes and bytes, in tree order."""
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(to_host(state_dict)):
    a = np.ascontiguousarray(leaf)
    h.update(f'{a.dtype}{a.shape}'.encode())
    h.update(a.tobytes())
  return h.hexdigest()


class Checkpointer:
  """Saves and restores ``TrainState`` under ``<workdir>/checkpoints``."""

  def __init__(self, workdir: str, max_to_keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    # Handlers named up front, so that the saved tree's shapes and the JSON
    # metadata can be read without restoring any array.
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'meta': ocp.JsonCheckpointHandler()})

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def read_meta(self, step: int) -> dict:
    """The JSON metadata saved with ``step`` (config, data, checksum); no arrays read."""
    return dict(self.manager.restore(
        step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta'])

  def newest_meta(self) -> tuple[int, dict] | None:
    """(step, metadata) of the newest checkpoint whose metadata reads, or None."""
    for step in reversed(self.all_steps()):
      try:
        return step, self.read_meta(step)
      except Exception:  # pylint: disable=broad-except
        continue  # unreadable: restore_latest_good reports it as damaged
    return None

  def _saved_shapes(self, step: int) -> dict[str, tuple]:
    """{'params/generator/Dense_0/kernel': (shape, dtype), ...} of the saved state."""
    tree = self.manager.item_metadata(step)['state']
    return {_path(p): (tuple(m.shape), str(m.dtype))
            for p, m in jax.tree_util.tree_leaves_with_path(tree)}

  def check_fits(self, template: TrainState, step: int) -> bool:
    """Whether ``step`` has the older two-player layout (converted by ``restore``);
    otherwise raises CheckpointLayoutError unless it holds arrays of the
    template's shapes. Reads only the checkpoint's metadata.
    """
    saved = self._saved_shapes(step)
    if any(k.startswith('g_params/') for k in saved):
      return True
    now = {_path(p): (tuple(np.shape(x)), str(jax.numpy.result_type(x))) for p, x in
           jax.tree_util.tree_leaves_with_path(flax.serialization.to_state_dict(template))}
    diff = [f'{k} (saved {saved.get(k, ("absent",))[0]}, now {now.get(k, ("absent",))[0]})'
            for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]
    if diff:
      raise CheckpointLayoutError(
          f'checkpoint step {step} in {self.directory} holds other arrays than this run: '
          + ', '.join(diff[:3]) + (f' and {len(diff) - 3} more' if len(diff) > 3 else '')
          + '; use another --workdir (nothing was moved or overwritten)')
    return False

  def save(self, state: TrainState, meta: dict | None = None) -> None:
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

  def restore(self, template: TrainState, step: int) -> tuple[TrainState, dict]:
    """Restores ``step`` into the structure of ``template``; raises if corrupt.

    Arrays of other shapes than the template's raise CheckpointLayoutError
    before anything is read. A checkpoint of the two-player layout before
    tasks (fields g_params, d_state, ...) is converted (``LEGACY_FIELDS``)
    when ``template`` is an unconditional game of the same shapes; otherwise
    CheckpointLayoutError.
    """
    if self.check_fits(template, step):
      return self._restore_legacy(template, step)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                            flax.serialization.to_state_dict(template))
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    meta = dict(restored['meta'])
    if state_digest(restored['state']) != meta.get('state_sha256'):
      raise ValueError('its contents do not match the checksum written with it')
    return flax.serialization.from_state_dict(template, restored['state']), meta

  def _restore_legacy(self, template: TrainState, step: int) -> tuple[TrainState, dict]:
    """The state of a pre-task checkpoint (fields g_params, ...), converted."""
    raw = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
    old, meta = raw['state'], dict(raw['meta'])
    where = f'checkpoint step {step} in {self.directory}'
    if state_digest(old) != meta.get('state_sha256'):
      raise ValueError('its contents do not match the checksum written with it')
    if set(template.params) != {'generator', 'discriminator'}:
      raise CheckpointLayoutError(
          f'{where} comes from the older two-player layout (g_params, d_params, ...) and '
          f'only restores into task=unconditional, not a game of {sorted(template.params)}')
    new = {'step': old['step'], 'rng': old['rng'], 'params': {}, 'opt_state': {},
           'model_state': {}, 'ema_params': {}}
    for field, (kind, player) in LEGACY_FIELDS.items():
      new[kind][player] = old[field]
    try:
      state = flax.serialization.from_state_dict(template, new)
      shapes_match = all(np.shape(a) == np.shape(b) for a, b in zip(
          jax.tree.leaves(state), jax.tree.leaves(template), strict=True))
    except (ValueError, KeyError, TypeError):
      shapes_match = False
    if not shapes_match:
      raise CheckpointLayoutError(
          f'{where} comes from the older two-player layout and does not match this '
          'run\'s shapes or optimizer; use another --workdir')
    logging.warning('Checkpoint step %d in %s has the older two-player layout '
                    '(g_params, d_params, ...): converted to the task layout.',
                    step, self.directory)
    return state, meta

  def restore_latest_good(self, template: TrainState) -> tuple[TrainState, dict] | None:
    """The newest intact checkpoint, warning about each damaged one skipped.

    A checkpoint is damaged when its files cannot be read or its contents do
    not match the checksum written with it; it is moved (not deleted) to
    ``checkpoints_damaged/`` so that the run can write that step again. One
    that reads but does not fit ``template`` (other shapes, another layout)
    raises CheckpointLayoutError and nothing is moved. Returns None (after
    saying so) when there is no usable checkpoint.
    """
    steps = self.all_steps()
    damaged = []
    for step in reversed(steps):
      try:
        result = self.restore(template, step)
        break
      except CheckpointLayoutError:
        raise  # readable, but not for this run: nothing is damaged
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
