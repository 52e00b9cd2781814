"""Semantic inpainting end to end: the search for z_hat, the baselines, the CLI.

- A tiny injective G: the search recovers the hole of G's own image from its
  known pixels alone (PSNR on the hole > 40 dB), known pixels untouched.
- The prior term is wired with its sign: with a D that prefers dark images
  and a large lambda, the fill is darker than with lambda = 0.
- The baselines: 'nearest' finds the truth when it is in the training set.
- ``python -m gan_jax.inpaint`` on a tiny trained run writes its outputs, and
  refuses bad masks and images with one line, exit 1 and nothing written.
"""

import json
import os
import re
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import inpainting, tool_io
from gan_jax.errors import DataError
from gan_jax.evaluation import image_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Z_DIM, SIDE = 3, 4


class TinyImageGenerator(nn.Module):
  """z (M, 3) -> (M, 4, 4, 1) images in (-1, 1)."""

  @nn.compact
  def __call__(self, z, train=False):
    del train
    x = jnp.tanh(nn.Dense(SIDE * SIDE, kernel_init=nn.initializers.normal(0.6))(z))
    return x.reshape(z.shape[0], SIDE, SIDE, 1)


def _tiny():
  module = TinyImageGenerator()
  variables = module.init(jax.random.PRNGKey(0), jnp.zeros((1, Z_DIM)))
  return lambda z: module.apply(variables, z)


def _centre_masks(n):
  masks = np.ones((n, SIDE, SIDE, 1), np.float32)
  masks[:, 1:3, 1:3] = 0.0
  return masks


def test_search_fills_the_hole_of_gs_own_image():
  generate = _tiny()
  z_true = 0.7 * np.asarray(jax.random.normal(jax.random.PRNGKey(1), (6, Z_DIM)))
  truth = np.asarray(generate(z_true))
  masks = _centre_masks(6)
  corrupted = np.where(masks > 0, truth, 0.0)  # the hole's values are unknown
  no_d = lambda x, z: jnp.zeros(x.shape[0])
  done = inpainting.semantic_inpaint(generate, no_d, Z_DIM, corrupted, masks,
                                     weighting='binary', prior_weight=0.0, restarts=4,
                                     steps=1500, learning_rate=0.02)
  psnr = np.asarray(image_metrics.psnr(done.pasted, truth, 1.0 - masks))
  print('PSNR on the hole:', psnr)
  assert psnr.min() > 40
  np.testing.assert_array_equal(done.pasted[masks > 0], corrupted[masks > 0])
  np.testing.assert_array_equal(done.blended[masks > 0], corrupted[masks > 0])
  # The blend of an exact fill is the fill (its gradients and boundary agree).
  np.testing.assert_allclose(done.blended, done.pasted, atol=5e-3)


def test_the_prior_term_pulls_towards_what_d_prefers():
  generate = _tiny()
  target = np.zeros((8, SIDE, SIDE, 1), np.float32)
  masks = _centre_masks(8)
  dark = lambda x, z: -10.0 * jnp.sum(x, axis=(1, 2, 3))  # D(x) high for dark x
  hole_mean = {}
  for weight in (0.0, 1.0):
    done = inpainting.semantic_inpaint(generate, dark, Z_DIM, target, masks,
                                       weighting='importance', window=3,
                                       prior_weight=weight, steps=300, learning_rate=0.05)
    hole_mean[weight] = float(np.mean(done.fill[masks == 0]))
  print('mean hole value for lambda 0 / 1:', hole_mean)
  assert hole_mean[1.0] < hole_mean[0.0] - 0.05  # measured: -0.13 against 0.00


def test_objective_by_hand():
  generate = _tiny()
  z = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (2, Z_DIM)))
  y = np.asarray(jax.random.uniform(jax.random.PRNGKey(3), (2, SIDE, SIDE, 1), minval=-1))
  w = np.asarray(jax.random.uniform(jax.random.PRNGKey(4), (2, SIDE, SIDE, 1)))
  logit = lambda x, z_: jnp.sum(x, axis=(1, 2, 3)) + z_[:, 0]
  loss = inpainting.inpainting_objective(generate, logit, 0.25)(z, {'image': y, 'weights': w})
  fake = np.asarray(generate(z))
  l = np.sum(fake, axis=(1, 2, 3)) + z[:, 0]
  hand = np.sum(np.abs(w * (fake - y)), axis=(1, 2, 3)) + 0.25 * np.log(1 - 1 / (1 + np.exp(-l)))
  np.testing.assert_allclose(loss, hand, rtol=1e-5)


def test_baselines():
  rng = np.random.default_rng(0)
  train = rng.uniform(-1, 1, (50, SIDE, SIDE, 1)).astype(np.float32)
  truth = train[[7, 31]]
  masks = _centre_masks(2)
  near = inpainting.baseline('nearest', np.where(masks > 0, truth, 0.0), masks, train)
  np.testing.assert_array_equal(near.pasted, truth)
  mean = inpainting.baseline('mean', truth, masks, train)
  np.testing.assert_allclose(mean.pasted[:, 1:3, 1:3], np.broadcast_to(
      train.mean(0)[1:3, 1:3], (2, 2, 2, 1)), rtol=1e-6)


def _inpaint(*args):
  return subprocess.run([sys.executable, '-m', 'gan_jax.inpaint', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


def test_cli_completes_held_out_digits(tiny_dcgan_run):
  proc = _inpaint(f'--workdir={tiny_dcgan_run}', '--num_images=4', '--steps=5', '--mask=left')
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = os.path.join(tiny_dcgan_run, 'inpainting', 'semantic_left_held_out')
  record = json.load(open(os.path.join(out, 'metrics.json')))
  arrays = np.load(os.path.join(out, 'inpainting.npz'))
  masks, truth = arrays['masks'], arrays['images']
  np.testing.assert_array_equal(arrays['blended'][masks[..., 0] > 0], truth[masks[..., 0] > 0])
  hole = 1 - masks
  mse = np.sum((arrays['blended'] - truth) ** 2 * hole, axis=(1, 2, 3)) / hole.sum(axis=(1, 2, 3))
  np.testing.assert_allclose(record['metrics']['psnr_hole_blended'],
                             np.mean(10 * np.log10(4 / mse)), rtol=1e-4)
  assert os.path.exists(os.path.join(out, 'inpainting.png'))


def test_bad_masks_are_refused_with_one_line(tmp_path):
  files = {'ones': np.ones((28, 28, 1)), 'zeros': np.zeros((28, 28)),
           'small': np.ones((14, 14, 1)), 'half': np.full((28, 28), 0.5),
           'few': np.ones((2, 28, 28, 1))}
  for name, array in files.items():
    np.save(tmp_path / f'{name}.npy', array.astype(np.float32))
  cases = {'ones': 'hides no pixel', 'zeros': 'hides every pixel', 'small': 'must be (28, 28)',
           'half': 'exactly 0 (missing) or 1', 'few': '(N >= 3, 28, 28, 1)'}
  for name, message in cases.items():
    with pytest.raises(DataError, match=re.escape(message)):
      tool_io.load_masks(str(tmp_path / f'{name}.npy'), 3, (28, 28, 1), 0)
  with pytest.raises(DataError, match='not one of'):
    tool_io.load_masks('centre', 3, (28, 28, 1), 0)
  # One (H, W) mask is used for every image.
  one = np.ones((28, 28), np.float32)
  one[:5] = 0
  np.save(tmp_path / 'one.npy', one)
  name, masks = tool_io.load_masks(str(tmp_path / 'one.npy'), 3, (28, 28, 1), 0)
  assert name == 'one' and masks.shape == (3, 28, 28, 1) and masks[:, :5].max() == 0


def test_cli_refuses_bad_input_and_writes_nothing(tiny_dcgan_run, tmp_path):
  np.save(tmp_path / 'ones.npy', np.ones((28, 28, 1), np.float32))
  cases = {
      (f'--mask={tmp_path / "ones.npy"}',): 'hides no pixel',
      ('--method=poisson',): 'allowed',
  }
  for args, message in cases.items():
    out = tmp_path / 'out'
    proc = _inpaint(f'--workdir={tiny_dcgan_run}', '--num_images=2', *args, f'--out={out}')
    assert proc.returncode == 1, (args, proc.stderr[-1500:])
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, (args, last)
    assert not out.exists(), args
