"""The discrete gradient estimators against exact gradients on a 3-way categorical.

L(theta) = E_{x ~ softmax(theta)} f . e(x) for fixed f: its exact gradient is
d/dtheta sum_k softmax(theta)_k f_k. Each estimator's per-sample gradients
(vmapped over many Gumbel draws) are averaged and compared with it in units
of their standard error.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import estimators

THETA = jnp.array([0.5, -0.3, 0.1])
F = jnp.array([1.0, -2.0, 0.5])
N = 200_000


def exact_gradient():
  return np.asarray(jax.grad(lambda t: jnp.sum(jax.nn.softmax(t) * F))(THETA))


def gumbel_noise(n=N, seed=0):
  return jax.random.gumbel(jax.random.PRNGKey(seed), (n, 3))


def mean_and_se(per_sample):
  per_sample = np.asarray(per_sample, np.float64)
  return per_sample.mean(0), per_sample.std(0, ddof=1) / np.sqrt(len(per_sample))


def relaxed_gradients(estimator, tau):
  def one(g):
    return jax.grad(lambda t: jnp.sum(estimators.draw(t, g, tau, estimator)[1] * F))(THETA)
  return jax.vmap(one)(gumbel_noise())


def test_draws_are_one_hot_argmax_and_follow_softmax():
  g = gumbel_noise(50_000)
  for estimator in estimators.ESTIMATORS:
    tokens, y = estimators.draw(jnp.broadcast_to(THETA, g.shape), g, 0.5, estimator)
    np.testing.assert_array_equal(tokens, np.argmax(np.asarray(THETA + g), -1))
    if estimator != 'gumbel':  # straight-through's forward value is the hard sample
      np.testing.assert_array_equal(y, np.eye(3)[np.asarray(tokens)])
  freq = np.bincount(np.asarray(tokens), minlength=3) / len(tokens)
  p = np.asarray(jax.nn.softmax(THETA))
  np.testing.assert_array_less(np.abs(freq - p), 4 * np.sqrt(p * (1 - p) / len(tokens)))


def test_gumbel_softmax_forward_is_the_tempered_softmax():
  g = gumbel_noise(4)
  _, y = estimators.draw(jnp.broadcast_to(THETA, g.shape), g, 0.3, 'gumbel')
  z = np.exp((np.asarray(THETA) + np.asarray(g)) / 0.3)
  np.testing.assert_allclose(y, z / z.sum(-1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize('baseline', [0.0, 0.7])
def test_reinforce_is_unbiased_at_any_baseline(baseline):
  tokens = estimators.draw(jnp.broadcast_to(THETA, (N, 3)), gumbel_noise(), 1.0, 'reinforce')[0]

  def one(x):
    def surrogate(t):
      log_prob = jax.nn.log_softmax(t)[x][None]
      return estimators.reinforce_loss(log_prob, F[x][None], jnp.asarray(baseline))
    return -jax.grad(surrogate)(THETA)  # the surrogate's gradient is -dE f/dtheta
  mean, se = mean_and_se(jax.vmap(one)(tokens))
  np.testing.assert_array_less(np.abs(mean - exact_gradient()), 3 * se)


def test_gumbel_and_straight_through_bias_vanishes_as_tau_goes_to_zero():
  # For a loss linear in the sample both have the expected gradient
  # d/dtheta E f . softmax((theta + g) / tau): biased at tau = 1, unbiased
  # within the sampling error of 200,000 draws at tau = 0.1.
  exact = exact_gradient()
  for tau, biased in ((1.0, True), (0.1, False)):
    gumbel = np.asarray(relaxed_gradients('gumbel', tau))
    straight = np.asarray(relaxed_gradients('straight_through', tau))
    np.testing.assert_allclose(gumbel, straight, rtol=1e-5, atol=1e-6)
    mean, se = mean_and_se(gumbel)
    if biased:
      assert np.max(np.abs(mean - exact) / se) > 10, (mean, exact, se)
    else:
      np.testing.assert_array_less(np.abs(mean - exact), 3 * se)


def test_bgan_is_the_gradient_of_the_cross_entropy_to_its_target():
  # Weights w ~ D / (1 - D) = exp(T): the target p* ~ softmax(theta) exp(T).
  # With groups of M draws the mean gradient approaches
  # d/dtheta [-sum_x p*(x) log softmax(theta)_x] at fixed p* (O(1/M) bias).
  t_logit = jnp.array([0.3, -0.5, 1.0])
  groups, m = 200, 2000
  g = gumbel_noise(groups * m, seed=1)
  tokens = estimators.draw(jnp.broadcast_to(THETA, g.shape), g, 1.0, 'bgan')[0]

  def group_gradient(x):
    def surrogate(t):
      return estimators.bgan_loss(jax.nn.log_softmax(t)[x], t_logit[x], m)
    return jax.grad(surrogate)(THETA)
  mean, se = mean_and_se(jax.vmap(group_gradient)(tokens.reshape(groups, m)))
  target = jax.nn.softmax(THETA + t_logit)
  exact = jax.grad(lambda t: -jnp.sum(target * jax.nn.log_softmax(t)))(THETA)
  np.testing.assert_array_less(np.abs(mean - np.asarray(exact)), 3 * se + 1e-3)
  # The weights are a softmax within each group: one group of two samples.
  loss = estimators.bgan_loss(jnp.array([-1.0, -2.0]), jnp.array([0.0, np.log(3.0)]), 2)
  np.testing.assert_allclose(loss, -(0.25 * -1.0 + 0.75 * -2.0), rtol=1e-6)


def test_temperature_schedule():
  taus = [float(estimators.temperature(jnp.asarray(s), 1.0, 0.1, 100)) for s in (0, 50, 100, 500)]
  np.testing.assert_allclose(taus, [1.0, np.sqrt(0.1), 0.1, 0.1], rtol=1e-5)
  assert float(estimators.temperature(jnp.asarray(7.0), 1.0, 0.5, 0)) == 0.5
