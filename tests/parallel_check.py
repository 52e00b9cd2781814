"""Runs one train step on N fake CPU devices in every parallel mode; prints JSON.

Used by tests/test_parallel.py in a subprocess, because the device count must
be fixed before JAX starts:  python tests/parallel_check.py 8
For each update rule and mode it reports the largest difference, relative to
each tensor's scale, between the N-device step and the one-device step on the
same global batch and RNG: for params, optimizer states and BatchNorm stats,
and (under 'metrics') for every metric the step returns, relative to the
one-device value (with pmap, the largest over every device's copy; the loop
logs device 0's).
"""

import json
import os
import sys

NUM_DEVICES = int(sys.argv[1]) if len(sys.argv) > 1 else 8
os.environ['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={NUM_DEVICES}'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top

from configs import dcgan  # pylint: disable=g-import-not-at-top
from gan_jax import parallel, steps, train  # pylint: disable=g-import-not-at-top

SHAPE = (28, 28, 1)
# The parts compared, by their names in the report: (state field, player).
PARTS = {'g_params': ('params', 'generator'), 'd_params': ('params', 'discriminator'),
         'g_opt_state': ('opt_state', 'generator'),
         'd_opt_state': ('opt_state', 'discriminator'),
         'g_state': ('model_state', 'generator'),
         'd_state': ('model_state', 'discriminator')}


def relative_error(a, b) -> dict[str, float]:
  out = {}
  for part, (field, player) in PARTS.items():
    errors = [float(np.abs(np.asarray(x) - np.asarray(y)).max() /
                    max(float(np.abs(np.asarray(y)).max()), 1e-12))
              for x, y in zip(jax.tree.leaves(getattr(a, field)[player]),
                              jax.tree.leaves(getattr(b, field)[player]))]
    out[part] = max(errors) if errors else 0.0
  return out


def metric_errors(a, b) -> dict[str, float]:
  """{metric: max |a - b| / |b|} for the metrics ``b`` has, over every copy
  in ``a`` (pmap: one per device); NaN for a metric missing from ``a``."""
  out = {}
  for name, ref in b.items():
    if name not in a:
      out[name] = float('nan')
      continue
    x, y = np.asarray(a[name], np.float64).ravel(), float(np.asarray(ref))
    out[name] = float(np.abs(x - y).max() / max(abs(y), 1e-12))
  return out


def wrong_shard_map_step(config, update, d_steps):
  """The measured trap, as a negative control: inside shard_map with
  replication checking, pmean(grad(local loss)) is N times the true gradient."""
  mesh = jax.make_mesh((NUM_DEVICES,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  game = train.create_game(config, SHAPE, axis_name='data')
  step = steps.make_train_step(game, update, d_steps)
  return jax.jit(jax.shard_map(step, mesh=mesh, in_specs=(P(), P('data')),
                               out_specs=(P(), P()), check_vma=True))


def main():
  assert jax.device_count() == NUM_DEVICES, jax.devices()
  config = dcgan.get_config('tiny')
  results = {}
  for update in ('simultaneous', 'alternating'):
    for d_steps in (1, 2):
      config.train.d_steps = d_steps
      batch = 2 * NUM_DEVICES * d_steps
      real = {'image': np.random.default_rng(0).uniform(-1, 1, (batch, *SHAPE))
              .astype(np.float32)}
      game = train.create_game(config, SHAPE)
      state0 = train.init_state(config, game, SHAPE)
      one, one_metrics = jax.jit(steps.make_train_step(game, update, d_steps))(state0, real)
      one, one_metrics = jax.block_until_ready((one, one_metrics))
      for mode in parallel.PARALLEL_MODES:
        par = parallel.Parallel(mode)
        p_game = train.create_game(config, SHAPE, axis_name=par.axis_name)
        p_step = par.compile(steps.make_train_step(p_game, update, d_steps))
        # Donation consumes the input: give each mode its own copy.
        state = par.put_state(jax.tree.map(np.array, state0))
        new, metrics = p_step(state, par.put_batch(real))
        new = jax.block_until_ready(new)  # fake CPU devices deadlock if not blocked
        errors = relative_error(par.get_state(new), one)
        errors['metrics'] = metric_errors(metrics, one_metrics)
        results[f'{update}/d_steps={d_steps}/{mode}'] = errors
      if d_steps == 1:
        key = f'{update}/d_steps=1/shard_map_pmean_of_grads'
        try:
          wrong, _ = wrong_shard_map_step(config, update, d_steps)(
              jax.tree.map(np.array, state0), real)
          results[key] = relative_error(jax.block_until_ready(wrong), one)
        except Exception as e:  # pylint: disable=broad-except
          # A step whose outputs differ between devices fails shard_map's
          # replication check: report it (the test fails on it) and go on,
          # so that the measurements above still come back.
          results[key] = {'error': f'{type(e).__name__}: {str(e).strip()[:300]}'}
  print(json.dumps(results))


if __name__ == '__main__':
  main()
