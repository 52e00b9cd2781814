"""Conditional GANs trained on k labelled digits per class (experiments/augmentation.py).

    python experiments/augmentation.py      # trains these runs if needed, then the table

k = 10, 50, 100 of the 4,000 embedded training digits (nested subsets,
data.examples_per_class); configs/cgan.py's default (projection) model and
budget otherwise: about 10 minutes a run on 2 CPU cores. k = 400 is all
4,000, whose GAN is the projection run of experiments/sweeps/cgan.py.
"""

from experiments.sweep import product

CONFIG = 'configs/cgan.py'  # the projection variant: best on docs/cgan.md
PER_CLASS = (10, 50, 100)


def sweep():
  return product({'data.examples_per_class': list(PER_CLASS)})
