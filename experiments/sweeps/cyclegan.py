"""CycleGAN load_digits -> MNIST: cycle weight {0, 10} x identity {0, 0.5} x pool {0, 50} (8 runs).

    python experiments/cyclegan.py     # runs this sweep and the transform run, then the table

configs/cyclegan.py's default budget (1,000 steps of 8): about 3.5 minutes
per run on two CPU cores. (cycle 10, identity 0.5, pool 50) is the paper's
objective.
"""

from experiments.sweep import product

CONFIG = 'configs/cyclegan.py'


def sweep():
  return product({'train.cycle_weight': [10.0, 0.0], 'train.identity_weight': [0.5, 0.0],
                  'train.pool_size': [50, 0]})
