"""Every GAN estimator of configs/discrete.py on the binarised digits.

    python experiments/sweep.py --sweep=experiments/sweeps/discrete_mnist.py \
      --sweep_dir=runs/sweeps/discrete_mnist
    python experiments/discrete.py

configs/discrete.py:mnist as it is (a factorized G of 784 Bernoulli pixels
given z, Adam 2e-4 for G and D, 3,000 steps at batch 64; the image_features
evaluator every 1,000 steps), the same rate for every estimator, 3 seeds per
run (train.num_seeds, vmapped). No mle: the factorized G has no likelihood.
"""

from configs.discrete import ESTIMATORS
from experiments.sweep import product
from experiments.sweeps.discrete_bits import NUM_SEEDS

CONFIG = 'configs/discrete.py:mnist'


def sweep():
  return product({'train.estimator': [e for e in ESTIMATORS if e != 'mle'],
                  'train.num_seeds': [NUM_SEEDS]})
