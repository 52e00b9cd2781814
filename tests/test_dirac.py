"""The Dirac-GAN (Mescheder et al. 2018): every update rule against closed form.

Near the equilibrium (0, 0) the game's gradient v = (dL_G/dtheta, dL_D/dpsi)
is A z with z = (theta, psi), A = [[0, -1/2], [1/2, gamma]] (gamma: R1's
weight), because sigmoid(0) = 1/2. So each rule with SGD step h is a known
linear map, whose spectral radius says whether the distance grows (> 1),
stays (= 1) or shrinks (< 1). Away from (0, 0), simultaneous descent has an
exact law: |z'|^2 = |z|^2 (1 + h^2 sigmoid(psi theta)^2), since the
continuous flow conserves |z|.
"""

import functools

import jax
import numpy as np
import pytest

from configs import dirac as dirac_config
from gan_jax import steps, train
from gan_jax.models import dirac

H = 0.1
NUM_STEPS = 300
NEAR = (1e-2, 1e-2)  # close enough to (0, 0) that the linearisation holds to ~1e-4


@functools.lru_cache(maxsize=None)
def _trajectory(variant: str, init=(1.0, 1.0), num_steps: int = NUM_STEPS) -> np.ndarray:
  config = dirac_config.get_config(variant)
  config.model.dirac_init = init
  game = train.create_game(config, dirac.SAMPLE_SHAPE)
  state = train.init_state(config, game, dirac.SAMPLE_SHAPE)
  step = steps.make_train_step(game, config.train.update_rule, config.train.d_steps)
  points, _ = dirac.trajectory(step, state, num_steps)
  return points


def _radius(points):
  return np.linalg.norm(points, axis=1)


def _a(gamma=0.0):
  return np.array([[0.0, -0.5], [0.5, gamma]])


def _linear_map(rule: str, gamma: float = 0.0, consensus_gamma: float = 1.0) -> np.ndarray:
  """One step of ``rule`` on the linearised game, as a matrix on z (or (z_t, z_{t-1}))."""
  a, i = _a(gamma), np.eye(2)
  if rule == 'simultaneous':
    return i - H * a
  if rule == 'alternating':  # psi first, then theta with the new psi
    d_step = np.array([[1.0, 0.0], [-H / 2, 1 - H * gamma]])
    g_step = np.array([[1.0, H / 2], [0.0, 1.0]])
    return g_step @ d_step
  if rule == 'extragradient':
    return i - H * a @ (i - H * a)
  if rule == 'optimistic':  # z_{t+1} = z_t - h (2 A z_t - A z_{t-1})
    return np.block([[i - 2 * H * a, H * a], [i, np.zeros((2, 2))]])
  if rule == 'consensus':  # v + c grad 1/2 |v|^2 = (A + c A^T A) z
    return i - H * (a + consensus_gamma * a.T @ a)
  raise ValueError(rule)


def _linear_trajectory(rule, z0, num_steps, gamma=0.0):
  m = _linear_map(rule, gamma)
  z0 = np.asarray(z0)
  if rule == 'optimistic':  # the first step has no previous update: plain SGD
    state = np.concatenate([(np.eye(2) - H * _a(gamma)) @ z0, z0])
    points = [z0, state[:2]]
    for _ in range(num_steps - 1):
      state = m @ state
      points.append(state[:2])
    return np.array(points)
  points = [z0]
  for _ in range(num_steps):
    points.append(m @ points[-1])
  return np.array(points)


def _spectral_radius(rule, gamma=0.0):
  return float(np.max(np.abs(np.linalg.eigvals(_linear_map(rule, gamma)))))


def _eigenvalues(r1_gamma: float) -> np.ndarray:
  config = dirac_config.get_config('r1' if r1_gamma else None)
  config.train.r1_gamma = r1_gamma
  config.model.dirac_init = (0.0, 0.0)
  game = train.create_game(config, dirac.SAMPLE_SHAPE)
  state = train.init_state(config, game, dirac.SAMPLE_SHAPE)
  # G ignores z: the key's z (drawn by the task) does not matter.
  real = np.zeros((1, 1), np.float32)
  return np.sort_complex(steps.field_eigenvalues(game, state, {'x': real}))


def test_jacobian_at_the_equilibrium_has_eigenvalues_plus_minus_half_i():
  np.testing.assert_allclose(_eigenvalues(0.0), [-0.5j, 0.5j], atol=1e-6)


def test_r1_moves_the_eigenvalues_into_the_left_half_plane():
  # lambda^2 + gamma lambda + 1/4 = 0.
  np.testing.assert_allclose(_eigenvalues(0.3),
                             [-0.15 - 0.5j * np.sqrt(0.91), -0.15 + 0.5j * np.sqrt(0.91)],
                             atol=1e-6)
  assert abs(np.sqrt(0.91) / 2 - 0.477) < 1e-3
  # gamma = 1: a double root at -1/2 (critical damping; a defective matrix,
  # so float32 eigenvalues are only ~sqrt(eps) accurate).
  np.testing.assert_allclose(_eigenvalues(1.0), [-0.5, -0.5], atol=1e-3)


def test_simultaneous_steps_spiral_outwards_by_the_exact_factor():
  points = _trajectory('simultaneous')
  r = _radius(points)
  theta, psi = points[:-1, 0], points[:-1, 1]
  sigma = 1 / (1 + np.exp(-psi * theta))
  # |z'| / |z| = sqrt(1 + h^2 sigmoid(psi theta)^2) > 1 at every step; it is
  # sqrt(1 + h^2 / 4) where psi theta = 0 (the linear test below checks the
  # rate at the equilibrium).
  np.testing.assert_allclose(r[1:] / r[:-1], np.sqrt(1 + H**2 * sigma**2), rtol=2e-6)
  assert np.all(np.diff(r) > 0)
  assert r[-1] > 1.25 * r[0], r[-1]


def test_alternating_steps_circle_without_converging():
  r = _radius(_trajectory('alternating'))
  # From (1, 1) the distance wobbles by O(h) (measured within 2.7%) but has
  # neither grown nor shrunk after 300 steps (~2 turns).
  assert np.all(np.abs(r / r[0] - 1) < 0.04), (r.min(), r.max())


@pytest.mark.parametrize('variant', ['extragradient', 'optimistic'])
def test_extragradient_and_optimistic_slowly_converge(variant):
  r = _radius(_trajectory(variant))
  # Spectral radius 1 - h^2/8 + O(h^4) = 0.99875 per step: 0.69 after 300.
  assert r[-1] < 0.75 * r[0], r[-1] / r[0]
  assert np.all(np.diff(r[5:]) < 0)  # and steadily, after optimism's first steps


@pytest.mark.parametrize('variant', ['consensus', 'simultaneous,r1', 'alternating,r1',
                                     'simultaneous,critical'])
def test_consensus_and_r1_converge(variant):
  r = _radius(_trajectory(variant))
  assert r[-1] < 0.05 * r[0], r[-1] / r[0]


def test_r1_critical_damping_does_not_oscillate():
  def sign_changes(variant):
    theta = _trajectory(variant)[:, 0]
    return int(np.sum(np.diff(np.sign(theta[np.abs(theta) > 1e-6])) != 0))
  # gamma = 0.3: Im(lambda) = 0.477, a turn every ~13 time units (130 steps):
  # theta changes sign at least 4 times in 300 steps. gamma = 1: never.
  assert sign_changes('simultaneous,r1') >= 4
  assert sign_changes('simultaneous,critical') == 0


@pytest.mark.parametrize('variant,gamma', [
    ('simultaneous', 0.0), ('alternating', 0.0), ('extragradient', 0.0),
    ('optimistic', 0.0), ('consensus', 0.0), ('simultaneous,r1', 0.3)])
def test_near_equilibrium_every_rule_is_its_linear_map(variant, gamma):
  rule = variant.split(',')[0]
  points = _trajectory(variant, init=NEAR)
  expected = _linear_trajectory(rule, NEAR, NUM_STEPS, gamma)
  scale = _radius(expected)[:, None]
  np.testing.assert_allclose(points / scale, expected / scale, atol=3e-4)
  # The per-step rate, fitted to log |z_t|, is the map's spectral radius.
  rate = np.exp(np.polyfit(np.arange(NUM_STEPS + 1), np.log(_radius(points)), 1)[0])
  np.testing.assert_allclose(rate, _spectral_radius(rule, gamma), atol=2e-4)


def test_closed_form_spectral_radii():
  # The formulas quoted in the docs, from the matrices the test above checks.
  np.testing.assert_allclose(_spectral_radius('simultaneous'), np.sqrt(1 + H**2 / 4))
  np.testing.assert_allclose(_spectral_radius('alternating'), 1.0)
  np.testing.assert_allclose(_spectral_radius('extragradient'),
                             np.sqrt(1 - H**2 / 4 + H**4 / 16))
  np.testing.assert_allclose(_spectral_radius('consensus'),
                             np.sqrt((1 - H / 4)**2 + H**2 / 4))
  np.testing.assert_allclose(_spectral_radius('simultaneous', 0.3),
                             np.sqrt(1 - 0.3 * H + 0.25 * H**2))
  assert _spectral_radius('optimistic') < 1


def test_dirac_config_variants_and_errors():
  config = dirac_config.get_config('consensus,r1')
  assert (config.train.update_rule, config.train.regularizers) == ('consensus', ('r1',))
  assert config.optim.name == 'sgd' and config.optim.g_lr == config.optim.d_lr == H
  with pytest.raises(ValueError, match="unknown variant 'adam'.*'simultaneous'"):
    dirac_config.get_config('adam')
  with pytest.raises(ValueError, match=r"needs samples of shape \(1,\)"):
    train.create_game(dirac_config.get_config(), (2,))


def test_dirac_state_step_is_a_plain_train_step():
  # The Dirac pair is trained by the ordinary jitted step, metrics included.
  config = dirac_config.get_config()
  game = train.create_game(config, dirac.SAMPLE_SHAPE)
  state = train.init_state(config, game, dirac.SAMPLE_SHAPE)
  new, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(
      state, {'x': np.zeros((1, 1), np.float32)})
  s = 1 / (1 + np.exp(-1.0))  # sigmoid(psi theta) at (1, 1)
  np.testing.assert_allclose(dirac.point(new), [1 + H * s, 1 - H * s], rtol=1e-6)
  np.testing.assert_allclose(metrics['g_grad_norm'], s, rtol=1e-6)
  np.testing.assert_allclose(metrics['g_update_norm'], H * s, rtol=1e-5)


@pytest.mark.parametrize('variant', ['simultaneous', 'r1'])
def test_the_trainer_runs_the_dirac_config_like_any_other(tmp_path, variant):
  # gan_jax.main's loop on data.name='point_mass' ends where the scanned
  # trajectory of the same step ends: outwards without R1, inwards with it.
  config = dirac_config.get_config(variant)
  config.train.num_steps = NUM_STEPS
  final = train.train_and_evaluate(config, str(tmp_path))
  expected = _trajectory(variant)[-1]
  np.testing.assert_allclose(dirac.point(final), expected, rtol=1e-4, atol=1e-6)
  grows = np.linalg.norm(expected) > np.sqrt(2)
  assert grows == (variant == 'simultaneous')
  assert (tmp_path / 'samples_final.png').exists()
