"""Recovering z from x: the latent search, the encoder, the metrics and the CLI.

- On a tiny injective generator, Adam from near z* recovers z* and the loss
  reaches ~0; each row's gradient equals central finite differences of its
  own loss (float64); stochastic clipping keeps z in its box and leaves the
  inside alone; the best of R starts is kept.
- The regression encoder learns a linear G's inverse.
- The metrics against hand computations.
- ``python -m gan_jax.invert`` on a tiny trained run writes its outputs, and
  refuses bad input with one line, exit 1 and nothing written.
"""

import json
import os
import re
import subprocess
import sys
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import inversion, latent_search, tool_io
from gan_jax.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Z_DIM, PIXELS = 4, 12


class TinyGenerator(nn.Module):
  """z (M, 4) -> (M, 12) in (-1, 1): tanh of a dense layer of a random, full-rank map."""

  @nn.compact
  def __call__(self, z, train=False):
    del train
    return jnp.tanh(nn.Dense(PIXELS, kernel_init=nn.initializers.normal(0.5))(z))


def _tiny():
  module = TinyGenerator()
  variables = module.init(jax.random.PRNGKey(0), jnp.zeros((1, Z_DIM)))
  return lambda z: module.apply(variables, z)


def test_search_from_near_the_truth_recovers_it():
  generate = _tiny()
  z_true = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (8, Z_DIM))) * 0.5
  x = np.asarray(generate(z_true))
  z0 = (z_true + 0.1 * np.asarray(jax.random.normal(jax.random.PRNGKey(2), (8, Z_DIM))))[:, None]
  result = latent_search.search(inversion.reconstruction_objective(generate), {'image': x}, z0,
                                steps=2000, learning_rate=0.01, constraint='none', chunk=4)
  err = np.linalg.norm(result.z - z_true, axis=1) / np.sqrt(Z_DIM)
  assert err.max() < 1e-3, err
  assert result.loss.max() < 1e-7, result.loss
  assert result.curve.shape == (2000,) and result.curve[-1] < 1e-3 * result.curve[0]
  metrics = inversion.latent_metrics(result.z, z_true, np.asarray(generate(result.z)), x)
  assert metrics['recovery_rate'] == 1.0 and metrics['pixel_mse'] < 1e-7


def test_row_gradients_equal_finite_differences():
  features = lambda x: jnp.sin(3 * x[:, :5])  # any smooth map of the image
  with jax.enable_x64(True):
    generate = _tiny()
    objective = inversion.reconstruction_objective(generate, features, feature_weight=0.7,
                                                   prior_weight=0.3)
    z = jax.random.normal(jax.random.PRNGKey(3), (3, Z_DIM), jnp.float64)
    x = jnp.tanh(jax.random.normal(jax.random.PRNGKey(4), (3, PIXELS), jnp.float64))
    losses, grad = latent_search.row_gradients(objective, z, {'image': x})
    eps = 1e-6
    for m in range(3):
      for i in range(Z_DIM):
        step = jnp.zeros_like(z).at[m, i].set(eps)
        # Row m's loss only: the other rows' losses must not move either.
        up, down = objective(z + step, {'image': x}), objective(z - step, {'image': x})
        np.testing.assert_allclose((up[m] - down[m]) / (2 * eps), grad[m, i], rtol=1e-6)
        np.testing.assert_array_equal(np.delete(np.asarray(up), m), np.delete(np.asarray(losses), m))
    # The objective by hand for one row.
    fake = generate(z[:1])
    hand = (jnp.mean((fake - x[:1]) ** 2) + 0.7 * jnp.mean((features(fake) - features(x[:1])) ** 2)
            + 0.3 * jnp.mean(z[0] ** 2))
    np.testing.assert_allclose(losses[0], hand, rtol=1e-12)


def test_stochastic_clipping_keeps_z_in_its_box():
  z = jnp.array([[-5.0, -2.0, 0.5, 3.9, 4.1, 100.0]] * 2000)
  clipped = np.asarray(latent_search.stochastic_clip(z, jax.random.PRNGKey(0), 4.0))
  assert np.all(np.abs(clipped) <= 4.0)
  np.testing.assert_array_equal(clipped[:, 1:4], np.asarray(z[:, 1:4]))  # inside: untouched
  redrawn = clipped[:, [0, 4, 5]].ravel()
  assert len(np.unique(redrawn)) > 0.99 * redrawn.size  # fresh draws, not a fixed clip value
  # N(0, 1) truncated to [-4, 4]: mean 0, variance ~1 (6,000 draws: SE 0.013).
  assert abs(redrawn.mean()) < 0.05 and abs(redrawn.var() - 1) < 0.06
  # In the search every step ends inside the box, even when the optimum lies outside.
  generate = _tiny()
  target = np.asarray(generate(jnp.full((2, Z_DIM), 3.0)))
  result = latent_search.search(inversion.reconstruction_objective(generate), {'image': target},
                                np.zeros((2, 1, Z_DIM)), steps=200, learning_rate=0.5,
                                constraint='clip', bound=1.0)
  assert np.all(np.abs(result.z) <= 1.0)


def test_the_best_of_several_starts_is_kept():
  generate = _tiny()
  z_true = np.array([[0.3, -0.2, 0.1, 0.4]], np.float32)
  x = np.asarray(generate(z_true))
  # Start 0 is far off, start 1 is the truth itself: with lr ~0 nothing moves.
  z0 = np.stack([np.full((1, Z_DIM), -3.0, np.float32), z_true], axis=1)
  result = latent_search.search(inversion.reconstruction_objective(generate), {'image': x}, z0,
                                steps=1, learning_rate=1e-9, constraint='none')
  np.testing.assert_allclose(result.z, z_true, atol=1e-6)


def test_regression_encoder_learns_a_linear_generator_inverse():
  kernel = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (Z_DIM, PIXELS))) / 2
  generate = lambda z: z @ kernel

  class LinearEncoder(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
      return nn.Dense(Z_DIM)(x)

  encoder = inversion.train_encoder(generate, LinearEncoder(), Z_DIM, (PIXELS,), steps=600,
                                    batch_size=64, learning_rate=3e-2)
  print('encoder loss first / last:', encoder.curve[0], encoder.curve[-1])
  assert encoder.curve[-1] < 1e-3 * encoder.curve[0]
  z = np.asarray(jax.random.normal(jax.random.PRNGKey(6), (16, Z_DIM)))
  np.testing.assert_allclose(encoder.encode(generate(z)), z, atol=0.02)


def test_metrics_by_hand():
  z_true = np.zeros((4, 100))
  z_hat = z_true.copy()
  z_hat[1, 0] = 0.05   # |err| / 10 = 0.005: recovered
  z_hat[2, :] = 0.02   # 0.02: not
  recon, target = np.zeros((4, 2)), np.array([[0, 0], [0, 0], [1, 1], [0, 2]], float)
  m = inversion.latent_metrics(z_hat, z_true, recon, target)
  assert m['recovery_rate'] == 0.75
  np.testing.assert_allclose(m['latent_rmse'], (0.005 + 0.02) / 4)
  np.testing.assert_allclose(m['pixel_mse'], (1 + 1 + 4) / 8)


def _invert(*args):
  return subprocess.run([sys.executable, '-m', 'gan_jax.invert', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


def test_cli_inverts_held_out_digits_and_samples(tiny_dcgan_run):
  proc = _invert(f'--workdir={tiny_dcgan_run}', '--method=hybrid', '--num_images=6', '--steps=20',
                 '--encoder_steps=20')
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = os.path.join(tiny_dcgan_run, 'inversion', 'hybrid_held_out')
  record = json.load(open(os.path.join(out, 'metrics.json')))
  arrays = np.load(os.path.join(out, 'inversion.npz'))
  assert arrays['z'].shape == (6, 100) and arrays['recon'].shape == (6, 28, 28, 1)
  np.testing.assert_allclose(record['metrics']['pixel_mse'],
                             np.mean((arrays['recon'] - arrays['images']) ** 2), rtol=1e-5)
  assert os.path.exists(os.path.join(out, 'inversion.png'))
  assert any(f.startswith('encoder_g4_s20') for f in os.listdir(os.path.dirname(out)))
  proc = _invert(f'--workdir={tiny_dcgan_run}', '--method=optimize', '--images=samples',
                 '--num_images=3', '--steps=5', '--restarts=2')
  assert proc.returncode == 0, proc.stderr[-2000:]
  record = json.load(open(os.path.join(tiny_dcgan_run, 'inversion', 'optimize_samples', 'metrics.json')))
  assert set(record['metrics']) == {'recovery_rate', 'latent_rmse', 'pixel_mse'}


def test_bad_images_are_refused_with_one_line(tmp_path):
  gan = types.SimpleNamespace(sample_shape=(28, 28, 1), z_dim=100)
  cases = {'wrong_shape': (np.zeros((3, 32, 32, 1), np.float32), 'must be (N, 28, 28, 1)'),
           'range': (np.full((3, 28, 28, 1), 3.0, np.float32), 'must lie in [-1, 1]'),
           'nan': (np.full((3, 28, 28, 1), np.nan, np.float32), 'NaN or infinite'),
           'ints': (np.zeros((3, 28, 28, 1), np.int64), 'dtype int64')}
  for name, (array, message) in cases.items():
    np.save(tmp_path / f'{name}.npy', array)
    with pytest.raises(DataError, match=re.escape(message)):
      tool_io.load_images(str(tmp_path / f'{name}.npy'), 3, gan)
  with pytest.raises(DataError, match='has 1000'):
    tool_io.load_images('held_out', 5000, gan)
  with pytest.raises(DataError, match='not a .npy file'):
    tool_io.load_images('heldout', 3, gan)
  # uint8 files are scaled as the training data.
  np.save(tmp_path / 'u8.npy', np.full((2, 28, 28, 1), 255, np.uint8))
  np.testing.assert_array_equal(tool_io.load_images(str(tmp_path / 'u8.npy'), 2, gan).images, 1.0)
  held = tool_io.load_images('held_out', 20, gan)
  assert len(set(held.labels.tolist())) >= 8  # the fixed shuffled order mixes the classes


def test_cli_refuses_bad_input_and_writes_nothing(tiny_dcgan_run, tmp_path):
  wrong_shape = tmp_path / 'wrong_shape.npy'
  np.save(wrong_shape, np.zeros((3, 32, 32, 1), np.float32))
  untrained = tmp_path / 'untrained'
  untrained.mkdir()
  (untrained / 'config.json').write_text(open(os.path.join(tiny_dcgan_run, 'config.json')).read())
  cases = {
      (f'--workdir={tmp_path / "nothing"}',): 'holds no config.json',
      (f'--workdir={untrained}',): 'no ',
      (f'--workdir={tiny_dcgan_run}', f'--images={wrong_shape}'): 'must be (N, 28, 28, 1)',
      (f'--workdir={tiny_dcgan_run}', '--method=bigan'): "needs a BiGAN run",
      (f'--workdir={tiny_dcgan_run}', '--method=optimise'): "did you mean 'optimize'",
  }
  for args, message in cases.items():
    out = tmp_path / 'out'
    proc = _invert(*args, f'--out={out}')
    assert proc.returncode == 1, (args, proc.stderr[-1500:])
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, (args, last)
    assert not out.exists(), args
  assert not (untrained / 'checkpoints').exists()  # the probe did not create it
