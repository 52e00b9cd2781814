"""The Dirac-GAN (Mescheder et al. 2018): the smallest game that does not converge.

Data is a point mass at 0, G(z) = theta, D(x) = psi x, minimax loss, plain SGD
with step h = optim.g_lr = optim.d_lr (see gan_jax/models/dirac.py). The
closed-form behaviour from (theta, psi) = (1, 1) is tested in
tests/test_dirac.py and drawn by

    python experiments/dirac_gan.py        # every update rule -> docs/figures/dirac_gan.png

or trained like any config (sample pictures are histograms of theta):

    python -m gan_jax.main --config=configs/dirac.py:alternating --workdir=runs/dirac

In code: game = build.create_game(config, (1,)); state = build.init_state(config,
game, (1,)); models.dirac.trajectory(steps.make_train_step(game, rule), state, n).

Variants (comma-separated): an update rule (simultaneous, the default;
alternating, extragradient, optimistic, consensus); r1 (R1 penalty, gamma
0.3: eigenvalues -0.15 +- 0.477i); critical (R1 with gamma 1: critically
damped, both eigenvalues -0.5).
"""

import ml_collections

from configs import dcgan

RULES = ('simultaneous', 'alternating', 'extragradient', 'optimistic', 'consensus')


def get_config(arg: str | None = None):
  """Returns the config for the comma-separated variants in ``arg``."""
  config = dcgan.get_config()
  config.data.name = 'point_mass'  # every sample is 0
  config.model.name = 'scalar_dirac'  # G(z) = theta, D(x) = psi x
  config.model.z_dim = 1             # G ignores z
  config.model.dirac_init = (1.0, 1.0)
  config.train.loss = 'minimax'
  config.train.batch_size = 1        # every sample is 0: one is the whole batch
  config.train.num_steps = 500
  config.train.r1_gamma = 0.3
  # gamma = 1 with h = 0.1: |eigenvalue| of one step near 0 is
  # sqrt((1 - h gamma / 4)^2 + h^2 / 4) = 0.976.
  config.train.consensus_gamma = 1.0
  config.optim.name = 'sgd'
  config.optim.g_lr = config.optim.d_lr = 0.1  # the step h
  config.log.log_every = 50
  config.eval = ml_collections.ConfigDict()  # no evaluator scores a point mass
  config.log.best_metric = ''
  for variant in filter(None, (arg or '').split(',')):
    if variant in RULES:
      config.train.update_rule = variant
    elif variant in ('r1', 'critical'):
      config.train.regularizers = ('r1',)
      config.train.r1_gamma = 0.3 if variant == 'r1' else 1.0
    else:
      raise ValueError(f'configs/dirac.py: unknown variant {variant!r}; allowed: '
                       + ', '.join(repr(v) for v in (*RULES, 'r1', 'critical')))
  return config
