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

from configs.discrete import ESTIMATORS
from experiments.sweep import product

CONFIG = 'configs/discrete.py:bits'
LEARNING_RATES = (3e-4, 1e-3)
NUM_SEEDS = 3


def sweep():
  for overrides in product({'train.estimator': list(ESTIMATORS), 'optim.g_lr': list(LEARNING_RATES)}):
    yield {**overrides, 'optim.d_lr': overrides['optim.g_lr'], 'train.num_seeds': NUM_SEEDS}
