"""The PyTorch twins used by experiments/benchmark.py match the JAX nets exactly."""

import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import pytest

torch = pytest.importorskip('torch')  # an optional benchmark dependency
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'experiments'))
import bench_torch  # pylint: disable=g-import-not-at-top,wrong-import-position

from gan_jax import models  # pylint: disable=wrong-import-position


@pytest.mark.parametrize('net,name,shape', [('mnist', 'dcgan_mnist', (28, 28, 1)),
                                            ('dcgan64', 'dcgan64', (64, 64, 3))])
def test_same_parameter_counts_and_shapes(net, name, shape):
  cfg = ml_collections.ConfigDict(dict(name=name, z_dim=100, g_width=64, d_width=64,
                                       conv_transpose_impl='auto'))
  gen, disc = models.create_models(cfg, shape)
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  g_jax = count(gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)['params'])
  d_jax = count(disc.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape)), train=False)['params'])
  g, d, z_dim, chw = bench_torch.build(net, shape[-1])
  assert (bench_torch.param_count(g), bench_torch.param_count(d)) == (g_jax, d_jax)
  with torch.no_grad():
    x = g.eval()(torch.zeros(2, z_dim))
    assert tuple(x.shape) == (2, *chw)
    assert d.eval()(x).reshape(-1).shape == (2,)


@pytest.mark.parametrize('update', ['alternating', 'simultaneous'])
def test_step_moves_both_players(update):
  step = bench_torch.make_step('mnist', 4, update)
  before = [p.detach().clone() for m in step.modules for p in m.parameters()]
  step()
  after = [p.detach() for m in step.modules for p in m.parameters()]
  assert all(not torch.equal(a, b) for a, b in zip(before, after))
