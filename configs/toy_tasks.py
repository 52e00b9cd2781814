"""The two toy tasks that show the task layout holds more than G(z) vs D(x).

    python -m gan_jax.main --config=configs/toy_tasks.py:conditional --workdir=runs/cond
    python -m gan_jax.main --config=configs/toy_tasks.py:cycle --workdir=runs/cycle

Variants (comma-separated):
  conditional  task toy_conditional: G(z, y) and D(x, y) on the 8-mode ring,
               y the mode index (gan_jax/tasks/toy_conditional.py).
  cycle        task toy_cycle: four players G_ab, G_ba, D_a, D_b between the
               ring (a) and the 5 x 5 grid (b), with a cycle loss of weight
               train.cycle_weight (gan_jax/tasks/toy_cycle.py).
  tiny         a few steps of small MLPs, for tests.
The rest is configs/toy2d.py's 2-D MLP setup; the mixture-modes evaluator
scores the samples (for cycle: G_ab(a) against the grid).
"""

from configs import toy2d


def get_config(arg: str | None = None):
  """Returns the config for the comma-separated variants in ``arg``."""
  variants = [v for v in (arg or 'conditional').split(',') if v]
  config = toy2d.get_config('tiny' if 'tiny' in variants else None)
  config.train.cycle_weight = 10.0  # toy_cycle: lambda of the cycle loss (CycleGAN's 10)
  for variant in variants:
    if variant == 'conditional':
      config.task = 'toy_conditional'
      config.data.name = 'ring'
    elif variant == 'cycle':
      config.task = 'toy_cycle'
      config.data.name = 'ring_grid'
      config.eval.modes.every = -1  # the mixture evaluator reads a single mixture
      config.log.best_metric = ''
    elif variant != 'tiny':
      raise ValueError(f'configs/toy_tasks.py: unknown variant {variant!r}; allowed: '
                       "'conditional', 'cycle', 'tiny'")
  return config
