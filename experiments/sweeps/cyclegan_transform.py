"""CycleGAN from dilated-inverted MNIST to MNIST, identity weight 0.5 and 0 (2 runs; docs/cyclegan.md).

    python experiments/cyclegan.py     # runs this and the load_digits sweep, then the table

The identity term asks G_ab to return a B image (white on black) unchanged
while it must invert every A image (black on white): the colour-inversion
conflict CycleGAN users report. The second run leaves the term out.
"""

CONFIG = 'configs/cyclegan.py:transform'


def sweep():
  return [{'train.identity_weight': 0.5}, {'train.identity_weight': 0.0}]
