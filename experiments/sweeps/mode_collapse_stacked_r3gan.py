"""Stacked MNIST, D a quarter of G, RpGAN + R1 + R2: 5 seeds (5 runs).

    python experiments/mode_collapse.py      # runs this sweep and the others, then the tables

configs/stacked_mnist.py:small_d,r3gan: the nets and budget of
experiments/sweeps/mode_collapse_stacked.py, with R3GAN's loss, R1 and R2
every step, a D without BatchNorm and Adam (0, 0.99).
"""

from experiments.sweep import product
from experiments.sweeps.mode_collapse_stacked import SEEDS

CONFIG = 'configs/stacked_mnist.py:small_d,r3gan'


def sweep():
  return product(seed=list(SEEDS))
