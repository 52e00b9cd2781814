"""Class-conditional DCGANs on the embedded MNIST digits (task 'conditional').

    python -m gan_jax.main --config=configs/cgan.py:projection --workdir=runs/cgan
    python -m gan_jax.main --config=configs/cgan.py:acgan --workdir=runs/cgan_acgan
    python -m gan_jax.main --config=configs/cgan.py:concat --workdir=runs/cgan_concat

Variants after the colon (comma-separated; one conditioning, default projection):
  projection  G with conditional BatchNorm, projection discriminator (Miyato &
              Koyama 2018).
  acgan       G with the label embedding concatenated to z, D with an
              auxiliary classifier head and its class loss on real and fake
              (Odena et al. 2017), weight train.acgan_weight.
  concat      the label embedding concatenated to z, and the one-hot label as
              10 constant channels of D's input (the cGAN baseline, Mirza &
              Osindero 2014).
  mlp         MLPs instead of the DCGANs (G concat; D as chosen).
  tiny        a few steps of a very small model, no evaluators, for tests.

The GAN trains on the 4,000 embedded digits the shipped classifier was
trained on (data.embedded_split='train'); the evaluators score on the other
1,000, which neither has seen (gan_jax/evaluation/conditional_metrics.py).
Any labelled tfds dataset works by name (--config.data.source=tfds
--config.data.embedded_split=all --config.data.name=fashion_mnist) with the
held-out evaluators switched off (--config.eval.conditional.every=-1
--config.eval.cas.every=-1), since its images may include the held-out digits.
The DCGANs are half the width of configs/dcgan.py's (g_width = d_width = 32)
so that the default run takes minutes on two CPU cores.
"""

from configs import dcgan

CONDITIONINGS = {  # variant -> (model.g_conditioning, model.d_conditioning)
    'projection': ('cbn', 'projection'),
    'acgan': ('concat', 'acgan'),
    'concat': ('concat', 'concat'),
}


def get_config(arg: str | None = None):
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  unknown = sorted(set(variants) - set(CONDITIONINGS) - {'mlp', 'tiny'})
  if unknown:
    raise ValueError(f'configs/cgan.py: unknown variant {unknown[0]!r}; allowed: '
                     f"{sorted(CONDITIONINGS) + ['mlp', 'tiny']}")
  chosen = [v for v in variants if v in CONDITIONINGS] or ['projection']
  if len(chosen) > 1:
    raise ValueError(f'configs/cgan.py: variants {chosen} are exclusive; pick one of '
                     f'{sorted(CONDITIONINGS)}')
  config = dcgan.get_config()
  config.task = 'conditional'
  config.data.source = 'embedded'
  config.data.embedded_split = 'train'
  config.model.g_width = config.model.d_width = 32
  # G(z, y) / D(x, y) (gan_jax/models/conditional.py):
  config.model.g_conditioning, config.model.d_conditioning = CONDITIONINGS[chosen[0]]
  config.model.label_dim = 32      # g_conditioning='concat': size of the label embedding
  config.model.num_classes = 0     # 0 = the data's; otherwise must equal it
  config.train.acgan_weight = 1.0  # d_conditioning='acgan': weight of the class losses
  config.train.num_steps = 2000
  config.log.num_samples = 100     # the grid: 10 rows (row r = digit r) of 10 z
  config.log.best_metric = 'conditional/intra_fid'
  # Scored on the 1,000 held-out digits (conditional_metrics.py): accuracy of
  # the shipped classifier against the label asked for, intra-FID, FID; and
  # at the end the Classification Accuracy Score (trains a classifier, ~1 min).
  config.eval = dict(
      conditional=dict(type='class_conditional', every=500, num_per_class=50),
      cas=dict(type='cas', every=0, per_class=400, num_steps=500))
  if 'mlp' in variants:
    config.model.name = 'mlp'
    config.model.g_hidden = config.model.d_hidden = (512, 512)
    if config.model.g_conditioning == 'cbn':
      config.model.g_conditioning = 'concat'
  if 'tiny' in variants:
    config.model.g_width = config.model.d_width = 4
    config.model.g_hidden = config.model.d_hidden = (16,)
    config.train.num_steps = 4
    config.train.batch_size = 10
    config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
    config.log.num_samples = 20
    config.eval.conditional.every = config.eval.cas.every = -1
    config.log.best_metric = ''
  return config
