"""Stacked MNIST with D a quarter of G: the plain DCGAN, 5 seeds (5 runs).

    python experiments/mode_collapse.py      # runs this sweep and the others, then the tables

configs/stacked_mnist.py:small_d (PacGAN Table 3's small-D setting in the
dcgan_mnist pair); experiments/mode_collapse.py's --stacked_steps sets the
budget. One run per seed (vmapped convolutions are slow on CPU). PacDCGAN4
is PACKS = [1, 4] (5 more runs: about 25 more minutes on 2 CPU cores, which
the last regeneration of docs/mode_collapse.md did not have).
"""

from experiments.sweep import product

CONFIG = 'configs/stacked_mnist.py:small_d'
SEEDS = (0, 1, 2, 3, 4)


PACKS = [1]


def sweep():
  return product({'model.pack': PACKS}, seed=list(SEEDS))
