"""Several train steps per dispatch: one compiled ``lax.scan`` (``train.steps_per_dispatch``).

With one dispatch per step the host launches every step itself; for a small
model that launch, not the arithmetic, is the step's cost (the 2-D MLP GAN
on an H100 ran 11.6x faster as a scan over 100 steps; README, Speed). With
``train.steps_per_dispatch = K`` the loop stacks the next K steps' batches on
the host, still each a pure function of (seed, step), and runs them in one
``lax.scan`` of the very same step function, so the numbers are those of
K = 1 bit for bit (tests/test_dispatch.py, also across a resume that starts
inside a group) -- with one exception, which the run logs as a warning:
XLA:CPU compiles a convolution inside a loop body by another code path than
at the top level of a program, which rounds differently (DCGAN parameters
differ by ~1e-9 after 4 steps) and ran the DCGAN step 1.9x slower
(latent_search.py). Unrolling the scan restores bit-identity but took 7
minutes to compile 100 MLP steps, so conv models on CPU keep K = 1 (the
default); the dense MLP is bit-identical and faster scanned.

A group never runs past a step where the loop acts (a progress line, a
sample grid, a checkpoint, an evaluation, a profiled step, the last step): it
ends there, so every action sees the state it sees with K = 1. A group cut
short is a scan of its own length (compiled once per length); a group of one
step runs the plain step.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np


def scan_steps(step_fn):
  """``(state, batches) -> (state, metrics)``: ``step_fn`` over axis 0 of every batch leaf.

  ``batches`` leaves are (n, ...) with one step's batch per row; the metrics
  come back with a leading axis n.
  """
  def run(state, batches):
    return jax.lax.scan(step_fn, state, batches)
  return run


class Groups:
  """Splits the run's steps into dispatch groups.

  Args:
    steps_per_dispatch: K, the longest group.
    num_steps: the run's last step.
    acts_at: ``acts_at(done) -> bool``, True where the loop does something
      after the step that makes ``done`` (a group must end there).
  """

  def __init__(self, steps_per_dispatch: int, num_steps: int,
               acts_at: Callable[[int], bool]):
    self.k, self.num_steps, self.acts_at = steps_per_dispatch, num_steps, acts_at

  def length(self, step: int) -> int:
    """How many steps to run from ``step`` (steps step+1 .. step+n are made)."""
    n = 1
    while (n < self.k and step + n < self.num_steps and not self.acts_at(step + n)):
      n += 1
    return n


def cpu_convolution_caveat(step_fn, state, batch,
                           axis_name: str | None = None) -> str | None:
  """A warning to log when K > 1 cannot be bit-identical to K = 1 here, else None.

  Args:
    step_fn: the (seed-mapped) step; traced, not run.
    state, batch: arguments it is traced with (shapes only matter).
    axis_name: the device axis the step reduces over (pmap), if any.
  """
  if jax.default_backend() != 'cpu':
    return None
  axis_env = [(axis_name, jax.local_device_count())] if axis_name else []
  jaxpr = jax.make_jaxpr(step_fn, axis_env=axis_env)(state, batch)
  if 'conv_general_dilated' not in str(jaxpr):
    return None
  return ('train.steps_per_dispatch > 1 with convolutions on XLA:CPU: inside the scanned '
          'loop XLA:CPU runs them by another, slower code path that rounds differently, '
          'so this run is NOT bit-identical to train.steps_per_dispatch=1, and slower. '
          'Use 1 on the CPU for conv models (gan_jax/dispatch.py).')


def stack_batches(batches: list):
  """Per-step batches (trees of arrays) -> one tree, each leaf (n, ...)."""
  return jax.tree.map(lambda *leaves: np.stack(leaves), *batches)


def per_step(groups: list[tuple[int, object]]) -> list:
  """[(n, metrics with a leading axis n) or (1, metrics)] -> one metrics tree per step.

  Fetched to the host only here, when the loop reports, so the dispatches
  in between are not waited for.
  """
  flat = []
  for n, metrics in groups:
    if n == 1:
      flat.append(metrics)
      continue
    host = jax.device_get(metrics)
    flat.extend(jax.tree.map(lambda x, i=i: x[i], host) for i in range(n))
  return flat
