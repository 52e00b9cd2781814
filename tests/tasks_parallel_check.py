"""One step of each toy task and of CycleGAN on 8 fake CPU devices against one; prints JSON.

Used by tests/test_tasks.py in a subprocess (the device count is fixed before
JAX starts). For each task, update rule and parallel mode it reports the
largest difference of the whole state, relative to each tensor's scale,
between the N-device step and the one-device step on the same global batch
(d_steps 2, so the labels and both domains are chunked too).
"""

import json
import os
import sys

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from configs import cyclegan, toy_tasks  # pylint: disable=g-import-not-at-top
from gan_jax import build, parallel, steps  # pylint: disable=g-import-not-at-top
from gan_jax.data import create_dataset  # pylint: disable=g-import-not-at-top


def relative_error(a, b) -> float:
  return max(float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max()
                   / max(float(np.abs(np.asarray(y, np.float64)).max()), 1e-12))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def main():
  n = jax.device_count()
  assert n == 8, jax.devices()
  results = {}
  for task in ('conditional', 'cycle', 'cyclegan'):
    for update in ('simultaneous', 'alternating'):
      if task == 'cyclegan':
        # A pool of 8: the step's first chunk of 16 fills it, the second
        # swaps, so both branches run on the gathered global batch.
        config = cyclegan.get_config('transform,tiny')
        config.train.pool_size = 8
      else:
        config = toy_tasks.get_config(f'{task},tiny')
      config.train.d_steps, config.train.update_rule = 2, update
      dataset = create_dataset(config.data, config.seed, None)
      batch = dataset.batch(0, 2 * n * 2)
      game = build.create_game(config, dataset)
      state0 = build.init_state(config, game, dataset)
      one, _ = jax.jit(steps.make_train_step(game, update, 2))(state0, batch)
      one = jax.block_until_ready(one)
      for mode in parallel.PARALLEL_MODES:
        par = parallel.Parallel(mode)
        p_game = build.create_game(config, dataset, axis_name=par.axis_name)
        p_step = par.compile(steps.make_train_step(p_game, update, 2))
        state = par.put_state(jax.tree.map(np.array, state0))
        new, _ = p_step(state, par.put_batch(batch))
        new = jax.block_until_ready(new)  # fake CPU devices deadlock if not blocked
        results[f'{task}/{update}/d_steps=2/{mode}'] = relative_error(
            par.get_state(new), one)
  print(json.dumps(results))


if __name__ == '__main__':
  main()
