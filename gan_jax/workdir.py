"""Workdir policy: writable probe, atomic JSON, the same-run check, pre-emption."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile

from absl import logging

from gan_jax.errors import ConfigError

# Fields whose change does not change the steps already taken (a run may be
# extended by raising train.num_steps, or get other evaluators; the steps per
# dispatch change the speed, not the numbers).
OBSERVATION_ONLY = ('log.', 'eval.', 'train.num_steps', 'train.steps_per_dispatch')
# What a field missing from an older saved config meant.
_DEFAULTS = {'task': 'unconditional', 'train.init_from': '',
             'train.init_players': ['generator'], 'model.conv_impl': 'auto',
             'model.d_batch_norm': True, 'model.g_batch_norm': False, 'model.d_maxout_pieces': 1, 'model.init_std': 0.0,
             # The 2-D mixtures' parameters (configs/toy2d.py), PacGAN's by default.
             'data.num_modes': 8, 'data.radius': 1.0, 'data.grid_side': 5,
             'data.spacing': 2.0, 'data.mixture_std': 0.0, 'data.mode_weights': [],
             'data.num_points': 0}


def prepare(workdir: str) -> None:
  """Creates ``workdir`` and proves it writable, or raises one ConfigError line."""
  try:
    os.makedirs(workdir, exist_ok=True)
    # A probe of its own per process: the processes of one job prepare the
    # same workdir at once, and a shared name let one remove the other's.
    with tempfile.NamedTemporaryFile('w', dir=workdir, prefix='.write_test.') as f:
      f.write('ok')
  except OSError as e:
    raise ConfigError(
        f'--workdir={workdir!r} is not a writable directory ({e.strerror})') from None


def write_json(path: str, obj) -> None:
  """Writes ``obj`` to a temporary file and renames it: readers never see half a file."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def drop_records_after(path: str, step: int) -> int:
  """Keeps only the JSON lines of ``path`` whose 'step' is <= ``step``; returns how many went.

  A resumed run repeats the steps after its checkpoint, so the lines it
  logged past that step before it stopped would be there twice. Lines that
  do not parse (a torn last line of a killed run) go too, so the next append
  starts on a line of its own. The file is rewritten to a temporary file and
  renamed only if something goes: a crash leaves the old file or the new one.
  """
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      continue
    if line.endswith('\n') and isinstance(record, dict) and record.get('step', 0) <= step:
      kept.append(line)
  if len(kept) < len(lines):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      f.writelines(kept)
    os.replace(tmp, path)
  return len(lines) - len(kept)


def run_defining(config_dict: dict) -> dict:
  """The config fields that change the run's numbers (all but logging), flattened.

  A field missing from a saved config reads as its default where one is
  known (``task``: configs written before tasks existed are 'unconditional').
  """
  flat = {}

  def walk(prefix, node):
    for k, v in node.items():
      key = f'{prefix}{k}'
      if isinstance(v, dict):
        walk(key + '.', v)
      elif not key.startswith(OBSERVATION_ONLY):
        flat[key] = list(v) if isinstance(v, (list, tuple)) else v
  walk('', config_dict)
  for key, default in _DEFAULTS.items():
    flat.setdefault(key, default)
  return flat



def check_same_run(saved: dict, config) -> None:
  """Raises ConfigError naming every run-defining field that differs from ``saved``."""
  now = run_defining(json.loads(config.to_json_best_effort()))
  before = run_defining(saved)
  diff = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
  if diff:
    raise ConfigError(
        'the workdir holds a checkpoint of a different run; differing fields: '
        + ', '.join(f'{k} (saved {before.get(k)!r}, now {now.get(k)!r})' for k in diff)
        + '. Use another --workdir, or pass --allow_config_change to resume anyway.')


@contextlib.contextmanager
def stop_requests(multiprocess: bool = False):
  """Turns SIGTERM and SIGINT into a flag (a non-empty list) the loop checks between steps.

  Pre-emption arrives as SIGTERM: the loop then saves a checkpoint and
  returns normally, so no step is lost and nothing is half-written.

  With several processes (``multiprocess``), each process would see the
  signal at a step of its own, and a collective checkpoint started by some
  processes only waits forever for the others. There SIGTERM is left to
  JAX's preemption service (installed by ``jax.distributed.initialize``),
  which tells every process; the loop asks ``agreed_stop(step)`` at every
  step, True at the same step on all of them. SIGINT is handed to it as a
  SIGTERM of this process.
  """
  requested = []
  def handler(signum, frame):
    del frame
    logging.warning('Received %s: saving a checkpoint and stopping.',
                    signal.Signals(signum).name)
    requested.append(signum)

  def to_jax(signum, frame):
    del frame
    logging.warning('Received %s: passed to JAX\'s preemption service, so that every '
                    'process stops at the same step.', signal.Signals(signum).name)
    os.kill(os.getpid(), signal.SIGTERM)

  if multiprocess:
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, to_jax)}
  else:
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield requested
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def agreed_stop(step: int) -> bool:
  """True at the same ``step`` on every process once any process got SIGTERM.

  JAX's preemption service (``multihost_utils.reached_preemption_sync_point``):
  it takes the largest step any process had reached when the notice spread,
  plus one. Call it at every step, on every process, with the same steps.
  """
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  if multihost_utils.reached_preemption_sync_point(step):
    logging.warning('Pre-emption: every process stops at step %d.', step)
    return True
  return False
