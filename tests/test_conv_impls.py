"""Every conv formulation computes lax.conv_general_dilated, its gradients and nn.Conv."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax import lax

from gan_jax import models
from gan_jax.errors import ConfigError
from gan_jax.models.conv import CONV_IMPLS, Conv, conv2d, resolve_conv_impl

GEOMETRIES = [  # (H, W, kernel, stride, padding, C_in, C_out)
    (14, 14, 5, 2, 'SAME', 1, 4),             # MNIST D, input layer (k5 s2, 1 channel)
    (14, 14, 5, 2, 'SAME', 64, 8),            # MNIST D, second layer (C_in 64)
    (16, 16, 4, 2, ((1, 1), (1, 1)), 3, 4),   # DCGAN-64 D, input layer (PyTorch p=1)
    (8, 8, 4, 2, ((1, 1), (1, 1)), 64, 8),    # DCGAN-64 D, inner layer
    (9, 9, 3, 1, 'SAME', 5, 4),               # stride 1
    (11, 7, 4, 2, 'VALID', 3, 2),             # odd, rectangular, rows left over
    (13, 10, 3, 2, 'SAME', 2, 3),             # k % s != 0: space_to_depth refuses it
    (10, 9, 3, 3, ((2, 0), (1, 3)), 2, 3),    # stride 3, asymmetric explicit padding
    (9, 8, 4, 2, ((-1, 2), (2, -1)), 2, 3),   # negative padding crops, as lax does
]
# 'auto' is one of the others (test_auto_follows_the_cpu_measurements).
FORMULATIONS = [impl for impl in CONV_IMPLS if impl != 'auto']
DN = ('NHWC', 'HWIO', 'NHWC')


def _value_and_grads(impl, s, padding):
  """jit((x, kernel, g) -> (y, dL/dx, dL/dkernel)) for L = <g, y>; impl None = lax."""
  def conv(x, kernel):
    if impl is None:
      return lax.conv_general_dilated(x, kernel, (s, s), padding, dimension_numbers=DN)
    return conv2d(x, kernel, (s, s), padding, impl)

  def fn(x, kernel, cotangent):
    y, vjp = jax.vjp(conv, x, kernel)
    return (y, *vjp(cotangent))
  return jax.jit(fn)


def _check(h, w, k, s, padding, c_in, c_out, dtype, tol):
  # numpy draws: jax.random would compile a sampler per shape.
  rng = np.random.default_rng(h * w + k)
  x = rng.normal(size=(2, h, w, c_in)).astype(dtype)
  kernel = rng.normal(size=(k, k, c_in, c_out)).astype(dtype)
  out = jax.eval_shape(lambda x, w: lax.conv_general_dilated(
      x, w, (s, s), padding, dimension_numbers=DN), x, kernel)
  cotangent = rng.normal(size=out.shape).astype(dtype)
  expected = _value_and_grads(None, s, padding)(x, kernel, cotangent)
  for impl in FORMULATIONS:
    if impl == 'space_to_depth' and k % s:
      continue  # its error: test_space_to_depth_refuses_kernels_not_divisible_by_the_stride
    got = _value_and_grads(impl, s, padding)(x, kernel, cotangent)
    for name, a, b in zip(('output', 'input grad', 'kernel grad'), got, expected):
      assert a.shape == b.shape and a.dtype == b.dtype, (impl, name)
      # Relative to the largest entry: sums of up to k^2 C_in (or B H_o W_o) terms.
      np.testing.assert_allclose(a, b, atol=tol * float(jnp.abs(b).max()), rtol=0,
                                 err_msg=f'{impl}: {name}')


@pytest.mark.parametrize('h,w,k,s,padding,c_in,c_out', GEOMETRIES)
def test_output_and_gradients_match_lax_in_float32(h, w, k, s, padding, c_in, c_out):
  _check(h, w, k, s, padding, c_in, c_out, np.float32, 1e-5)


@pytest.mark.parametrize('h,w,k,s,padding,c_in,c_out', [GEOMETRIES[i] for i in (2, 7, 8)])
def test_output_and_gradients_match_lax_in_float64(h, w, k, s, padding, c_in, c_out):
  # Exact reformulations agree to float64 rounding, far below any
  # float32-sized slip (a wrong tap or a transposed kernel is O(1) off).
  with jax.enable_x64(True):
    _check(h, w, k, s, padding, c_in, c_out, np.float64, 1e-12)


def test_space_to_depth_refuses_kernels_not_divisible_by_the_stride():
  x, kernel = jnp.zeros((1, 28, 28, 1)), jnp.zeros((5, 5, 1, 4))
  with pytest.raises(ValueError, match=r"conv_impl='space_to_depth' needs kernel sizes "
                     r'divisible by the strides, got kernel \(5, 5\) and strides \(2, 2\)'):
    conv2d(x, kernel, (2, 2), 'SAME', 'space_to_depth')
  with pytest.raises(ValueError, match='space_to_depth'):
    resolve_conv_impl('space_to_depth', (5, 5), (2, 2), 1)


def test_bad_impl_lists_the_allowed_ones():
  with pytest.raises(ValueError, match=r"^model.conv_impl='im2col'; allowed: \('auto', 'xla', "
                     r"'patches', 'space_to_depth', 'patches_vjp'\)$"):
    conv2d(jnp.zeros((1, 8, 8, 1)), jnp.zeros((3, 3, 1, 1)), (1, 1), 'SAME', 'im2col')
  with pytest.raises(ConfigError, match=r"model.conv_impl='patch' is not allowed "
                     r"\(did you mean 'patches'\?\)"):
    models.validate_config(_model_cfg('dcgan64', conv_impl='patch'))
  with pytest.raises(ConfigError, match="'space_to_depth'.*'dcgan_mnist' has k5 s2"):
    models.validate_config(_model_cfg('dcgan_mnist', conv_impl='space_to_depth'))


def test_auto_follows_the_cpu_measurements():
  # resolve_conv_impl's table: the weight gradient as one matmul wins on large
  # inputs (DCGAN-64's first layer, ~4x), im2col on tiny ones (its last).
  assert jax.default_backend() == 'cpu'
  assert resolve_conv_impl('auto', (4, 4), (2, 2), 3, (64, 64)) == 'patches_vjp'
  assert resolve_conv_impl('auto', (4, 4), (2, 2), 64, (32, 32)) == 'xla'
  assert resolve_conv_impl('auto', (4, 4), (2, 2), 128, (16, 16)) == 'xla'
  assert resolve_conv_impl('auto', (4, 4), (2, 2), 256, (8, 8)) == 'patches'
  assert resolve_conv_impl('auto', (5, 5), (2, 2), 1, (28, 28)) == 'xla'
  assert resolve_conv_impl('auto', (5, 5), (2, 2), 64, (14, 14)) == 'xla'
  assert resolve_conv_impl('auto', (3, 3), (1, 1), 1, (64, 64)) == 'xla'  # stride 1
  assert resolve_conv_impl('auto', (4, 4), (2, 2), 3) == 'xla'  # size unknown
  assert resolve_conv_impl('xla', (4, 4), (2, 2), 3, (64, 64)) == 'xla'


@pytest.mark.parametrize('k,s,padding,use_bias', [
    (5, 2, 'SAME', True), (4, 2, ((1, 1), (1, 1)), False)])
def test_module_is_a_drop_in_for_nn_conv(k, s, padding, use_bias):
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 12, 10, 3)), jnp.float32)
  kwargs = dict(features=5, kernel_size=(k, k), strides=(s, s), padding=padding,
                use_bias=use_bias, bias_init=nn.initializers.normal(1.0))
  reference = nn.Conv(**kwargs)
  params = jax.jit(reference.init)(jax.random.PRNGKey(1), x)
  y_ref = jax.jit(reference.apply)(params, x)
  # Same tree, shapes and initial values: checkpoints load either way.
  mine = jax.jit(Conv(**kwargs).init)(jax.random.PRNGKey(1), x)
  assert jax.tree.map(jnp.shape, mine) == jax.tree.map(jnp.shape, params)
  jax.tree.map(np.testing.assert_array_equal, mine, params)
  for impl in CONV_IMPLS:
    if impl == 'space_to_depth' and k % s:
      continue
    np.testing.assert_allclose(jax.jit(Conv(**kwargs, impl=impl).apply)(params, x), y_ref,
                               atol=1e-5, err_msg=impl)


def test_module_dtype_casts_like_flax():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 16, 16, 3)), jnp.float32)
  kwargs = dict(features=4, kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                dtype=jnp.bfloat16)
  rng = np.random.default_rng(1)
  params = jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape), a.dtype),
                        jax.eval_shape(nn.Conv(**kwargs).init, jax.random.PRNGKey(1), x))
  assert jax.tree.leaves(params)[0].dtype == jnp.float32  # params stay float32
  y_ref = jax.jit(nn.Conv(**kwargs).apply)(params, x)
  for impl in CONV_IMPLS:
    y = jax.jit(Conv(**kwargs, impl=impl).apply)(params, x)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.float32(y), np.float32(y_ref), atol=0.05, rtol=0.02)


def test_patches_vjp_second_derivatives_match_xla():
  # Gradient penalties differentiate dD/dx wrt the params: reverse over
  # reverse through the custom VJP must give XLA's numbers.
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 16, 16, 3)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 4, 3, 4)), jnp.float32)

  @functools.partial(jax.jit, static_argnums=0)
  def penalty(impl, kernel):
    def input_grad_norm(kernel):
      d = lambda x: jnp.sum(jnp.tanh(conv2d(x, kernel, (2, 2), ((1, 1), (1, 1)), impl)))
      return jnp.sum(jax.grad(d)(x) ** 2)
    return jax.grad(input_grad_norm)(kernel)
  np.testing.assert_allclose(penalty('patches_vjp', kernel), penalty('xla', kernel),
                             rtol=1e-4, atol=1e-4)


def _model_cfg(name, **overrides):
  fields = dict(name=name, z_dim=100, g_width=4, d_width=4, conv_transpose_impl='auto',
                d_spectral_norm=False, pack=1, g_hidden=(8,), d_hidden=(8,),
                output_activation='tanh')
  return ml_collections.ConfigDict({**fields, **overrides})


@pytest.mark.parametrize('name,shape,spectral_norm', [
    ('dcgan_mnist', (28, 28, 1), False), ('dcgan64', (64, 64, 3), True)])
def test_discriminator_logits_equal_for_every_impl(name, shape, spectral_norm):
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, *shape)), jnp.float32)
  _, reference = models.create_models(
      _model_cfg(name, d_spectral_norm=spectral_norm, conv_impl='xla'), shape)
  # Random values in init's tree (compiling flax's init takes ~10 s here);
  # positive leaves keep BatchNorm's variances valid.
  rng = np.random.default_rng(1)
  variables = jax.tree.map(lambda a: jnp.asarray(np.abs(rng.normal(size=a.shape)) * 0.1, a.dtype),
                           jax.eval_shape(reference.init, jax.random.PRNGKey(1), x))

  def logits(disc):
    # Training mode: BatchNorm on batch statistics, spectral norm's u updated.
    return jax.jit(lambda v, x: disc.apply(v, x, mutable=['batch_stats']))(variables, x)
  expected = logits(reference)
  for impl in CONV_IMPLS:
    if impl == 'space_to_depth' and name == 'dcgan_mnist':
      continue  # k5 s2
    _, disc = models.create_models(
        _model_cfg(name, d_spectral_norm=spectral_norm, conv_impl=impl), shape)
    assert disc.conv_impl == impl
    got = logits(disc)
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
      np.testing.assert_allclose(a, b, atol=1e-5 * (1 + float(jnp.abs(b).max())),
                                 err_msg=impl)
