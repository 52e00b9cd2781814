"""Losses against hand-computed numpy values, and the primer's -log 4 identity."""

import jax
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
  for name in ('minimax', 'non_saturating', 'relativistic_average', 'relativistic_pairing'):
    d_loss, g_loss = losses.LOSSES[name](real, fake)
    assert np.isfinite(d_loss) and np.isfinite(g_loss)
    # -log sigmoid(-100) = 100 per term (relativistic: logit differences of 200,
    # twice for the average variant).
    expected = {'relativistic_average': 400.0, 'relativistic_pairing': 200.0}.get(name, 200.0)
    np.testing.assert_allclose(d_loss, expected,
                               rtol=1e-4)


def test_saturating_generator_gradient_vanishes_where_non_saturating_does_not():
  # The reason for the non-saturating loss: when D confidently rejects fakes
  # (logit -10) dL_G/dlogit is ~sigmoid(-10) for minimax but ~1 for NS.
  logit = jnp.array([-10.0])
  g_mm = jax.grad(lambda f: losses.minimax(jnp.zeros(1), f)[1])(logit)
  g_ns = jax.grad(lambda f: losses.non_saturating(jnp.zeros(1), f)[1])(logit)
  np.testing.assert_allclose(abs(g_mm[0]), _sigmoid(-10.0), rtol=1e-4)
  np.testing.assert_allclose(abs(g_ns[0]), 1 - _sigmoid(-10.0), rtol=1e-4)


def test_hinge_matches_numpy():
  d_loss, g_loss = losses.hinge(jnp.array(REAL), jnp.array(FAKE))
  # relu(1 - [2, -0.5, 0.3]) = [0, 1.5, 0.7]; relu(1 + [-1, 0.7, 1.5]) = [0, 1.7, 2.5].
  np.testing.assert_allclose(d_loss, (0 + 1.5 + 0.7) / 3 + (0 + 1.7 + 2.5) / 3, rtol=1e-6)
  np.testing.assert_allclose(g_loss, -(-1.0 + 0.7 + 1.5) / 3, rtol=1e-6)


def test_wasserstein_matches_numpy():
  d_loss, g_loss = losses.wasserstein(jnp.array(REAL), jnp.array(FAKE))
  # E D(G(z)) - E D(x) = 0.4 - 0.6.
  np.testing.assert_allclose(d_loss, 1.2 / 3 - 1.8 / 3, rtol=1e-6)
  np.testing.assert_allclose(g_loss, -1.2 / 3, rtol=1e-6)


def test_least_squares_matches_numpy():
  d_loss, g_loss = losses.least_squares(jnp.array(REAL), jnp.array(FAKE))
  # (D(x) - 1)^2 = [1, 2.25, 0.49]; D(G(z))^2 = [1, 0.49, 2.25]; (D(G(z)) - 1)^2 = [4, 0.09, 0.25].
  np.testing.assert_allclose(d_loss, 0.5 * 3.74 / 3 + 0.5 * 3.74 / 3, rtol=1e-6)
  np.testing.assert_allclose(g_loss, 0.5 * 4.34 / 3, rtol=1e-6)


def test_relativistic_average_matches_numpy():
  d_loss, g_loss = losses.relativistic_average(jnp.array(REAL), jnp.array(FAKE))
  r = REAL - FAKE.mean()  # each real against the average fake
  f = FAKE - REAL.mean()
  np.testing.assert_allclose(
      d_loss, -np.mean(np.log(_sigmoid(r))) - np.mean(np.log(1 - _sigmoid(f))), rtol=1e-6)
  np.testing.assert_allclose(
      g_loss, -np.mean(np.log(_sigmoid(f))) - np.mean(np.log(1 - _sigmoid(r))), rtol=1e-6)
  # G's loss depends on the real logits (which the alternating step must supply).
  grad_real = jax.grad(lambda x: losses.relativistic_average(x, jnp.array(FAKE))[1])(
      jnp.array(REAL))
  assert np.all(np.abs(grad_real) > 1e-3)


def test_relativistic_pairing_matches_hand_computed_pairs():
  d_loss, g_loss = losses.relativistic_pairing(jnp.array(REAL), jnp.array(FAKE))
  # Pair i: t_i = C(fake_i) - C(real_i) = -3.0, 1.2, 1.2; f(t) = -log sigmoid(-t).
  t = np.array([-3.0, 1.2, 1.2])
  np.testing.assert_allclose(d_loss, np.mean(-np.log(_sigmoid(-t))), rtol=1e-6)
  np.testing.assert_allclose(g_loss, np.mean(-np.log(_sigmoid(t))), rtol=1e-6)
  # Pairing by index, not by batch means: dL_D / dC(real_i) = -sigmoid(t_i) / B,
  # which only pair i enters (the average variant mixes every fake into each).
  grad_real = jax.grad(lambda x: losses.relativistic_pairing(x, jnp.array(FAKE))[0])(
      jnp.array(REAL))
  np.testing.assert_allclose(grad_real, -_sigmoid(t) / 3, rtol=1e-5)
  # Swapping the fakes' order changes the loss (a mean-based loss would not).
  assert abs(losses.relativistic_pairing(jnp.array(REAL), jnp.array(FAKE[::-1]))[0]
             - d_loss) > 1e-3


@pytest.mark.parametrize('name', ['minimax', 'non_saturating'])
def test_label_smoothing_is_cross_entropy_with_real_target_one_minus_s(name):
  s = 0.1
  d_loss, g_loss = losses.get_loss(name, label_smoothing=s)(jnp.array(REAL), jnp.array(FAKE))
  p_real, p_fake = _sigmoid(REAL), _sigmoid(FAKE)
  expected = (-np.mean((1 - s) * np.log(p_real) + s * np.log(1 - p_real))
              - np.mean(np.log(1 - p_fake)))
  np.testing.assert_allclose(d_loss, expected, rtol=1e-6)
  np.testing.assert_allclose(g_loss, losses.LOSSES[name](jnp.array(REAL), jnp.array(FAKE))[1])


def test_label_smoothing_of_least_squares_moves_the_real_target():
  d_loss, _ = losses.get_loss('least_squares', 0.2)(jnp.array(REAL), jnp.array(FAKE))
  np.testing.assert_allclose(
      d_loss, 0.5 * np.mean((REAL - 0.8)**2) + 0.5 * np.mean(FAKE**2), rtol=1e-6)


def test_label_smoothing_is_refused_for_losses_without_a_real_target():
  with pytest.raises(ValueError, match="train.loss='hinge'; allowed losses: "
                     r"\['least_squares', 'minimax', 'non_saturating'\]"):
    losses.get_loss('hinge', label_smoothing=0.1)
  assert losses.get_loss('hinge', 0.0) is losses.hinge


def test_every_loss_is_selectable_by_name():
  assert sorted(losses.LOSSES) == ['hinge', 'least_squares', 'minimax', 'non_saturating',
                                   'relativistic_average', 'relativistic_pairing',
                                   'wasserstein']


def test_unknown_loss_lists_valid_names():
  with pytest.raises(ValueError, match="train.loss='wgan'.*hinge.*minimax.*wasserstein"):
    losses.get_loss('wgan')
