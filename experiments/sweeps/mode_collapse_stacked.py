"""Stacked MNIST with D a quarter of G: DCGAN and PacDCGAN4, 5 seeds (10 runs).

    python experiments/mode_collapse.py      # runs this sweep and the others, then the tables

configs/stacked_mnist.py:small_d (PacGAN Table 3's small-D setting in the
dcgan_mnist pair); experiments/mode_collapse.py's --stacked_steps sets the
budget. One run per seed (vmapped convolutions are slow on CPU).
"""

from experiments.sweep import product

CONFIG = 'configs/stacked_mnist.py:small_d'
SEEDS = (0, 1, 2, 3, 4)


def sweep():
  return product({'model.pack': [1, 4]}, seed=list(SEEDS))
