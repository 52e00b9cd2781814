"""pix2pix's ablation on the digits: L1 only, cGAN only, L1 + cGAN (3 runs; docs/pix2pix.md).

    python experiments/pix2pix.py      # runs this sweep, then the table and the figure

configs/pix2pix.py's default budget (1,000 steps of 32): about 4 minutes per
run on two CPU cores.
"""

from configs.pix2pix import OBJECTIVES

CONFIG = 'configs/pix2pix.py'


def sweep():
  return [{'train.adversarial_weight': adv, 'train.l1_weight': l1}
          for adv, l1 in OBJECTIVES.values()]
