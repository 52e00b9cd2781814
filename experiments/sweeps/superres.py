"""Super-resolution at x2 and x4, each with three losses (6 runs; the docs/superres.md table).

    python experiments/superres.py     # runs this sweep, then the table and the figures

configs/superres.py's default budget (1,000 steps of 32): about 3 minutes
per run on two CPU cores. The scale and loss are configs/superres.py's
variants, written out as fields (the sweep engine takes one base config).
"""

from configs.superres import LOSSES, SCALES

CONFIG = 'configs/superres.py'
RUN_LOSSES = ('l1', 'srgan', 'esrgan')


def overrides(scale: str, loss: str) -> dict:
  transform, factor = SCALES[scale]
  name, adversarial, l1, l2, feature = LOSSES[loss]
  return {'data.transforms_a': (transform,), 'model.scale': factor, 'train.loss': name,
          'train.adversarial_weight': adversarial, 'train.l1_weight': l1,
          'train.l2_weight': l2, 'train.feature_weight': feature}


def sweep():
  return [overrides(scale, loss) for scale in SCALES for loss in RUN_LOSSES]
