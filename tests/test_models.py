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


def _rel(a, b):
  return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.mark.parametrize('name,shape,impl', [
    ('dcgan_mnist', (28, 28, 1), 'subpixel'), ('dcgan64', (64, 64, 3), 'subpixel'),
    ('dcgan64', (64, 64, 3), 'xla')])
def test_bfloat16_compute_keeps_the_function_to_bfloat16_precision(name, shape, impl):
  """model.dtype='bfloat16': same float32 params, outputs and gradients within bf16 error.

  bfloat16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.2%). The
  outputs must agree with float32 to a few percent. G's gradients come back
  through D and BatchNorm's backward pass (differences of means, which lose
  relative precision), measured up to ~13% off (cosine 0.983, dcgan64) but pointing the
  same way; a wrong cast or a dropped layer would be far off.
  """
  cfg32 = _cfg(name, width=8)
  cfg32.conv_transpose_impl = impl
  cfg16 = ml_collections.ConfigDict(dict(cfg32, dtype='bfloat16'))
  (g32, d32), (g16, d16) = (models.create_models(c, shape) for c in (cfg32, cfg16))
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 100))
  g_vars = g32.init(jax.random.PRNGKey(1), z)
  assert jax.tree.map(lambda a: a.dtype, g_vars) == jax.tree.map(
      lambda a: a.dtype, g16.init(jax.random.PRNGKey(1), z))  # float32 params in both
  x = g32.apply(g_vars, z, mutable=['batch_stats'])[0]
  d_vars = d32.init(jax.random.PRNGKey(2), x)

  def loss(g_params, d_params, g, d):
    fake, _ = g.apply({**g_vars, 'params': g_params}, z, mutable=['batch_stats'])
    logits, _ = d.apply({**d_vars, 'params': d_params}, fake, mutable=['batch_stats'])
    return jnp.mean(jax.nn.softplus(-logits)), (fake, logits)

  grad = jax.grad(loss, argnums=(0, 1), has_aux=True)
  (grads32, (x32, l32)), (grads16, (x16, l16)) = (
      grad(g_vars['params'], d_vars['params'], g, d) for g, d in ((g32, d32), (g16, d16)))
  assert x16.dtype == l16.dtype == jnp.float32
  assert _rel(x16, x32) < 0.03 and _rel(l16, l32) < 0.03
  for a, b in zip(jax.tree.leaves(grads16), jax.tree.leaves(grads32)):
    cosine = jnp.vdot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))
    assert a.dtype == jnp.float32 and _rel(a, b) < 0.3
    assert a.size == 1 or cosine > 0.97
  assert _rel(x16, x32) > 0  # the bf16 program really computed in lower precision


def test_bfloat16_is_refused_for_models_without_dtype_plumbing():
  from configs import toy2d  # pylint: disable=g-import-not-at-top
  from gan_jax import config_checks  # pylint: disable=g-import-not-at-top
  config = toy2d.get_config('tiny')
  config.model.dtype = 'bfloat16'
  with pytest.raises(config_checks.ConfigError, match=r"model.dtype='bfloat16'.*"
                     r"allowed: \['dcgan64', 'dcgan_mnist'\]"):
    config_checks.validate(config, num_devices=1)
  config.model.dtype = 'float16'
  with pytest.raises(config_checks.ConfigError, match='model.dtype'):
    config_checks.validate(config, num_devices=1)
