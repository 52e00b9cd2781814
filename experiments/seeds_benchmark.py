"""How much N seeds in one program cost against one seed and N separate runs.

    python experiments/seeds_benchmark.py [--num_seeds=16] [--steps=200]

The MLP GAN on the 2-D ring (configs/toy2d.py), batch 256 per seed. Times,
after compilation and warm-up, (a) one run's step, (b) N separate runs
stepped one after another (what N processes on one core-set amount to), and
(c) one ``jax.vmap``-ed step over N stacked states (train.num_seeds = N).
Prints medians over repeats of ``--steps`` steps and the ratios.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top

from configs import toy2d  # pylint: disable=g-import-not-at-top
from gan_jax import build, steps, train  # pylint: disable=g-import-not-at-top
from gan_jax.data import create_dataset  # pylint: disable=g-import-not-at-top
from gan_jax.seeds import Seeds  # pylint: disable=g-import-not-at-top
from gan_jax.state import create_state  # pylint: disable=g-import-not-at-top

flags.DEFINE_integer('num_seeds', 16, 'N.')
flags.DEFINE_integer('steps', 200, 'Steps per timed repeat.')
flags.DEFINE_integer('repeats', 5, 'Timed repeats (the median is reported).')
FLAGS = flags.FLAGS


def _time(run, repeats):
  run()  # compile and warm up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def main(_):
  config = toy2d.get_config('ring')
  n, k = FLAGS.num_seeds, FLAGS.steps
  game = train.create_game(config, (2,))
  step = steps.make_train_step(game, config.train.update_rule, 1)
  seeds = Seeds(config.seed, n)
  datasets = seeds.datasets(create_dataset(config.data, config.seed, None))
  # The points of each batch (the step ignores the mode labels), (k, n, 256, 2).
  batches = np.stack([[d.batch(i, 256)['x'] for d in datasets] for i in range(k)])

  one_step = jax.jit(step, donate_argnums=0)
  many_step = jax.jit(jax.vmap(step), donate_argnums=0)
  example = build.example_batch((2,))
  init = jax.jit(lambda rng: create_state(rng, game.task, game.txs, example))
  states_sep = [init(jax.random.PRNGKey(s)) for s in seeds.seeds]
  state_one = init(jax.random.PRNGKey(config.seed))
  state_many = train.init_state(config, game, (2,), num_seeds=n)
  holder = {'one': state_one, 'sep': states_sep, 'many': state_many}

  def run_one():
    s = holder['one']
    for i in range(k):
      s, _ = one_step(s, {'x': batches[i, 0]})
    holder['one'] = jax.block_until_ready(s)

  def run_separate():
    ss = holder['sep']
    for i in range(k):
      ss = [one_step(s, {'x': batches[i, j]})[0] for j, s in enumerate(ss)]
    holder['sep'] = jax.block_until_ready(ss)

  def run_many():
    s = holder['many']
    for i in range(k):
      s, _ = many_step(s, {'x': batches[i]})
    holder['many'] = jax.block_until_ready(s)

  t1 = _time(run_one, FLAGS.repeats) / k
  t_sep = _time(run_separate, FLAGS.repeats) / k
  t_many = _time(run_many, FLAGS.repeats) / k
  print(f'MLP GAN on the 2-D ring, batch 256 per seed, {jax.devices()[0].device_kind}, '
        f'{os.cpu_count()} CPU cores, jax {jax.__version__}')
  print('| what | ms per step (median) | seed-steps/s | ratio to one seed |')
  print('|---|---|---|---|')
  print(f'| 1 seed | {1e3 * t1:.2f} | {1 / t1:.0f} | 1.00 |')
  print(f'| {n} separate runs, one after another | {1e3 * t_sep:.2f} | {n / t_sep:.0f} | '
        f'{t_sep / t1:.2f} |')
  print(f'| {n} seeds in one program (vmap) | {1e3 * t_many:.2f} | {n / t_many:.0f} | '
        f'{t_many / t1:.2f} |')


if __name__ == '__main__':
  app.run(main)
