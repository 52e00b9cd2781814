"""Paired image-to-image translation of MNIST digits (task 'pix2pix'; Isola et al. 2017).

    python -m gan_jax.main --config=configs/pix2pix.py --workdir=runs/pix2pix
    python -m gan_jax.main --config=configs/pix2pix.py:l1 --workdir=runs/pix2pix_l1
    python -m gan_jax.main --config=configs/pix2pix.py:tiny --workdir=/tmp/p2p_tiny

The data: each embedded MNIST digit b paired with a = ``data.transforms_a`` of
it: dilated (3x3) and inverted, i.e. thick black strokes on white; G must
give back the thin white-on-black digit. The shipped classifier's 4,000
training digits train, its 1,000 held-out ones are what the evaluators
translate. G: a two-level U-Net (28 -> 14 -> 7 and back, skips); D: a
PatchGAN on the pair (output, input), one logit per patch.

Variants after the colon (comma-separated, combinable):
  l1_cgan  G minimises 100 x L1 + the non-saturating conditional GAN loss
           (pix2pix's objective; the default).
  l1       L1 only (adversarial weight 0): the regression baseline.
  cgan     the conditional GAN loss only (L1 weight 0).
  tiny     a few steps of a very small model, for tests and smoke runs.

Budget: 1,000 steps of 32 pairs, Adam 2e-4 (b1 0.5, as pix2pix), about 4
minutes on two CPU cores.
Evaluators: 'translation' (L1, PSNR, SSIM to the truth and classifier
accuracy on the 1,000 held-out pairs) and 'image_features' (FID).
"""

import ml_collections

from configs import dcgan

OBJECTIVES = {'l1_cgan': (1.0, 100.0), 'l1': (0.0, 100.0), 'cgan': (1.0, 0.0)}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  allowed = sorted([*OBJECTIVES, 'tiny'])
  for v in variants:
    if v not in allowed:
      raise ValueError(f'configs/pix2pix.py: unknown variant {v!r}; allowed: {allowed}')
  config = dcgan.get_config()
  config.task = 'pix2pix'
  config.data.name = 'domains'      # two image domains (gan_jax/data/domains.py)
  config.data.domain_a = 'mnist'
  config.data.domain_b = 'mnist'
  config.data.transforms_a = ('dilate', 'invert')  # the input: a transform of b
  config.data.transforms_b = ()
  config.data.paired = True
  config.model.name = 'pix2pix'     # U-Net G, conditional PatchGAN D
  config.model.g_width = 32         # the U-Net's first level channels (then 2x)
  config.model.d_width = 32
  config.train.num_steps = 1000
  config.train.batch_size = 32
  config.train.loss = 'non_saturating'
  config.train.adversarial_weight = 1.0  # lambda_GAN
  config.train.l1_weight = 100.0         # pix2pix's lambda
  config.train.l2_weight = 0.0
  config.train.feature_weight = 0.0
  config.optim.g_lr = config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.log.checkpoint_every = 1000
  config.log.best_metric = ''
  config.eval = ml_collections.ConfigDict()
  config.eval.translation = dict(type='translation', every=500)
  # batch_size = num_samples: one draw of distinct held-out inputs (each draw
  # is a random subset of them; two draws of 500 would repeat some).
  config.eval.features = dict(type='image_features', every=0, num_samples=1000,
                              batch_size=1000)

  for variant in variants:
    if variant in OBJECTIVES:
      config.train.adversarial_weight, config.train.l1_weight = OBJECTIVES[variant]
  if 'tiny' in variants:
    config.model.g_width = config.model.d_width = 4
    config.train.num_steps = 4
    config.train.batch_size = 8
    config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
    config.log.num_samples = 16
    for entry in config.eval.values():
      entry.every = -1
  return config
