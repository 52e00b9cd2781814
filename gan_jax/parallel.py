"""Data-parallel execution of a per-device train step over all devices.

The step functions in ``steps.py`` are written per device with an optional
``axis_name``. Two ways to run them over every device of every process
(``config.parallel``):

  jit   (default, what current JAX recommends) ``jax.jit`` over a 1-D
        ``Mesh`` with axis 'data': the state is replicated, the batch sharded
        along its first axis, and the step sees the *global* batch
        (``axis_name=None``); XLA inserts the gradient and BatchNorm
        reductions itself.
  pmap  ``jax.pmap`` with ``axis_name='data'``: each device sees its shard, and
        the step averages gradients, metrics and BatchNorm statistics with
        ``lax.pmean`` (cross-replica BatchNorm).

Either way a step gives the same result as one device with the same global
batch (tests/test_parallel.py checks it on 8 fake CPU devices). With several
processes (``jax.distributed``), each process passes only its own rows of the
global batch to ``put_batch``.
"""

from __future__ import annotations

import functools

import flax.jax_utils
import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from gan_jax import validation

DATA_AXIS = 'data'
PARALLEL_MODES = ('jit', 'pmap')


class Parallel:
  """Compiles a step and moves state and batches for one parallel mode.

  Attributes:
    mode: 'jit' or 'pmap'.
    axis_name: what the step's task must be built with (None for jit).
    num_devices: global number of devices the batch is split over.
  """

  def __init__(self, mode: str = 'jit'):
    validation.choice('parallel', mode, PARALLEL_MODES)
    self.mode = mode
    self.num_devices = jax.device_count()
    self.axis_name = DATA_AXIS if mode == 'pmap' else None
    if mode == 'jit':
      # Auto axes: the compiler partitions the step (Explicit axes, the
      # jax.make_mesh default, reject the reshapes inside the step).
      self.mesh = jax.make_mesh((self.num_devices,), (DATA_AXIS,),
                                axis_types=(AxisType.Auto,))
      self.replicated = NamedSharding(self.mesh, P())
      self.sharded = NamedSharding(self.mesh, P(DATA_AXIS))
      # Batches of several steps (dispatch.py): (steps, batch, ...), split on batch.
      self.sharded_steps = NamedSharding(self.mesh, P(None, DATA_AXIS))

  def compile(self, step_fn, stacked: bool = False):
    """``step_fn(state, batch) -> (state, metrics)`` compiled for this mode.

    Every leaf of the batch dict is split along its first axis, or with
    ``stacked`` (a batch per step on axis 0, ``dispatch.scan_steps``) along
    its second.
    """
    if self.mode == 'pmap':
      return jax.pmap(step_fn, axis_name=DATA_AXIS, donate_argnums=0)
    return jax.jit(step_fn, in_shardings=(
        self.replicated, self.sharded_steps if stacked else self.sharded),
                   out_shardings=(self.replicated, self.replicated),
                   donate_argnums=0)

  def put_state(self, state):
    """A host or single-device state -> replicated over the devices."""
    if self.mode == 'pmap':
      return flax.jax_utils.replicate(state)
    return jax.device_put(state, self.replicated)

  def get_state(self, state):
    """The replicated state -> one copy (for sampling and checkpoints)."""
    if self.mode == 'pmap':
      return flax.jax_utils.unreplicate(state)
    return state

  def get_metrics(self, metrics):
    return jax.tree.map(lambda m: m[0], metrics) if self.mode == 'pmap' else metrics

  def put_batch(self, local, stacked: bool = False):
    """This process's rows of the global batch -> the step's input, leaf by leaf.

    Each leaf of ``local`` (a dict of arrays) has shape (B / num_processes,
    ...), rows process_index * b .. of the global batch, or with ``stacked``
    (K, B / num_processes, ...), one such batch per step. For pmap it is split
    over the local devices (device axis first), for jit it becomes one global
    array sharded over all devices along the batch axis.
    """
    return jax.tree.map(functools.partial(self._put_leaf, stacked=stacked), local)

  def _put_leaf(self, local: np.ndarray, stacked: bool):
    axis = int(stacked)  # the batch axis
    if self.mode == 'pmap':  # pmap splits the leading axis over local devices
      split = local.reshape(*local.shape[:axis], jax.local_device_count(), -1,
                            *local.shape[axis + 1:])
      return np.moveaxis(split, axis, 0)
    global_shape = list(local.shape)
    global_shape[axis] *= jax.process_count()
    return jax.make_array_from_process_local_data(
        self.sharded_steps if stacked else self.sharded, local, tuple(global_shape))


def to_host(tree):
  """Device arrays -> numpy, also for replicated arrays spanning processes.

  ``jax.device_get`` refuses arrays that are not fully addressable (a
  multi-process mesh); a replicated array's local shard is the whole value.
  """
  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(x.addressable_data(0))
    return np.asarray(x)
  return jax.tree.map(get, tree)
