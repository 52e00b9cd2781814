"""The train steps: gradient shapes, one-pass == separate gradients, the non-finite guard."""

import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from absl.testing import parameterized

from configs import toy2d
from gan_jax import losses, modeling, models, regularizers, state as state_lib, steps, train
from gan_jax.tasks import unconditional

Z_DIM = 8
SHAPE = (28, 28, 1)
R1 = ('r1', regularizers.r1, 1.0)
R2 = ('r2', regularizers.r2, 0.5)


def _game(loss='non_saturating', model='dcgan_mnist', lr=1e-3, update='simultaneous',
          penalties=(), spectral_norm=False):
  cfg = ml_collections.ConfigDict(dict(
      name=model, z_dim=Z_DIM, g_width=4, d_width=4, conv_transpose_impl='auto',
      g_hidden=(16,), d_hidden=(16,), output_activation='tanh',
      d_spectral_norm=spectral_norm))
  gen, disc = models.create_models(cfg, SHAPE)
  tx = steps.player_optimizer(update, optax.adam(lr, b1=0.5))
  task = unconditional.Unconditional(gen, disc, losses.get_loss(loss), Z_DIM,
                                     sample_key='image', penalties=penalties)
  return steps.Game(task, {'generator': tx, 'discriminator': tx})


def _state(game):
  return state_lib.create_state(jax.random.PRNGKey(0), game.task, game.txs,
                                {'image': jnp.zeros((1, *SHAPE))})


def _real(n=4, seed=1):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n, *SHAPE), minval=-1, maxval=1)


def _batch(real):
  return {'image': real}


def _assert_moved(old, new):
  moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), old, new)
  assert min(jax.tree.leaves(moved)) > 0, moved


class GradientShapesTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters('simultaneous', 'alternating')
  def test_step_updates_every_param_with_finite_grads(self, update):
    game = _game()
    state = _state(game)
    step = self.variant(steps.make_train_step(game, update))
    new, metrics = step(state, _batch(_real()))
    chex.assert_trees_all_equal_shapes(new.params['generator'], state.params['generator'])
    chex.assert_trees_all_equal_shapes(new.params['discriminator'],
                                       state.params['discriminator'])
    chex.assert_tree_all_finite((new.params['generator'], new.params['discriminator'],
                                 metrics))
    assert float(metrics['finite']) == 1.0
    assert int(new.step) == 1
    # Both players moved, in every parameter tensor (Adam's first step moves
    # each weight by ~lr wherever its gradient is non-zero).
    _assert_moved(state.params['generator'], new.params['generator'])
    _assert_moved(state.params['discriminator'], new.params['discriminator'])
    # BatchNorm running statistics were updated from the batch.
    assert not np.allclose(
        new.model_state['generator']['batch_stats']['BatchNorm_0']['mean'],
        state.model_state['generator']['batch_stats']['BatchNorm_0']['mean'])

  @chex.variants(with_jit=True, without_jit=True)
  def test_one_pass_gradients_equal_separate_grads(self):
    self._check_one_pass(_game(), self.variant)

  def test_one_pass_gradients_with_penalty_and_relativistic_loss(self):
    # R1 in D's loss (a gradient of an input gradient), and a G loss that
    # reads the real logits.
    self._check_one_pass(_game('relativistic_average', model='mlp', penalties=(R1,)),
                         jax.jit)

  def test_one_pass_gradients_of_rpgan_with_r1_and_r2(self):
    # R3GAN's game: pairs by batch index and a gradient penalty on each side.
    self._check_one_pass(_game('relativistic_pairing', model='mlp', penalties=(R1, R2)),
                         jax.jit)

  def _check_one_pass(self, game, variant):
    state = _state(game)
    real = _real()
    # The task draws z from the key it is given and its penalties' key from
    # fold_in(key, 1): the separate gradients below use the same ones.
    rng = jax.random.PRNGKey(3)
    z = modeling.sample_latent(rng, 4, Z_DIM, None)
    penalty_rng = unconditional.penalty_rng(rng)
    g_params, d_params = state.params['generator'], state.params['discriminator']

    def both_losses(g_params, d_params):
      fake, _ = modeling.apply_model(game.task.generator, g_params,
                                     state.model_state['generator'], z)
      return game.task.d_losses(d_params, state.model_state['discriminator'], real, fake,
                                penalty_rng)[0]

    g_sep = jax.jit(jax.grad(lambda g: both_losses(g, d_params)[1]))(g_params)
    d_sep = jax.jit(jax.grad(lambda d: both_losses(g_params, d)[0]))(d_params)
    fn = variant(functools.partial(steps.player_gradients, game))
    losses_, grads, (_, metrics) = fn(state, _batch(real), rng)
    d_loss, g_loss = losses_['discriminator'], losses_['generator']
    g_grads, d_grads = grads['generator'], grads['discriminator']
    assert all(float(metrics[f'{name}_penalty']) > 0 for name, _, _ in game.task.penalties)
    # Float32 summation order differs between the two programs: compare to
    # 1e-5 of each player's largest gradient (a relativistic loss gives D's
    # output bias a gradient that is exactly 0 in theory, ~1e-8 in float32).
    for ours, ref in [(g_grads, g_sep), (d_grads, d_sep)]:
      scale = max(float(jnp.abs(b).max()) for b in jax.tree.leaves(ref))
      for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)
    d_ref, g_ref = both_losses(g_params, d_params)
    np.testing.assert_allclose([d_loss, g_loss], [d_ref, g_ref], rtol=1e-6)


def test_simultaneous_step_applies_adam_to_the_one_pass_gradients():
  game = _game()
  state = _state(game)
  real = _real()
  new, _ = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, _batch(real))
  # The step's key: z = sample_latent(fold_in(fold_in(rng, step), 0), ...).
  _, grads, _ = steps.player_gradients(game, state, _batch(real), steps.step_key(state))
  # Both updates are taken at the same point (g, d): simultaneous descent.
  expected_g = optax.apply_updates(state.params['generator'], game.txs['generator'].update(
      grads['generator'], state.opt_state['generator'])[0])
  expected_d = optax.apply_updates(
      state.params['discriminator'], game.txs['discriminator'].update(
          grads['discriminator'], state.opt_state['discriminator'])[0])
  chex.assert_trees_all_close(new.params['generator'], expected_g, atol=1e-6)
  chex.assert_trees_all_close(new.params['discriminator'], expected_d, atol=1e-6)


def test_alternating_generator_step_sees_the_updated_discriminator():
  game = _game(model='mlp')
  state = _state(game)
  real = _real()
  new, _ = jax.jit(steps.make_train_step(game, 'alternating'))(state, _batch(real))
  z = modeling.sample_latent(steps.step_key(state), 4, Z_DIM, None)

  def g_loss(g_params, d_params):
    fake = game.task.generator.apply({'params': g_params}, z)
    return game.task.loss_fn(jnp.zeros(4),
                             game.task.discriminator.apply({'params': d_params}, fake))[1]

  g0 = state.params['generator']
  g_grads = jax.grad(g_loss)(g0, new.params['discriminator'])  # D after its update
  expected = optax.apply_updates(g0, game.txs['generator'].update(
      g_grads, state.opt_state['generator'])[0])
  chex.assert_trees_all_close(new.params['generator'], expected, atol=1e-6)
  g_grads_old_d = jax.grad(g_loss)(g0, state.params['discriminator'])
  assert not np.allclose(jax.tree.leaves(g_grads)[0], jax.tree.leaves(g_grads_old_d)[0])


@pytest.mark.parametrize('update', sorted(steps.STEPS))
def test_every_rule_moves_both_players_takes_d_steps_and_drops_nonfinite(update):
  # The MLP with spectral norm: its power-iteration state is D's model state.
  game = _game(model='mlp', update=update, spectral_norm=True)
  state = _state(game)
  step = jax.jit(steps.make_train_step(game, update, d_steps=1))
  one, metrics = step(state, _batch(_real()))
  chex.assert_tree_all_finite((one.params['generator'], one.params['discriminator'], metrics))
  assert float(metrics['finite']) == 1.0 and int(one.step) == 1
  _assert_moved(state.params['generator'], one.params['generator'])
  _assert_moved(state.params['discriminator'], one.params['discriminator'])
  # The hidden layer's power-iteration vector u and estimate sigma moved (the
  # output layer's (16, 1) kernel has u = 1 and sigma = |W| at every call).
  _assert_moved(*[s.model_state['discriminator']['batch_stats']['SpectralNorm_0']
                  for s in (state, one)])

  # d_steps = 2: Adam normalises the first step, so k D updates move the
  # weights ~k lr.
  two, _ = jax.jit(steps.make_train_step(game, update, d_steps=2))(state, _batch(_real(n=8)))
  d_move = lambda s: float(jnp.abs(s.params['discriminator']['Dense_0']['kernel'] -
                                   state.params['discriminator']['Dense_0']['kernel']).max())
  assert d_move(two) > 1.5 * d_move(one)

  bad = _real().at[0, 0, 0, 0].set(jnp.nan)
  new, metrics = step(state, _batch(bad))
  assert float(metrics['finite']) == 0.0
  assert float(metrics['finite_d_loss']) == 0.0
  assert int(new.step) == 1  # the step counter advances...
  parts = lambda s: (s.params['generator'], s.ema_params['generator'],
                     s.params['discriminator'], s.model_state['discriminator'],
                     s.opt_state['generator'], s.opt_state['discriminator'])
  chex.assert_trees_all_equal(parts(new), parts(state))  # ...nothing else


def test_unknown_update_rule_lists_valid_ones():
  with pytest.raises(ValueError, match="train.update_rule='extra'.*alternating.*consensus"
                     ".*extragradient.*optimistic.*simultaneous"):
    steps.make_train_step(_game(), 'extra')


@pytest.mark.parametrize('update', ['simultaneous', 'alternating'])
def test_each_extra_d_step_takes_its_own_chunk_and_z(update):
  # d_steps = 3 on the 2-D MLP GAN with plain SGD, against a loop of single
  # updates written out by hand with jax.grad of the task's losses: chunk j
  # is rows j, j + 3, ...; D's extra update j draws z from step_key(state, j);
  # the rule's final update takes chunk 2 and step_key(state, 2).
  d_steps, rows = 3, 8
  config = toy2d.get_config('tiny')
  config.optim.name = 'sgd'
  config.optim.g_lr, config.optim.d_lr = 0.05, 0.1  # large enough that paths differ
  config.train.update_rule, config.train.d_steps = update, d_steps
  config.train.g_ema_decay = 0.5
  game = train.create_game(config, (2,))
  state = train.init_state(config, game, (2,))
  x = np.random.default_rng(0).normal(size=(d_steps * rows, 2)).astype(np.float32)
  new, metrics = jax.jit(steps.make_train_step(game, update, d_steps))(state, {'x': x})
  assert float(metrics['finite']) == 1.0

  task, z_dim = game.task, config.model.z_dim
  d_state = state.model_state['discriminator']
  assert d_state == {} and state.model_state['generator'] == {}  # no BatchNorm here

  def z_of(chunk):
    return modeling.sample_latent(steps.step_key(state, chunk), rows, z_dim, None)

  def losses_at(g, d, chunk):  # (d_loss, g_loss) on chunk `chunk` with its own z
    key = steps.step_key(state, chunk)
    fake = task.generator.apply({'params': g}, z_of(chunk))
    return task.d_losses(d, d_state, x[chunk::d_steps], fake,
                         unconditional.penalty_rng(key))[0]

  sgd = lambda p, grad, lr: jax.tree.map(lambda a, b: a - lr * b, p, grad)
  g, d = state.params['generator'], state.params['discriminator']
  for chunk in range(d_steps - 1):
    d = sgd(d, jax.grad(lambda d_, c=chunk: losses_at(g, d_, c)[0])(d), config.optim.d_lr)
  last = d_steps - 1
  d_grad = jax.grad(lambda d_: losses_at(g, d_, last)[0])(d)
  if update == 'simultaneous':  # both gradients at (g, d after the extra steps)
    g_grad = jax.grad(lambda g_: losses_at(g_, d, last)[1])(g)
    d = sgd(d, d_grad, config.optim.d_lr)
  else:  # D first, then G judged by the updated D (same chunk, same z)
    d = sgd(d, d_grad, config.optim.d_lr)
    g_grad = jax.grad(lambda g_: losses_at(g_, d, last)[1])(g)
  g = sgd(g, g_grad, config.optim.g_lr)
  ema = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, state.ema_params['generator'], g)

  # Compare the updates, to 1e-4 of each player's largest update component
  # (float32 round-off of two programs): the whole update is ~lr |grad|,
  # far above that, and an extra step on the wrong chunk or z moves it by O(1).
  for name, ours, ref, before in [
      ('discriminator', new.params['discriminator'], d, state.params['discriminator']),
      ('generator', new.params['generator'], g, state.params['generator']),
      ('ema', new.ema_params['generator'], ema, state.ema_params['generator'])]:
    delta_ref = jax.tree.map(jnp.subtract, ref, before)
    scale = max(float(jnp.abs(v).max()) for v in jax.tree.leaves(delta_ref))
    assert scale > 1e-3, (name, scale)
    for (path, a), b, b0 in zip(jax.tree_util.tree_leaves_with_path(ours),
                                jax.tree.leaves(ref), jax.tree.leaves(before), strict=True):
      np.testing.assert_allclose(np.asarray(a) - b0, np.asarray(b) - b0, rtol=0,
                                 atol=1e-4 * scale, err_msg=f'{name}{jax.tree_util.keystr(path)}')
  assert int(new.step) == 1
  chex.assert_trees_all_equal(new.rng, state.rng)
