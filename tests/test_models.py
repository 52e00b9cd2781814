"""Output shapes per geometry and exact parameter counts."""

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from gan_jax import models


def _cfg(name, width=64):
  return ml_collections.ConfigDict(dict(
      name=name, z_dim=100, g_width=width, d_width=width,
      conv_transpose_impl='auto', g_hidden=(32, 32), d_hidden=(32,),
      output_activation='none'))


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


@pytest.mark.parametrize('name,shape', [
    ('dcgan_mnist', (28, 28, 1)), ('dcgan64', (64, 64, 3)),
    ('dcgan64', (64, 64, 1)), ('mlp', (2,)), ('mlp', (28, 28, 1))])
def test_output_shapes(name, shape):
  gen, disc = models.create_models(_cfg(name, width=8), shape)
  z = jnp.zeros((3, 100))
  g_vars = gen.init(jax.random.PRNGKey(0), z, train=False)
  x = gen.apply(g_vars, z, train=False)
  assert x.shape == (3, *shape)
  d_vars = disc.init(jax.random.PRNGKey(1), x, train=False)
  assert disc.apply(d_vars, x, train=False).shape == (3,)


def test_dcgan64_matches_pytorch_example_parameter_counts():
  # Counts of the PyTorch DCGAN example (nz 100, ngf = ndf = 64, nc 3),
  # BatchNorm scales and offsets included, no conv biases.
  gen, disc = models.create_models(_cfg('dcgan64'), (64, 64, 3))
  g_params = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)['params']
  d_params = disc.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)),
                       train=False)['params']
  assert _count(g_params) == 3_576_704
  assert _count(d_params) == 2_765_568


def test_generator_output_in_tanh_range_and_dcgan_init_scale():
  gen, _ = models.create_models(_cfg('dcgan_mnist', 16), (28, 28, 1))
  variables = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)
  x = gen.apply(variables, jax.random.normal(jax.random.PRNGKey(1), (8, 100)),
                train=False)
  assert float(jnp.abs(x).max()) <= 1.0
  kernel = variables['params']['Dense_0']['kernel']
  assert abs(float(kernel.std()) - 0.02) < 0.002  # N(0, 0.02) init


def test_unknown_model_lists_valid_names():
  with pytest.raises(ValueError, match=r"model.name='resnet'.*dcgan64.*dcgan_mnist.*mlp"):
    models.create_models(_cfg('resnet'), (28, 28, 1))
