"""Super-resolution of MNIST digits (task 'superres'): SRResNet, SRGAN and ESRGAN.

    python -m gan_jax.main --config=configs/superres.py --workdir=runs/superres
    python -m gan_jax.main --config=configs/superres.py:x2,esrgan --workdir=runs/sr_x2_esrgan
    python -m gan_jax.main --config=configs/superres.py:tiny --workdir=/tmp/sr_tiny

The data: the embedded MNIST digits as pairs (low-res a, high-res b), a =
``data.transforms_a`` of b (bicubic downsampling, data/domains.py); the
shipped classifier's 4,000 training digits train, its 1,000 held-out ones
are what the evaluators super-resolve. G: an SRResNet without BatchNorm
(``model.g_width`` features, ``model.num_blocks`` residual blocks, sub-pixel
x2 steps up to ``model.scale``); D: a PatchGAN on the high-res image.

Variants after the colon (comma-separated, combinable; one scale, one loss):
  x4       7x7 -> 28x28 (the default).
  x2       14x14 -> 28x28.
  l2       SRResNet: G minimises the per-pixel MSE only (adversarial weight 0).
  l1       the same with the per-pixel L1.
  srgan    Ledig et al. 2017: content = MSE of the shipped classifier's
           features (the digits' VGG) + 1e-3 x the non-saturating GAN loss
           (the default).
  esrgan   Wang et al. 2018: features + 1e-2 L1 + 5e-3 x the relativistic
           average GAN loss (RaGAN).
  tiny     a few steps of a very small model, for tests and smoke runs.
  box      box (block-mean) downsampling instead of bicubic.

Budget: 1,000 steps of 32 images, Adam (b1 0.9, as SRGAN) at 1e-3 for G and
1e-4 for D (SRGAN: 1e-4 for 10^6 steps), about 3 minutes on two CPU cores.
SRGAN and ESRGAN train their adversarial stage from a trained PSNR-oriented
generator; the srgan and esrgan variants alone start from the seed, and

    python -m gan_jax.main --config=configs/superres.py:x4,srgan --workdir=runs/sr_gan \
      --config.train.init_from=runs/sr_l1 --config.optim.g_lr=1e-4

fine-tunes a finished ``:x4,l1`` run's generator instead, as
experiments/sweeps/superres.py does.
Evaluators: 'translation' (PSNR, SSIM, L1 to the truth, low-res consistency,
classifier accuracy on the 1,000 held-out digits) and 'image_features' (FID
of 1,000 super-resolved held-out digits against training digits).
"""

import ml_collections

from configs import dcgan

SCALES = {'x2': ('bicubic_x2', 2), 'x4': ('bicubic_x4', 4)}
LOSSES = {
    # variant: (train.loss, adversarial, l1, l2, feature weights)
    'l2': ('non_saturating', 0.0, 0.0, 1.0, 0.0),
    'l1': ('non_saturating', 0.0, 1.0, 0.0, 0.0),
    'srgan': ('non_saturating', 1e-3, 0.0, 0.0, 1.0),
    'esrgan': ('relativistic_average', 5e-3, 1e-2, 0.0, 1.0),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  allowed = sorted([*SCALES, *LOSSES, 'tiny', 'box'])
  for v in variants:
    if v not in allowed:
      raise ValueError(f'configs/superres.py: unknown variant {v!r}; allowed: {allowed}')
  config = dcgan.get_config()
  config.task = 'superres'
  config.data.name = 'domains'      # two image domains (gan_jax/data/domains.py)
  config.data.domain_a = 'mnist'    # mnist | load_digits | tfds:<name>
  config.data.domain_b = 'mnist'
  config.data.transforms_a = ('bicubic_x4',)  # the low-res input: b downsampled
  config.data.transforms_b = ()
  config.data.paired = True         # row i of a is row i of b, downsampled
  config.model.name = 'srresnet'
  config.model.scale = 4            # must undo data.transforms_a's factor
  config.model.g_width = 32         # G's features
  config.model.num_blocks = 4       # G's residual blocks
  config.model.d_width = 32         # the PatchGAN's first conv channels
  config.train.num_steps = 1000
  config.train.batch_size = 32
  # G's loss: adversarial_weight x L_G + l1_weight x L1 + l2_weight x MSE
  #           + feature_weight x MSE of the classifier's features.
  config.train.loss = 'non_saturating'
  config.train.adversarial_weight = 1e-3
  config.train.l1_weight = 0.0
  config.train.l2_weight = 0.0
  config.train.feature_weight = 1.0
  # SRGAN: Adam 1e-4, b1 0.9, for 10^6 steps; G at 10x that rate here, so that
  # 1,000 steps learn (an L1 run at 1e-4 was 2 dB behind 1e-3 at step 500).
  config.optim.g_lr = 1e-3
  config.optim.d_lr = 1e-4
  config.optim.b1 = 0.9
  config.log.checkpoint_every = 1000
  config.log.best_metric = ''
  config.eval = ml_collections.ConfigDict()
  config.eval.translation = dict(type='translation', every=500)
  # batch_size = num_samples: one draw of distinct held-out inputs (each draw
  # is a random subset of them; two draws of 500 would repeat some).
  config.eval.features = dict(type='image_features', every=0, num_samples=1000,
                              batch_size=1000)

  for variant in variants:
    if variant in SCALES:
      config.data.transforms_a = (SCALES[variant][0],)
      config.model.scale = SCALES[variant][1]
    elif variant in LOSSES:
      (config.train.loss, config.train.adversarial_weight, config.train.l1_weight,
       config.train.l2_weight, config.train.feature_weight) = LOSSES[variant]
  if 'box' in variants:
    config.data.transforms_a = (config.data.transforms_a[0].replace('bicubic', 'box'),)
  if 'tiny' in variants:
    config.model.g_width = config.model.d_width = 4
    config.model.num_blocks = 1
    config.train.num_steps = 4
    config.train.batch_size = 8
    config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
    config.log.num_samples = 16
    for entry in config.eval.values():
      entry.every = -1
  return config
