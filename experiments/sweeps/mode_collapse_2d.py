"""The plain GAN under PacGAN's exact 2-D protocol: ring and grid, 5 seeds (10 runs).

    python experiments/mode_collapse.py      # runs this sweep and the R3GAN one, then the table

configs/toy2d.py:pacgan (the protocol of Lin et al. 2018, with its 400,000
iterations); experiments/mode_collapse.py's --steps_2d sets the budget each
run gets. One run per seed, so that a sweep spreads them over processes
(--mode=parallel); on 2 CPU cores two concurrent runs beat one vmapped run
of 5 seeds (about 60 against 40 seed-steps/s).
"""

from experiments.sweep import product

CONFIG = 'configs/toy2d.py:pacgan'
SEEDS = (0, 1, 2, 3, 4)


def sweep():
  return product({'data.name': ['ring', 'grid']}, seed=list(SEEDS))
