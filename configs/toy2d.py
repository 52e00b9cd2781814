"""An MLP GAN on a 2-D Gaussian mixture: minutes on a CPU, for studying dynamics.

    python -m gan_jax.main --config=configs/toy2d.py:ring --workdir=runs/ring
    python -m gan_jax.main --config=configs/toy2d.py:grid --workdir=runs/grid

Variants (comma-separated, combinable):
  ring        8 Gaussians on the unit circle, std 0.01 (the default).
  grid        5 x 5 Gaussians at {-4,-2,0,2,4}^2, std 0.05.
  pacgan      PacGAN's exact 2-D protocol (Lin et al. 2018, Sec. 4.1 and the
              authors' code fjxmlzn/PacGAN): 100,000 fixed training points;
              z 2-D N(0, I); G 4 x 400 ReLU with BatchNorm and no hidden bias;
              D 3 maxout layers of 200 units x 5 pieces, then linear, no
              BatchNorm; weights N(0, 0.02); Adam lr 1e-4, b1 0.8; batch 100;
              simultaneous updates, non-saturating loss; 400,000 iterations
              (400 epochs); 2,500 samples scored. Packing: --config.model.pack=4.
  gdpp        GDPP's cheaper budget (Elfeki et al. 2019, Table 1): 25,000
              iterations at batch 512 (5 runs in the paper).
  r3gan       RpGAN + R1 + R2 (Huang et al. 2025): the relativistic pairing
              loss, zero-centred R1 on real and R2 on fake samples every step
              (gamma below), Adam b1 0, b2 0.99; D has no normalisation.
  unbalanced  RLS-GAN's unbalanced mixtures (arXiv 2104.02373, Table 1): the
              ring's odd modes and the grid's first 10 modes (row-major) get
              weight 0.05, the others 1; 10,000 samples scored, a mode counts
              with >= 50 high-quality samples, KL against the true weights.
              Which modes the paper down-weights is not stated there; these
              are this codebase's choice.
  tiny        a few steps of small nets, for tests.
Sample pictures are scatter plots of G(z) over real points. Any geometry:
--config.data.num_modes, radius (ring), grid_side, spacing (grid),
mixture_std, mode_weights, num_points (a fixed training set; 0 = fresh).
"""

import ml_collections

from configs import dcgan


# R1 = R2 weight of the r3gan variant: gamma/2 E|grad_x D|^2 each.
R3GAN_GAMMA = 1.0
UNBALANCED_WEIGHT = 0.05  # RLS-GAN's down-weighting of the minor modes


def get_config(arg: str | None = None):
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or '').split(',') if v]
  config = dcgan.get_config()
  config.data.name = 'ring'         # ring | grid: the geometry; its parameters below
  config.data.num_modes = 8          # ring: modes on the circle
  config.data.radius = 1.0           # ring: radius of the circle
  config.data.grid_side = 5          # grid: side x side modes
  config.data.spacing = 2.0          # grid: distance between neighbouring modes
  config.data.mixture_std = 0.0      # std of every mode; 0 = ring 0.01, grid 0.05 (PacGAN's)
  config.data.mode_weights = ()      # one weight per mode, normalised; () = equal
  config.data.num_points = 0         # N > 0: train on N fixed points; 0 = fresh samples
  config.model.name = 'mlp'
  config.model.z_dim = 16
  config.model.g_hidden = (128, 128)
  config.model.d_hidden = (128, 128)
  config.model.output_activation = 'none'
  config.train.num_steps = 5000
  config.train.batch_size = 256
  # A faster discriminator (two time-scale rule): with equal rates of 1e-4 the
  # samples stayed a blob inside the ring for 3,000 steps; with these they sit
  # on the ring by ~4,000 steps (usually collapsed onto a few modes).
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 1e-3
  # 100 steps per compiled lax.scan (gan_jax/dispatch.py): bit-identical to 1,
  # and for this small MLP the launches, not the arithmetic, are the cost
  # (README, Speed: 1.2x on 2 CPU cores in the loop; 11.6x for a bare scan on an H100).
  config.train.steps_per_dispatch = 100
  config.log.log_every = 500
  config.log.sample_every = 500
  config.log.checkpoint_every = 1000
  config.log.num_samples = 1024
  # PacGAN's protocol: modes captured, % high-quality samples, reverse KL.
  config.eval = ml_collections.ConfigDict()
  config.eval.modes = dict(type='mixture_modes', every=1000, num_samples=2500)
  config.log.best_metric = 'modes/reverse_kl'
  for variant in variants:
    if variant in ('ring', 'grid'):
      config.data.name = variant
    elif variant == 'pacgan':
      config.data.num_points = 100_000
      config.model.z_dim = 2
      config.model.g_hidden = (400,) * 4
      config.model.g_batch_norm = True
      config.model.d_hidden = (200,) * 3
      config.model.d_maxout_pieces = 5
      config.model.init_std = 0.02
      config.optim.g_lr = config.optim.d_lr = 1e-4
      config.optim.b1 = 0.8
      config.train.batch_size = 100
      config.train.num_steps = 400_000
      config.log.log_every = config.log.sample_every = 10_000
      config.log.checkpoint_every = 20_000
      config.eval.modes.every = 10_000
    elif variant == 'gdpp':
      config.train.batch_size = 512
      config.train.num_steps = 25_000
      config.log.log_every = config.log.sample_every = 1000
      config.log.checkpoint_every = config.eval.modes.every = 2500
    elif variant == 'r3gan':
      config.train.loss = 'relativistic_pairing'
      config.train.regularizers = ('r1', 'r2')
      config.train.r1_gamma = config.train.r2_gamma = R3GAN_GAMMA
      config.optim.b1, config.optim.b2 = 0.0, 0.99
    elif variant == 'unbalanced':  # weights set below, once the geometry is known
      config.eval.modes.num_samples = 10_000
      config.eval.modes.batch_size = 10_000
      config.eval.modes.min_hq_per_mode = 50
    elif variant == 'tiny':
      config.model.g_hidden = (32, 32)
      config.model.d_hidden = (32, 32)
      config.train.num_steps = 4
      config.train.batch_size = 16
      config.log.log_every = config.log.sample_every = config.log.checkpoint_every = 2
      config.log.num_samples = 64
      config.eval.modes.every = -1
      config.log.best_metric = ''
    else:
      raise ValueError(f"configs/toy2d.py: unknown variant {variant!r}; allowed: "
                       "'ring', 'grid', 'pacgan', 'gdpp', 'r3gan', 'unbalanced', 'tiny'")
  if 'unbalanced' in variants:
    minor = ([k % 2 == 1 for k in range(8)] if config.data.name == 'ring'
             else [k < 10 for k in range(25)])
    config.data.mode_weights = tuple(UNBALANCED_WEIGHT if m else 1.0 for m in minor)
  return config
