"""Learning really happens: the MLP GAN moves its samples onto the ring."""

import jax
import numpy as np

from configs import toy2d
from gan_jax import train


def _fraction_near_ring(state, game, n=2000):
  z = jax.random.normal(jax.random.PRNGKey(123), (n, game.task.z_dim))
  x = np.asarray(train.make_sampler(game)(state, {'z': z}))
  return float(np.mean(np.abs(np.linalg.norm(x, axis=1) - 1.0) < 0.1))


def test_mlp_gan_moves_most_samples_onto_the_ring(tmp_path):
  config = toy2d.get_config('ring')
  config.train.num_steps = 4000
  config.log.sample_every = config.log.checkpoint_every = 4000
  game = train.create_game(config, (2,))
  before = _fraction_near_ring(train.init_state(config, game, (2,)), game)
  state = train.train_and_evaluate(config, str(tmp_path))
  after = _fraction_near_ring(state, game)
  # Radius within 0.1 of 1 (ten data standard deviations): a thin annulus.
  assert before < 0.3, before
  assert after > 0.8, (before, after)
