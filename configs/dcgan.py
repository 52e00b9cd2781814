"""DCGAN on MNIST: the reference experiment.

    python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan
    python -m gan_jax.main --config=configs/dcgan.py:digit7 --workdir=runs/digit7
    python -m gan_jax.main --config=configs/dcgan.py:tiny --workdir=/tmp/tiny

Variants after the colon (comma-separated, combinable):
  digit7   train only on the digit 7, the worked example of the GAN primer.
  tiny     a few steps of a very small model, no evaluators, for tests and smoke runs.
  wgan_gp  Wasserstein loss + gradient penalty (lambda 10), 5 critic steps per
           G step, Adam(1e-4, b1 0, b2 0.9) as in Gulrajani et al. 2017 (their
           critic has no BatchNorm; the DCGAN one keeps it).
Any field can be overridden, e.g. --config.train.num_steps=2000.
"""

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Returns the config for the comma-separated variants in ``arg``."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # The game (gan_jax/tasks): unconditional (G(z) vs D(x)) | toy_conditional | toy_cycle
  config.task = 'unconditional'
  config.parallel = 'jit'  # jit (sharded over a device mesh) | pmap

  config.data = ml_collections.ConfigDict()
  config.data.name = 'mnist'        # tfds name, 'ring' / 'grid' (2-D toys), or stacked_mnist
  config.data.source = 'auto'       # auto | tfds | embedded (5,000 digits)
  config.data.split = 'train'
  # embedded only: all (5,000) | train (the shipped classifier's 4,000) | test (its 1,000 held out)
  config.data.embedded_split = 'all'
  config.data.examples_per_class = 0  # k > 0: keep k images per class (nested subsets); 0 = all
  config.data.digits = ()           # keep only these labels; () keeps all
  config.data.tfds_data_dir = ''    # '' = tfds default (~/tensorflow_datasets)
  config.data.image_size = 0        # 0 = the size the model makes
  config.data.num_triples = 26_000  # stacked_mnist only: images of 3 stacked digits

  config.model = ml_collections.ConfigDict()
  config.model.name = 'dcgan_mnist'  # dcgan_mnist | dcgan64 | mlp
  config.model.z_dim = 100
  config.model.g_width = 64         # ngf: channels of G's last hidden layer
  config.model.d_width = 64         # ndf: channels of D's first layer
  config.model.conv_transpose_impl = 'auto'  # auto | xla | subpixel
  config.model.conv_impl = 'auto'  # auto | xla | patches | space_to_depth | patches_vjp
  config.model.dtype = 'float32'    # dcgan*: float32 | bfloat16 compute (params float32)
  config.model.g_hidden = (256, 256)  # mlp only
  config.model.d_hidden = (256, 256)  # mlp only
  config.model.output_activation = 'tanh'  # mlp only: tanh | none
  config.model.g_batch_norm = False  # mlp only: BatchNorm after G's hidden layers (no bias)
  config.model.d_maxout_pieces = 1  # mlp only: k > 1 makes D's hidden layers maxout of k pieces
  config.model.init_std = 0.0       # mlp only: > 0 draws kernels N(0, std); 0 = LeCun normal
  config.model.d_batch_norm = True  # dcgan*: BatchNorm in D's hidden layers (False: biases)
  config.model.d_spectral_norm = False  # spectral normalisation of D's layers (dcgan*, mlp)
  config.model.pack = 1             # PacGAN: D judges packs of this many samples; 1 = off
  config.model.dirac_init = (1.0, 1.0)  # scalar_dirac only: (theta, psi) at step 0

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 3000
  config.train.batch_size = 64      # global, over all devices
  # non_saturating | minimax | hinge | wasserstein | least_squares |
  # relativistic_average | relativistic_pairing (RpGAN; with r1 + r2: R3GAN)
  config.train.loss = 'non_saturating'
  # simultaneous | alternating | extragradient | optimistic | consensus
  # (`update` would shadow ConfigDict.update)
  config.train.update_rule = 'simultaneous'
  config.train.d_steps = 1          # D updates per G update
  config.train.regularizers = ()    # D penalties, any of: r1 | r2 | gradient_penalty
  config.train.r1_gamma = 10.0      # r1: gamma/2 E|grad_x D(x)|^2 on real samples
  config.train.r2_gamma = 10.0      # r2: the same on generated samples
  config.train.gp_lambda = 10.0     # gradient_penalty: lambda E(|grad D(x_hat)| - 1)^2
  config.train.label_smoothing = 0.0  # one-sided: D's real target is 1 - s
  config.train.g_ema_decay = 0.0    # EMA of G's params for samples/evaluation; 0 = off
  config.train.consensus_gamma = 10.0  # consensus rule: weight of 1/2 |v|^2
  config.train.num_seeds = 1        # N independent GANs in one program (jax.vmap)
  config.train.on_nonfinite = 'stop'  # stop | skip a non-finite update
  # K steps in one compiled lax.scan (gan_jax/dispatch.py): same numbers, fewer
  # host launches. 1 here: on XLA:CPU the scanned DCGAN step measured slower
  # (README, Speed); configs/toy2d.py turns it on for the small MLP.
  config.train.steps_per_dispatch = 1
  # A finished run's workdir: at a fresh start, init_players take its newest
  # checkpoint's params (SRGAN's adversarial stage from the L1 generator); '' = off.
  config.train.init_from = ''
  config.train.init_players = ('generator',)

  config.optim = ml_collections.ConfigDict()
  config.optim.name = 'adam'        # adam | sgd (plain: params -= lr * grad)
  config.optim.g_lr = 2e-4          # separate rates per player: TTUR
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5             # adam only
  config.optim.b2 = 0.999           # adam only

  config.log = ml_collections.ConfigDict()
  config.log.log_every = 50         # progress line and TensorBoard scalars
  config.log.sample_every = 500     # PNG grid from the fixed z
  config.log.checkpoint_every = 500
  config.log.keep_checkpoints = 3
  config.log.num_samples = 64       # size of the fixed z batch for grids
  # Keep <workdir>/best/checkpoints/<step>, the state with the best value of
  # this '<eval entry>/<metric>' so far ('' = off); best_mode: min | max.
  config.log.best_metric = 'features/fid'
  config.log.best_mode = 'min'
  # At the end of the run, PNG curves (losses, D outputs, gradient norms,
  # evaluator metrics against their floor) and samples.gif of the grids into
  # <workdir>/plots/; `python -m gan_jax.plot --workdir=...` redraws them.
  config.log.plots = True
  # Trace this many train steps (after the first, which compiles) with
  # jax.profiler into <workdir>/profile/ (TensorBoard/XProf and Perfetto
  # formats); 0 = off.
  config.log.profile_steps = 0

  # Evaluators by name (gan_jax/evaluation/evaluators.py): type, every (steps;
  # 0 = only at the end, -1 = off) and the type's options. Results go to
  # <workdir>/eval.jsonl and TensorBoard eval/*, beside the real-vs-real floor.
  # image_features: FID, KID, precision/recall, density/coverage, IS analogue
  # and label histogram in the features of the shipped digit classifier; it
  # needs 2 x num_samples real 28x28x1 images.
  config.eval = ml_collections.ConfigDict()
  config.eval.features = dict(type='image_features', every=1000, num_samples=2500)

  for variant in filter(None, (arg or '').split(',')):
    if variant == 'digit7':
      config.data.digits = (7,)
      config.eval.features.num_samples = 250  # the 500 sevens make 2 x 250
    elif variant == 'tiny':
      config.model.g_width = 4
      config.model.d_width = 4
      config.train.num_steps = 4
      config.train.batch_size = 8
      config.log.log_every = 2
      config.log.sample_every = 2
      config.log.checkpoint_every = 2
      config.log.num_samples = 16
      config.eval.features.every = -1
      config.log.best_metric = ''
    elif variant == 'wgan_gp':
      config.train.loss = 'wasserstein'
      config.train.regularizers = ('gradient_penalty',)
      config.train.d_steps = 5
      config.optim.g_lr = config.optim.d_lr = 1e-4
      config.optim.b1, config.optim.b2 = 0.0, 0.9
    else:
      raise ValueError(f'configs/dcgan.py: unknown variant {variant!r}; '
                       "allowed: 'digit7', 'tiny', 'wgan_gp'")
  return config
