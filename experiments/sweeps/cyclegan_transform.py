"""CycleGAN between dilated-inverted MNIST halves and MNIST (1 run; docs/cyclegan.md).

    python experiments/cyclegan.py     # runs this and the load_digits sweep, then the table
"""

CONFIG = 'configs/cyclegan.py:transform'


def sweep():
  return [{}]
