"""The discriminator's learning rate on the 8-Gaussian ring, over two seeds: 2 x 2 runs.

    python experiments/sweep.py --sweep=experiments/sweeps/toy2d_lr.py \
      --sweep_dir=runs/sweeps/toy2d_lr --mode=parallel --devices=0,1

About 5 minutes per run on 2 CPU cores; results in runs/sweeps/toy2d_lr/results.md.
"""

from experiments.sweep import product

CONFIG = 'configs/toy2d.py:ring'


def sweep():
  # 1e-3 is the config's two-time-scale default; 1e-4 equals G's rate.
  return product({'optim.d_lr': [1e-3, 1e-4]}, seed=[0, 1])
