"""Update rules, optimizers, TTUR, EMA and norms against their formulas.

With SGD every update is an exact linear function of gradients, so each rule
is checked against the same gradients computed by hand with
``player_gradients`` (or ``jax.grad``) on the MLP GAN for 2-D points. The
last test runs the rules on 2 fake devices (pmap) in a subprocess.

Run directly (``python tests/test_update_rules.py``) it prints that check's
JSON: the largest difference between 2 devices and 1, relative to scale.
"""

import json
import os
import subprocess
import sys

if __name__ == '__main__':  # the 2-device check: devices are fixed before JAX starts
  os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import chex  # pylint: disable=g-import-not-at-top
import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import ml_collections  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import optax  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

from configs import toy2d  # pylint: disable=g-import-not-at-top
from gan_jax import modeling, optimizers, parallel, steps, train  # pylint: disable=g-import-not-at-top
from gan_jax.tasks import unconditional  # pylint: disable=g-import-not-at-top

SHAPE = (2,)
G_LR, D_LR = 0.05, 0.2  # different on purpose: each player's own rate (TTUR)
BATCH = 8


def _config(update='simultaneous', loss='non_saturating', **train_fields):
  config = toy2d.get_config('tiny')
  config.optim.name = 'sgd'
  config.optim.g_lr, config.optim.d_lr = G_LR, D_LR
  config.train.update_rule, config.train.loss = update, loss
  config.train.batch_size = BATCH
  for k, v in train_fields.items():
    config.train[k] = v
  return config


def _setup(config):
  game = train.create_game(config, SHAPE)
  return game, train.init_state(config, game, SHAPE)


def _real(step=0):
  return jax.random.normal(jax.random.PRNGKey(100 + step), (BATCH, *SHAPE))


def _inputs(game, state):
  """The z and penalty randomness the step itself draws (d_steps = 1)."""
  last = steps.step_key(state, 0)
  return (modeling.sample_latent(last, BATCH, game.task.z_dim, None),
          unconditional.penalty_rng(last))


def _field(game, state, params, real):
  """v = {player: dL_p/dp} at params, on the step's z and randomness."""
  at = state.replace(params=params)
  return steps.player_gradients(game, at, {'x': real}, steps.step_key(state, 0))[1]


def _sgd(params, grads):
  return {'generator': jax.tree.map(lambda p, g: p - G_LR * g, params['generator'],
                                    grads['generator']),
          'discriminator': jax.tree.map(lambda p, g: p - D_LR * g, params['discriminator'],
                                        grads['discriminator'])}


def _step(game, state, update, real):
  return jax.jit(steps.make_train_step(game, update))(state, {'x': real})


def _assert_params(state, expected, atol=2e-6):
  chex.assert_trees_all_close(state.params, expected, atol=atol)


def test_simultaneous_sgd_applies_each_players_own_rate_and_logs_norms():
  game, state = _setup(_config())
  new, metrics = _step(game, state, 'simultaneous', _real())
  x = state.params
  v = _field(game, state, x, _real())
  _assert_params(new, _sgd(x, v))
  for player, name, lr in [('g', 'generator', G_LR), ('d', 'discriminator', D_LR)]:
    grads = v[name]
    np.testing.assert_allclose(metrics[f'{player}_grad_norm'], optax.tree.norm(grads), rtol=1e-5)
    moved = optax.tree.norm(jax.tree.map(jnp.subtract, new.params[name], state.params[name]))
    np.testing.assert_allclose(metrics[f'{player}_update_norm'], moved, rtol=1e-5)
    # SGD: the update is lr times the gradient.
    np.testing.assert_allclose(metrics[f'{player}_update_norm'],
                               lr * metrics[f'{player}_grad_norm'], rtol=1e-4)


def test_extragradient_steps_from_x_with_the_gradient_at_the_look_ahead_point():
  game, state = _setup(_config('extragradient'))
  new, _ = _step(game, state, 'extragradient', _real())
  x = state.params
  half = _sgd(x, _field(game, state, x, _real()))
  _assert_params(new, _sgd(x, _field(game, state, half, _real())))
  # Not the simultaneous step.
  assert not np.allclose(
      new.params['discriminator']['Dense_0']['kernel'],
      _sgd(x, _field(game, state, x, _real()))['discriminator']['Dense_0']['kernel'])


def test_optimistic_sgd_is_ogda():
  game, state = _setup(_config('optimistic'))
  one, _ = _step(game, state, 'optimistic', _real(0))
  two, _ = _step(game, one, 'optimistic', _real(1))
  x0 = state.params
  v0 = _field(game, state, x0, _real(0))
  x1 = _sgd(x0, v0)  # the first step has no previous one: plain SGD
  _assert_params(one, x1)
  v1 = _field(game, one, x1, _real(1))
  # x2 = x1 - lr (2 v1 - v0)
  _assert_params(two, _sgd(x1, jax.tree.map(lambda a, b: 2 * a - b, v1, v0)))


def test_optimistic_rule_refuses_optimizers_without_optimism():
  game, state = _setup(_config('simultaneous'))  # create_game adds no optimism
  with pytest.raises(ValueError, match="update_rule='optimistic' needs the previous update"):
    _step(game, state, 'optimistic', _real())


def test_consensus_adds_gamma_times_the_gradient_of_half_the_squared_field():
  gamma = 0.5
  game, state = _setup(_config('consensus', consensus_gamma=gamma))
  new, metrics = _step(game, state, 'consensus', _real())
  x = state.params
  half_sq = lambda x: 0.5 * optax.tree.norm(_field(game, state, x, _real())) ** 2
  v, grad_l = _field(game, state, x, _real()), jax.grad(half_sq)(x)
  _assert_params(new, _sgd(x, jax.tree.map(lambda a, b: a + gamma * b, v, grad_l)))
  np.testing.assert_allclose(metrics['consensus_loss'], half_sq(x), rtol=1e-5)


def test_alternating_g_step_reads_real_logits_of_the_updated_discriminator():
  # The relativistic G loss needs D(x): the G step must use D(x) under the
  # updated D (a zero stand-in for it, as before, gives a different step).
  game, state = _setup(_config('alternating', loss='relativistic_average'))
  new, _ = _step(game, state, 'alternating', _real())
  z, rng = _inputs(game, state)
  task = game.task
  g0, d0 = state.params['generator'], state.params['discriminator']
  fake = task.generator.apply({'params': g0}, z)
  d_grads = jax.grad(lambda d: task.d_losses(d, {}, _real(), fake, rng)[0][0])(d0)
  d1 = jax.tree.map(lambda p, g: p - D_LR * g, d0, d_grads)

  def g_loss(g, real_logits=None):
    fake_logits = task.discriminator.apply({'params': d1}, task.generator.apply({'params': g}, z))
    if real_logits is None:
      real_logits = task.discriminator.apply({'params': d1}, _real())
    return task.loss_fn(real_logits, fake_logits)[1]

  _assert_params(new, _sgd({'generator': g0, 'discriminator': d0},
                           {'generator': jax.grad(g_loss)(g0), 'discriminator': d_grads}))
  stale = jax.grad(lambda g: g_loss(g, jnp.zeros(BATCH)))(g0)
  assert not np.allclose(new.params['generator']['Dense_0']['kernel'],
                         g0['Dense_0']['kernel'] - G_LR * stale['Dense_0']['kernel'], atol=1e-6)


def test_generator_ema_follows_its_recursion_and_feeds_the_sampler():
  decay = 0.9
  game, state = _setup(_config(g_ema_decay=decay))
  ema = state.params['generator']
  for t in range(3):
    state, _ = _step(game, state, 'simultaneous', _real(t))
    ema = jax.tree.map(lambda e, g: decay * e + (1 - decay) * g, ema,
                       state.params['generator'])
  chex.assert_trees_all_close(state.ema_params['generator'], ema, atol=1e-6)
  z = jax.random.normal(jax.random.PRNGKey(0), (5, game.task.z_dim))
  np.testing.assert_allclose(train.make_sampler(game)(state, {'z': z}),
                             game.task.generator.apply({'params': ema}, z), atol=1e-6)
  assert not np.allclose(
      train.make_sampler(game)(state, {'z': z}),
      game.task.generator.apply({'params': state.params['generator']}, z), atol=1e-4)


def test_ema_off_tracks_the_generator_exactly():
  game, state = _setup(_config(g_ema_decay=0.0))
  for t in range(2):
    state, _ = _step(game, state, 'simultaneous', _real(t))
  chex.assert_trees_all_equal(state.ema_params['generator'], state.params['generator'])


def test_optimizer_registry_and_optimism_transform():
  cfg = ml_collections.ConfigDict(dict(name='sgd', b1=0.5, b2=0.999))
  tx = optimizers.create_optimizer(cfg, 0.1)
  updates, _ = tx.update({'w': jnp.array([1.0, -2.0])}, tx.init({'w': jnp.zeros(2)}))
  np.testing.assert_allclose(updates['w'], [-0.1, 0.2])
  cfg.name = 'rmsprop'
  with pytest.raises(ValueError, match=r"optim.name='rmsprop'.*\['adam', 'sgd'\]"):
    optimizers.create_optimizer(cfg, 0.1)

  # The optimism the 'optimistic' rule chains after each player's optimizer
  # (optax.identity() as the base, so the transform sees the updates as given).
  opt = steps.player_optimizer('optimistic', optax.identity())
  state = opt.init(jnp.zeros(2))
  u1, state = opt.update(jnp.array([1.0, 2.0]), state)
  u2, state = opt.update(jnp.array([3.0, -1.0]), state)
  np.testing.assert_allclose(u1, [1.0, 2.0])  # passed through
  np.testing.assert_allclose(u2, [5.0, -4.0])  # 2 u_2 - u_1


# The parts compared, by their names in the report: (state field, player).
PARTS = {'g_params': ('params', 'generator'), 'd_params': ('params', 'discriminator'),
         'g_ema_params': ('ema_params', 'generator'),
         'd_state': ('model_state', 'discriminator'),
         'g_opt_state': ('opt_state', 'generator'),
         'd_opt_state': ('opt_state', 'discriminator')}


def _relative_errors(a, b) -> dict[str, float]:
  out = {}
  for part, (field, player) in PARTS.items():
    errors = [float(np.abs(np.asarray(x) - np.asarray(y)).max()
                    / max(float(np.abs(np.asarray(y)).max()), 1e-12))
              for x, y in zip(jax.tree.leaves(getattr(a, field)[player]),
                              jax.tree.leaves(getattr(b, field)[player]), strict=True)]
    out[part] = max(errors, default=0.0)
  return out


def _two_device_check() -> dict[str, dict[str, float]]:
  """Rules with cross-device subtleties, on 2 devices vs 1.

  consensus averages J^T v over devices outside the differentiated field;
  WGAN-GP's interpolation weights are sliced per device like z; spectral
  norm's state and the EMA ride along. (simultaneous and alternating are
  checked on 8 devices by test_parallel.py; extragradient and optimistic are
  compositions of the simultaneous step's averaged gradients.)
  """
  assert jax.device_count() == 2, jax.devices()
  results = {}
  real = np.asarray(_real())
  for update in ('consensus',):
    config = _config(update, regularizers=('gradient_penalty',), g_ema_decay=0.5)
    config.optim.name = 'adam'
    config.model.d_spectral_norm = True
    game, state0 = _setup(config)
    one, _ = jax.jit(steps.make_train_step(game, update))(state0, {'x': real})
    par = parallel.Parallel('pmap')
    p_game = train.create_game(config, SHAPE, axis_name=par.axis_name)
    p_step = par.compile(steps.make_train_step(p_game, update))
    new, _ = p_step(par.put_state(jax.tree.map(np.array, state0)),
                    par.put_batch({'x': real}))
    results[update] = _relative_errors(par.get_state(jax.block_until_ready(new)), one)
  return results


def test_rules_with_penalties_on_two_devices_match_one():
  env = dict(os.environ)
  env.pop('JAX_PLATFORMS', None)
  out = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True,
                       text=True, timeout=600, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert out.returncode == 0, out.stderr[-3000:]
  results = json.loads(out.stdout.strip().splitlines()[-1])
  assert set(results) == {'consensus'}
  for update, errors in results.items():
    assert max(errors.values()) < 1e-4, (update, errors)


if __name__ == '__main__':
  print(json.dumps(_two_device_check()))
