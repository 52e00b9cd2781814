"""The sub-pixel transposed convolution computes exactly nn.ConvTranspose."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.layers import ConvTranspose, resolve_conv_transpose_impl

CASES = [  # (H, W, kernel, stride, padding, C_in, C_out)
    (7, 7, 5, 2, 'SAME', 8, 4),      # MNIST DCGAN layers
    (7, 7, 5, 1, 'SAME', 8, 4),
    (14, 14, 5, 2, 'SAME', 4, 1),
    (4, 4, 4, 2, 'SAME', 8, 4),      # 64x64 DCGAN layers (= PyTorch p=1)
    (1, 1, 4, 1, 'VALID', 8, 4),
    (5, 6, 3, 2, 'VALID', 3, 2),     # odd sizes, rectangular input
    (6, 5, 3, 3, 'SAME', 3, 2),      # stride 3
    (5, 5, 2, 3, 'SAME', 3, 2),      # kernel smaller than stride
    (4, 4, 4, 2, ((3, 2), (1, 4)), 3, 5),  # explicit asymmetric padding
]


@pytest.mark.parametrize('h,w,k,s,padding,c_in,c_out', CASES)
def test_subpixel_matches_flax_conv_transpose(h, w, k, s, padding, c_in, c_out):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, h, w, c_in))
  reference = nn.ConvTranspose(c_out, (k, k), (s, s), padding=padding)
  params = reference.init(jax.random.PRNGKey(1), x)
  ours = ConvTranspose(c_out, (k, k), (s, s), padding=padding, impl='subpixel')
  # Same parameter tree: a checkpoint of one loads into the other.
  assert jax.tree.structure(ours.init(jax.random.PRNGKey(1), x)) == jax.tree.structure(params)

  y_ref, y = reference.apply(params, x), ours.apply(params, x)
  assert y.shape == y_ref.shape
  np.testing.assert_allclose(y, y_ref, atol=1e-5, rtol=1e-5)

  cotangent = jax.random.normal(jax.random.PRNGKey(2), y.shape)
  def loss(module):
    return lambda p, x: jnp.sum(module.apply(p, x) * cotangent)
  g_ref = jax.grad(loss(reference), argnums=(0, 1))(params, x)
  g = jax.grad(loss(ours), argnums=(0, 1))(params, x)
  for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_auto_picks_subpixel_for_strided_layers_on_cpu():
  assert jax.default_backend() == 'cpu'
  assert resolve_conv_transpose_impl('auto', (2, 2)) == 'subpixel'
  assert resolve_conv_transpose_impl('auto', (1, 1)) == 'xla'
  assert resolve_conv_transpose_impl('xla', (2, 2)) == 'xla'
  # On CPU an output layer of few channels is faster by XLA's own (layers.py).
  assert resolve_conv_transpose_impl('auto', (2, 2), 3) == 'xla'
  assert resolve_conv_transpose_impl('auto', (2, 2), 64) == 'subpixel'
  with pytest.raises(ValueError, match='conv_transpose_impl'):
    resolve_conv_transpose_impl('fast')
