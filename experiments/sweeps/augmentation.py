"""Conditional GANs trained on k labelled digits per class (experiments/augmentation.py).

    python experiments/augmentation.py      # trains these runs if needed, then the table

k = 10, 50, 100, 400 of the 4,000 embedded training digits (nested subsets,
data.examples_per_class); configs/cgan.py's model and budget otherwise.
"""

from experiments.sweep import product

CONFIG = 'configs/cgan.py:acgan'
PER_CLASS = (10, 50, 100, 400)


def sweep():
  return product({'data.examples_per_class': list(PER_CLASS)})
