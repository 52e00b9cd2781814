"""Super-resolution at x2 and x4: the L1 generator, then SRGAN and ESRGAN fine-tuned from it.

    python experiments/superres.py     # runs this sweep, then the table and the figures

Per scale, three runs in this order (6 in all; the docs/superres.md table):
  l1             SRResNet on the L1 content loss from the seed (G at 1e-3,
                 10x SRGAN's rate, so that 1,000 steps learn);
  srgan, esrgan  their adversarial objectives from that run's generator
                 (``train.init_from``; D from the seed), at G's rate 1e-4, as
                 both papers' adversarial stages (Ledig et al. 2017 sec. 3.2:
                 10^5 steps at 1e-4 then 10^5 at 1e-5, from the MSE SRResNet;
                 Wang et al. 2018 sec. 4.1: 1e-4 from the PSNR-oriented model).
configs/superres.py's default budget, 1,000 steps of 32 per run: about 3
minutes a run on two CPU cores, so the adversarial runs have seen 2,000
steps in all. The scale and loss are configs/superres.py's variants,
written out as fields (the sweep engine takes one base config).
"""

from configs.superres import LOSSES, SCALES
from experiments.sweep import SWEEP_DIR, run_name

CONFIG = 'configs/superres.py'
CONTENT_LOSS = 'l1'
ADVERSARIAL_LOSSES = ('srgan', 'esrgan')
FINE_TUNE_G_LR = 1e-4


def overrides(scale: str, loss: str) -> dict:
  transform, factor = SCALES[scale]
  name, adversarial, l1, l2, feature = LOSSES[loss]
  return {'data.transforms_a': (transform,), 'model.scale': factor, 'train.loss': name,
          'train.adversarial_weight': adversarial, 'train.l1_weight': l1,
          'train.l2_weight': l2, 'train.feature_weight': feature}


def sweep():
  runs = []
  for scale in SCALES:
    content = overrides(scale, CONTENT_LOSS)
    runs.append(content)
    runs += [{**overrides(scale, loss), 'optim.g_lr': FINE_TUNE_G_LR,
              'train.init_from': f'{SWEEP_DIR}/{run_name(content)}'}
             for loss in ADVERSARIAL_LOSSES]
  return runs
