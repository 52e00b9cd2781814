"""Every estimator of configs/discrete.py on the 10-bit strings, at two learning rates.

    python experiments/sweep.py --sweep=experiments/sweeps/discrete_bits.py \
      --sweep_dir=runs/sweeps/discrete_bits
    python experiments/discrete.py

Each run trains 3 seeds at once (train.num_seeds, vmapped) for configs/discrete.py's
3,000 steps at batch 256, with the same rate for G and D (Adam, b1 0.5); the
exact evaluator scores every 250 steps. About 2 minutes a run on 2 CPU cores.
experiments/discrete.py keeps, per estimator, the rate with the lower final
mean KL, and the grammar and digit sweeps use that rate.
"""

import os

from configs.discrete import ESTIMATORS
from experiments import sweep as sweep_lib
from gan_jax import jsonl

CONFIG = 'configs/discrete.py:bits'
LEARNING_RATES = (3e-4, 1e-3)
NUM_SEEDS = 3
SWEEP_DIR = os.path.join(sweep_lib.ROOT, 'runs', 'sweeps', 'discrete_bits')


def sweep():
  for overrides in sweep_lib.product({'train.estimator': list(ESTIMATORS), 'optim.g_lr': list(LEARNING_RATES)}):
    yield {**overrides, 'optim.d_lr': overrides['optim.g_lr'], 'train.num_seeds': NUM_SEEDS}


def final_kl(workdir: str) -> float:
  """The mean exact KL over seeds of a finished run's last evaluation."""
  path = os.path.join(workdir, jsonl.EVAL_LOG)
  found = [r for r in (jsonl.read(path) if os.path.exists(path) else []) if 'exact/kl' in r]
  if not found:
    raise SystemExit(f'error: {workdir} has no exact KL yet; run '
                     'experiments/sweeps/discrete_bits.py first')
  return found[-1]['exact/kl']


def selected_rates(sweep_dir: str = SWEEP_DIR) -> dict[str, float]:
  """Per estimator, the rate of its run in ``sweep_dir`` with the lower final mean KL."""
  runs = sweep_lib.make_runs(CONFIG, list(sweep()), sweep_dir)
  best = {}
  for run in runs:
    e, lr = run.overrides['train.estimator'], run.overrides['optim.g_lr']
    kl = final_kl(run.workdir)
    if e not in best or kl < best[e][1]:
      best[e] = (lr, kl)
  return {e: lr for e, (lr, _) in best.items()}
