"""RpGAN + R1 + R2 on PacGAN's 2-D protocol: ring and grid, 2 gammas, 5 seeds (20 runs).

    python experiments/mode_collapse.py      # runs this sweep and the plain-GAN one, then the table

configs/toy2d.py:pacgan,r3gan: the same data, networks, learning rate and
batch as the plain GAN of experiments/sweeps/mode_collapse_2d.py; the
relativistic pairing loss, R1 and R2 of weight gamma each, every step, and
Adam (0, 0.99) instead (Huang et al. 2025). R3GAN gives no gamma for 2-D
toys: 1 is where its Config E starts, 0.1 where it ends.
"""

from experiments.sweep import product
from experiments.sweeps.mode_collapse_2d import SEEDS

CONFIG = 'configs/toy2d.py:pacgan,r3gan'
GAMMAS = (0.1, 1.0)


def sweep():
  for run in product({'data.name': ['ring', 'grid'], 'train.r1_gamma': list(GAMMAS)},
                     seed=list(SEEDS)):
    yield {**run, 'train.r2_gamma': run['train.r1_gamma']}  # R2 weighs as much as R1
