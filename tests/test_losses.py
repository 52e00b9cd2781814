"""Losses against hand-computed numpy values, and the primer's -log 4 identity."""

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses

REAL = np.array([2.0, -0.5, 0.3])
FAKE = np.array([-1.0, 0.7, 1.5])


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def test_minimax_matches_numpy():
  v = np.mean(np.log(_sigmoid(REAL))) + np.mean(np.log(1 - _sigmoid(FAKE)))
  d_loss, g_loss = losses.minimax(jnp.array(REAL), jnp.array(FAKE))
  np.testing.assert_allclose(d_loss, -v, rtol=1e-6)
  np.testing.assert_allclose(g_loss, np.mean(np.log(1 - _sigmoid(FAKE))), rtol=1e-6)


def test_non_saturating_matches_numpy():
  d_loss, g_loss = losses.non_saturating(jnp.array(REAL), jnp.array(FAKE))
  v = np.mean(np.log(_sigmoid(REAL))) + np.mean(np.log(1 - _sigmoid(FAKE)))
  np.testing.assert_allclose(d_loss, -v, rtol=1e-6)
  np.testing.assert_allclose(g_loss, -np.mean(np.log(_sigmoid(FAKE))), rtol=1e-6)


def test_optimal_discriminator_gives_minus_log_4_when_distributions_match():
  # D*(x) = p_data / (p_data + p_g) = 1/2 everywhere when p_g = p_data, i.e.
  # logit 0, and then V(D*, G) = log(1/2) + log(1/2) = -log 4.
  zeros = jnp.zeros(16)
  np.testing.assert_allclose(losses.value_function(zeros, zeros), -np.log(4.0), rtol=1e-6)
  # Any other D does worse for the maximiser: V < -log 4.
  assert losses.value_function(zeros + 0.3, zeros + 0.3) < -np.log(4.0)


def test_losses_stay_finite_for_extreme_logits():
  # log(sigmoid(-100)) underflows to -inf in float32; log-sigmoid does not.
  real, fake = jnp.array([-100.0]), jnp.array([100.0])
  for fn in losses.LOSSES.values():
    d_loss, g_loss = fn(real, fake)
    assert np.isfinite(d_loss) and np.isfinite(g_loss)
    np.testing.assert_allclose(d_loss, 200.0, rtol=1e-4)


def test_saturating_generator_gradient_vanishes_where_non_saturating_does_not():
  # The reason for the non-saturating loss: when D confidently rejects fakes
  # (logit -10) dL_G/dlogit is ~sigmoid(-10) for minimax but ~1 for NS.
  import jax
  logit = jnp.array([-10.0])
  g_mm = jax.grad(lambda f: losses.minimax(jnp.zeros(1), f)[1])(logit)
  g_ns = jax.grad(lambda f: losses.non_saturating(jnp.zeros(1), f)[1])(logit)
  np.testing.assert_allclose(abs(g_mm[0]), _sigmoid(-10.0), rtol=1e-4)
  np.testing.assert_allclose(abs(g_ns[0]), 1 - _sigmoid(-10.0), rtol=1e-4)


def test_unknown_loss_lists_valid_names():
  with pytest.raises(ValueError, match="train.loss='wgan'.*minimax.*non_saturating"):
    losses.get_loss('wgan')
