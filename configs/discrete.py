"""GANs that make discrete tokens, against data whose distribution is known.

    python -m gan_jax.main --config=configs/discrete.py:reinforce --workdir=runs/bits_reinforce
    python -m gan_jax.main --config=configs/discrete.py:gumbel,grammar --workdir=runs/pcfg_gumbel
    python -m gan_jax.main --config=configs/discrete.py:bgan,mnist --workdir=runs/binary_bgan

Variants (comma-separated: one estimator, one data set, maybe tiny):
  estimator (train.estimator; gan_jax/estimators.py):
    gumbel            Gumbel-softmax samples into D, tau annealed (the default)
    straight_through  one-hot samples into D, relaxed gradient back
    reinforce         score function with a moving-average baseline, reward log D
    bgan              boundary-seeking GAN: importance weights from D
    mle               maximum likelihood of the same G (no adversary for G)
  data:
    bits     10-bit strings from a known 4-prototype mixture (the default);
             evaluator exact_distribution: exact KL, TV and reverse KL
    grammar  sentences of a small PCFG (8 tokens, 18 ids), 2,000 for training;
             evaluators exact_distribution and grammar (valid, unique, novel %)
    mnist    the 5,000 embedded digits binarised at 0.5, a factorized G
             (784 Bernoulli pixels given z); evaluator image_features
  tiny     a few steps of small networks, for tests.
Every estimator runs on every data set except mle on mnist (the factorized G
has no likelihood). The evaluators also score each G at sampling
temperatures 0.5, 0.75 and 1.5 (eval.*.temperatures).
"""

import ml_collections

from configs import dcgan

ESTIMATORS = ('gumbel', 'straight_through', 'reinforce', 'bgan', 'mle')
DATA = ('bits', 'grammar', 'mnist')
TEMPERATURES = (0.5, 0.75, 1.0, 1.5)


def get_config(arg: str | None = None):
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  config = dcgan.get_config()
  config.task = 'discrete'
  config.data.name = 'bits'
  config.data.seq_length = 10   # bits: L (3..16); grammar: padded length (>= 8)
  config.data.num_train = 2000  # grammar: training sentences, drawn once
  config.data.binarize = False  # images: pixels -> {0, 1} (the mnist variant)
  config.model.name = 'mlp'     # D: an MLP on the one-hot tokens (B, L, V)
  # autoregressive: a GRU over the tokens (exact likelihood; no z) |
  # factorized: an MLP from z to independent tokens
  config.model.discrete_generator = 'autoregressive'
  config.model.z_dim = 32       # factorized only
  config.model.g_hidden = (64,)  # autoregressive: the GRU's width; factorized: MLP widths
  config.model.d_hidden = (128, 128)
  config.train.estimator = 'gumbel'
  config.train.tau0 = 1.0       # gumbel, straight_through: temperature at step 0 ...
  config.train.tau_min = 0.1    # ... annealed exponentially down to this ...
  config.train.tau_anneal_steps = 2000  # ... over this many steps (0: tau_min throughout)
  config.train.baseline_decay = 0.9  # reinforce: b <- decay b + (1 - decay) mean reward
  config.train.bgan_samples = 8  # bgan, factorized G: draws per z (importance-weight group)
  config.train.num_steps = 3000
  config.train.batch_size = 256
  config.optim.g_lr = 1e-3
  config.optim.d_lr = 1e-3
  config.log.log_every = 250
  config.log.sample_every = 1000
  config.log.checkpoint_every = 1000
  config.eval = ml_collections.ConfigDict()
  config.eval.exact = dict(type='exact_distribution', every=250, temperatures=TEMPERATURES)
  config.log.best_metric = 'exact/kl'
  config.log.best_mode = 'min'

  chosen = [v for v in variants if v in ESTIMATORS]
  if len(chosen) > 1:
    raise ValueError(f'configs/discrete.py: one estimator at a time, got {chosen}')
  for variant in variants:
    if variant in ESTIMATORS:
      config.train.estimator = variant
    elif variant == 'bits':
      config.data.name = 'bits'
    elif variant == 'grammar':
      config.data.name = 'grammar'
      config.data.seq_length = 8
      config.model.g_hidden = (128,)
      config.model.d_hidden = (256, 256)
      config.train.batch_size = 200  # 10 batches per epoch of the 2,000 sentences
      config.train.num_steps = 2000
      config.eval.grammar = dict(type='grammar', every=500, num_samples=2000,
                                 temperatures=TEMPERATURES)
    elif variant == 'mnist':
      config.data.name = 'mnist'
      config.data.source = 'embedded'
      config.data.binarize = True
      config.model.discrete_generator = 'factorized'
      config.model.g_hidden = (256, 512)
      config.model.d_hidden = (512, 256)
      config.train.batch_size = 64
      config.optim.g_lr = config.optim.d_lr = 2e-4
      config.eval = ml_collections.ConfigDict()
      config.eval.features = dict(type='image_features', every=1000, num_samples=2500)
      config.log.best_metric = 'features/fid'
    elif variant != 'tiny':
      raise ValueError(f'configs/discrete.py: unknown variant {variant!r}; allowed: '
                       f'{", ".join(ESTIMATORS + DATA)}, tiny')
  if 'tiny' in variants:
    config.model.g_hidden = (8,) * len(config.model.g_hidden)
    config.model.d_hidden = (8, 8)
    config.model.z_dim = 4
    config.train.num_steps = 4
    config.train.batch_size = 16
    config.train.tau_anneal_steps = 4
    config.data.num_train = 64
    config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
    config.log.num_samples = 16
    for entry in config.eval.values():
      entry.every = -1
    config.log.best_metric = ''
  return config
