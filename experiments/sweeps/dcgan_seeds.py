"""DCGAN on MNIST: the two generator losses, each over three seeds (6 runs).

    python experiments/sweep.py --sweep=experiments/sweeps/dcgan_seeds.py \
      --sweep_dir=runs/sweeps/dcgan_seeds --mode=slurm --gres=gpu:1
    sbatch runs/sweeps/dcgan_seeds/launch.sbatch

Each run is the reference experiment (3,000 steps at batch 64): ~20 minutes
on 2 CPU cores, about a minute on one GPU.
"""

from experiments.sweep import product

CONFIG = 'configs/dcgan.py'


def sweep():
  return product({'train.loss': ['non_saturating', 'minimax']}, seed=[0, 1, 2])
