"""CycleGAN between unpaired digit domains (task 'cyclegan'; Zhu et al. 2017).

    python -m gan_jax.main --config=configs/cyclegan.py --workdir=runs/cyclegan
    python -m gan_jax.main --config=configs/cyclegan.py:transform --workdir=runs/cyclegan_t
    python -m gan_jax.main --config=configs/cyclegan.py:tiny --workdir=/tmp/cyclegan_tiny

Domains (data/domains.py), unpaired, each shuffled by its own seed:
  default    A = scikit-learn's 1,797 8x8 digits in MNIST's framing (1,497
             train / 300 test), B = the embedded MNIST digits (4,000 train /
             1,000 test): a real domain gap, with MNIST, the shipped
             classifier's domain, as the target.
  transform  A = MNIST digits dilated and inverted, B = MNIST, from two
             disjoint halves of the 4,000 training digits (no digit in both).
  tiny       a few steps of a very small model, for tests and smoke runs.

The objective is CycleGAN's: least-squares GAN, cycle weight 10, identity
weight 0.5 (x 10) on ||G_ab(b) - b||_1, a pool of 50 past fakes per D, Adam
2e-4 (b1 0.5), the learning rate constant for the first half of the steps
and decaying linearly to 0 over the second (the paper: 100 + 100 epochs).
G: ResNet translators (conv7, two stride-2 downs, ``model.num_blocks``
residual blocks, two sub-pixel ups); D: PatchGANs. Budget: 1,000 steps of 8
(about 3.5 minutes on two CPU cores), widths a quarter of the paper's.
Evaluators: 'translation' with cycle=True (classifier accuracy of G_ab on the
held-out A digits, the cycle reconstruction error) and 'image_features' (FID
of G_ab's translations against MNIST).
"""

import ml_collections

from configs import dcgan


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  for v in variants:
    if v not in ('transform', 'tiny'):
      raise ValueError(f"configs/cyclegan.py: unknown variant {v!r}; allowed: "
                       "['tiny', 'transform']")
  config = dcgan.get_config()
  config.task = 'cyclegan'
  config.data.name = 'domains'      # two image domains (gan_jax/data/domains.py)
  config.data.domain_a = 'load_digits'  # mnist | load_digits | tfds:<name>
  config.data.domain_b = 'mnist'
  config.data.transforms_a = ()
  config.data.transforms_b = ()
  config.data.paired = False        # independent draws from each domain
  config.model.name = 'cyclegan'    # ResNet translators, PatchGAN discriminators
  config.model.g_width = 16         # the translators' first conv channels (CycleGAN: 64)
  config.model.num_blocks = 3       # their residual blocks (CycleGAN: 6 at 128 px)
  config.model.d_width = 16         # (CycleGAN: 64)
  config.train.num_steps = 1000
  config.train.batch_size = 8       # (CycleGAN: 1)
  config.train.loss = 'least_squares'
  config.train.cycle_weight = 10.0      # lambda
  config.train.identity_weight = 0.5    # x lambda, on ||G_ab(b) - b||_1 + ||G_ba(a) - a||_1
  config.train.pool_size = 50           # past fakes per D; 0 = off
  config.optim.g_lr = config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.lr_decay_start = 500     # constant until here, then linear ...
  config.optim.lr_decay_steps = 500     # ... to 0 over this many updates
  config.log.checkpoint_every = 1000
  config.log.best_metric = ''
  config.eval = ml_collections.ConfigDict()
  config.eval.translation = dict(type='translation', every=500, cycle=True)
  # batch_size = num_samples: one draw of distinct held-out inputs (each draw
  # is a random subset of them; two draws would repeat some).
  config.eval.features = dict(type='image_features', every=0, num_samples=300,
                              batch_size=300)

  if 'transform' in variants:
    config.data.domain_a = 'mnist'
    config.data.transforms_a = ('dilate', 'invert')
    config.eval.features.num_samples = config.eval.features.batch_size = 1000
  if 'tiny' in variants:
    config.model.g_width = config.model.d_width = 4
    config.model.num_blocks = 1
    config.train.num_steps = 4
    config.train.batch_size = 8
    config.optim.lr_decay_start = config.optim.lr_decay_steps = 2
    config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
    config.log.num_samples = 16
    for entry in config.eval.values():
      entry.every = -1
  return config
