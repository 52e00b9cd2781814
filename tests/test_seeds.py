"""train.num_seeds: N GANs in one program are exactly N independent runs."""

import logging
import os

import jax
import numpy as np

from configs import dcgan, toy2d
from gan_jax import train


def _config(seed=0, num_seeds=1, base=toy2d, variant='tiny'):
  config = base.get_config(variant)
  config.seed = seed
  config.train.num_seeds = num_seeds
  config.data.source = 'embedded'
  return config


def test_vmapped_seeds_equal_separate_runs(tmp_path, caplog):
  with caplog.at_level(logging.INFO):
    many = train.train_and_evaluate(_config(num_seeds=3), str(tmp_path / 'many'))
  assert jax.tree.leaves(many.params['generator'])[0].shape[0] == 3
  parts = lambda s: (s.params['generator'], s.params['discriminator'],
                     s.opt_state['discriminator'])
  for i in range(3):
    one = train.train_and_evaluate(_config(seed=i), str(tmp_path / f'one{i}'))
    for a, b in zip(jax.tree.leaves(parts(many)), jax.tree.leaves(parts(one)), strict=True):
      np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6)
  # The seeds really differ from each other.
  kernel = np.asarray(jax.tree.leaves(many.params['generator'])[0])
  assert not np.allclose(kernel[0], kernel[1])
  # Progress lines report mean +- standard error over seeds; one grid per seed.
  assert any('+-' in r.getMessage() and 'd_loss' in r.getMessage() for r in caplog.records)
  files = os.listdir(tmp_path / 'many')
  assert {'samples_final_seed0.png', 'samples_final_seed1.png', 'samples_final_seed2.png'} <= set(files)


def test_seeds_with_batchnorm_dcgan_and_resume(tmp_path):
  config = _config(num_seeds=2, base=dcgan)
  state = train.train_and_evaluate(config, str(tmp_path))
  config.train.num_steps = 6
  resumed = train.train_and_evaluate(config, str(tmp_path))
  assert np.asarray(resumed.step).tolist() == [6, 6]
  assert np.asarray(state.step).tolist() == [4, 4]
