"""D's regularisers against hand-computed values: R1, R2, WGAN-GP, spectral norm, PacGAN.

Also the config validation of the game's swappable pieces.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dcgan, dirac as dirac_config
from gan_jax import config_checks, modeling, models, regularizers, steps, train
from gan_jax.models import dirac
from gan_jax.models.mlp import MLPDiscriminator

A = np.array([0.5, -1.0], np.float32)
W = np.array([0.3, 2.0], np.float32)
X = np.array([[1.0, 2.0], [-0.5, 0.1], [0.0, -1.0], [2.0, 0.5]], np.float32)
Y = np.array([[0.2, 0.2], [1.0, -1.0], [-2.0, 0.3], [0.7, 0.0]], np.float32)


class Quadratic(nn.Module):
  """D(x) = sum_i a_i x_i^2 + w_i x_i, so grad_x D = 2 a x + w."""

  @nn.compact
  def __call__(self, x, train=True):
    del train
    a = self.param('a', lambda *_: jnp.asarray(A))
    w = self.param('w', lambda *_: jnp.asarray(W))
    return jnp.sum(a * x**2 + w * x, axis=-1)


def _critic(discriminator, params, d_state=None):
  """D's logits x -> D(x) in training mode, as the task hands them to a penalty."""
  return lambda x: modeling.apply_model(discriminator, params, d_state or {}, x)[0]


def _params(discriminator, x):
  return discriminator.init(jax.random.PRNGKey(0), x)['params']


def _input_grad(x):
  return 2 * A * x + W


def test_r1_and_r2_are_half_the_mean_squared_input_gradient():
  d = Quadratic()
  critic = _critic(d, _params(d, X))
  r1 = regularizers.r1(critic, X, Y, None)
  r2 = regularizers.r2(critic, X, Y, None)
  np.testing.assert_allclose(r1, 0.5 * np.mean(np.sum(_input_grad(X)**2, 1)), rtol=1e-6)
  np.testing.assert_allclose(r2, 0.5 * np.mean(np.sum(_input_grad(Y)**2, 1)), rtol=1e-6)


def test_gradient_penalty_at_random_interpolates():
  d = Quadratic()
  critic = _critic(d, _params(d, X))
  rng = jax.random.PRNGKey(7)
  gp = regularizers.gradient_penalty(critic, X, Y, rng)
  eps = np.asarray(jax.random.uniform(rng, (4, 1)))
  assert 0 < eps.min() and eps.max() < 1 and np.ptp(eps) > 0.1  # one weight per sample
  x_hat = eps * X + (1 - eps) * Y
  norms = np.linalg.norm(_input_grad(x_hat), axis=1)
  np.testing.assert_allclose(gp, np.mean((norms - 1)**2), rtol=1e-5)


def test_penalties_enter_ds_gradient_with_their_weight():
  # Dirac-GAN: D(x) = psi x, so grad_x D = psi and R1 = gamma/2 psi^2:
  # dL_D/dpsi = theta sigmoid(psi theta) + gamma psi.
  theta, psi, gamma = 0.7, -1.3, 0.3
  config = dirac_config.get_config('r1')
  config.model.dirac_init = (theta, psi)
  game = train.create_game(config, dirac.SAMPLE_SHAPE)
  assert [(name, weight) for name, _, weight in game.task.penalties] == [('r1', 0.3)]
  state = train.init_state(config, game, dirac.SAMPLE_SHAPE)
  zeros = jnp.zeros((1, 1))
  # G(z) = theta whatever z the step's key draws.
  _, grads, (_, metrics) = steps.player_gradients(game, state, {'x': zeros},
                                                  steps.step_key(state))
  d_grads = grads['discriminator']
  sigma = 1 / (1 + np.exp(-psi * theta))
  np.testing.assert_allclose(d_grads['psi'], theta * sigma + gamma * psi, rtol=1e-6)
  np.testing.assert_allclose(metrics['r1_penalty'], gamma / 2 * psi**2, rtol=1e-6)


def test_create_penalties_reads_each_weight_from_its_field():
  t = dcgan.get_config().train
  t.regularizers = ('r2', 'gradient_penalty', 'r1')
  t.r1_gamma, t.r2_gamma, t.gp_lambda = 1.0, 2.0, 3.0
  assert [(n, w) for n, _, w in regularizers.create_penalties(t)] == [
      ('r2', 2.0), ('gradient_penalty', 3.0), ('r1', 1.0)]
  t.regularizers = ('r3',)
  with pytest.raises(ValueError, match=r"'r3' is not a known regulariser; allowed: "
                     r"\['gradient_penalty', 'r1', 'r2'\]"):
    regularizers.create_penalties(t)


def test_spectral_norm_estimates_the_top_singular_value_and_keeps_it_in_d_state():
  d = MLPDiscriminator(hidden=(8,), spectral_norm=True)
  x = jnp.ones((3, 5))
  variables = d.init(jax.random.PRNGKey(0), x, train=False)
  params, state = variables['params'], {'batch_stats': variables['batch_stats']}
  # The parameters are those of the plain MLP: checkpoints and optimizers do
  # not change shape with the option.
  plain = MLPDiscriminator(hidden=(8,)).init(jax.random.PRNGKey(0), x)['params']
  assert jax.tree.structure(params) == jax.tree.structure(plain)
  # Eval mode leaves the power-iteration state alone...
  _, same = modeling.apply_model(d, params, state, x, train=False)
  jax.tree.map(np.testing.assert_array_equal, same, state)
  # ...each training call takes one power-iteration step towards sigma_max.
  for _ in range(30):
    _, state = modeling.apply_model(d, params, state, x, train=True)
  kernel = np.asarray(params['Dense_0']['kernel'])
  sigma_max = np.linalg.svd(kernel, compute_uv=False)[0]
  sigma = float(state['batch_stats']['SpectralNorm_0']['Dense_0/kernel/sigma'])
  np.testing.assert_allclose(sigma, sigma_max, rtol=1e-3)
  # In use each kernel is W / sigma: D equals the plain MLP with those kernels.
  sigmas = {name: float(state['batch_stats'][f'SpectralNorm_{i}'][f'{name}/kernel/sigma'])
            for i, name in enumerate(('Dense_0', 'Dense_1'))}
  normalised = {name: {**layer, 'kernel': layer['kernel'] / sigmas[name]}
                for name, layer in params.items()}
  np.testing.assert_allclose(d.apply({'params': params, **state}, x, train=False),
                             MLPDiscriminator(hidden=(8,)).apply({'params': normalised}, x),
                             rtol=1e-5)


def test_dcgan_discriminator_with_spectral_norm_keeps_its_params_and_adds_state():
  cfg = dcgan.get_config('tiny').model
  cfg.d_spectral_norm = True
  _, d_sn = models.create_models(cfg, (28, 28, 1))
  cfg.d_spectral_norm = False
  _, d = models.create_models(cfg, (28, 28, 1))
  x = jnp.zeros((2, 28, 28, 1))
  with_sn = d_sn.init(jax.random.PRNGKey(0), x, train=False)
  without = d.init(jax.random.PRNGKey(0), x, train=False)
  assert jax.tree.structure(with_sn['params']) == jax.tree.structure(without['params'])
  sn_entries = [k for k in with_sn['batch_stats'] if k.startswith('SpectralNorm')]
  assert len(sn_entries) == 3  # two convs and the dense layer
  assert set(with_sn['batch_stats']) - set(sn_entries) == set(without['batch_stats'])


class Linear(nn.Module):
  @nn.compact
  def __call__(self, x, train=True):
    del train
    return nn.Dense(1, kernel_init=nn.initializers.normal(1.0))(x)[:, 0]


def test_pacgan_packs_consecutive_samples_along_the_last_axis():
  packed = models.Packed(Linear(), pack=2)
  x = jnp.asarray(np.arange(12, dtype=np.float32).reshape(6, 2))
  params = packed.init(jax.random.PRNGKey(0), x)['params']
  out = packed.apply({'params': params}, x)
  assert out.shape == (3,)
  concatenated = np.concatenate([x[0::2], x[1::2]], axis=1)  # (x0, x1), (x2, x3), ...
  np.testing.assert_allclose(out, Linear().apply({'params': params['inner']}, concatenated),
                             rtol=1e-6)
  # Images: packs concatenate channels, (B, H, W, C) -> (B / 2, H, W, 2C).
  images = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3, 3, 1)), jnp.float32)
  inner = models.Packed(lambda x, train: x, pack=2)
  np.testing.assert_array_equal(inner.apply({}, images),
                                np.concatenate([images[0::2], images[1::2]], axis=-1))
  # R1 with packs: one row per pack, |grad|^2 summed over the pack's samples.
  w = np.asarray(params['inner']['Dense_0']['kernel'])[:, 0]
  np.testing.assert_allclose(regularizers.r1(_critic(packed, params), x, x, None),
                             0.5 * np.sum(w**2), rtol=1e-6)


def test_pacgan_from_the_config_trains():
  config = dcgan.get_config('tiny')
  config.model.name = 'mlp'
  config.model.pack = 2
  game = train.create_game(config, (2,))
  state = train.init_state(config, game, (2,))
  new, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(
      state, {'x': jnp.ones((8, 2))})
  assert float(metrics['finite']) == 1.0 and int(new.step) == 1
  assert state.params['discriminator']['inner']['Dense_0']['kernel'].shape[0] == 4  # 2 samples x 2


@pytest.mark.parametrize('field,value,message', [
    ('train.regularizers', ('r1', 'r_2'), r"train.regularizers\[1\]='r_2' is not allowed "
     r"\(did you mean 'r2'\?\); allowed: 'gradient_penalty', 'r1', 'r2'"),
    ('train.label_smoothing', 0.1, "train.label_smoothing=0.1 needs a loss with a real "
     "target, but train.loss='hinge'"),
    ('train.g_ema_decay', 1.0, r'train.g_ema_decay=1.0; must be a number in \[0, 1\)'),
    ('train.r1_gamma', -1.0, r'train.r1_gamma=-1.0; must be a number in \[0, inf\)'),
    ('optim.name', 'sdg', "optim.name='sdg' is not allowed \\(did you mean 'sgd'\\?\\)"),
    ('train.loss', 'hinje', "train.loss='hinje' is not allowed \\(did you mean 'hinge'\\?\\)"),
    ('model.pack', 3, 'train.batch_size=8 does not split into packs of model.pack=3 on '
     'each of 1 devices; use a multiple of 3'),
])
def test_config_errors_name_the_field_and_the_allowed_values(field, value, message):
  config = dcgan.get_config('tiny')
  config.train.loss = 'hinge'
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(config_checks.ConfigError, match=message):
    config_checks.validate(config, num_devices=1)


def test_every_piece_of_the_default_and_variant_configs_validates():
  for config in (dcgan.get_config(), dcgan.get_config('wgan_gp,tiny'),
                 dirac_config.get_config('consensus,critical')):
    config_checks.validate(config, num_devices=1)
  assert dcgan.get_config('wgan_gp').train.regularizers == ('gradient_penalty',)
