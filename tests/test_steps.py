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

from gan_jax import losses, models, regularizers, state as state_lib, steps

Z_DIM = 8
SHAPE = (28, 28, 1)
R1 = ('r1', regularizers.r1, 1.0)


def _game(loss='non_saturating', model='dcgan_mnist', lr=1e-3, update='simultaneous',
          penalties=(), spectral_norm=False):
  cfg = ml_collections.ConfigDict(dict(
      name=model, z_dim=Z_DIM, g_width=4, d_width=4, conv_transpose_impl='auto',
      g_hidden=(16,), d_hidden=(16,), output_activation='tanh',
      d_spectral_norm=spectral_norm))
  gen, disc = models.create_models(cfg, SHAPE)
  tx = steps.player_optimizer(update, optax.adam(lr, b1=0.5))
  return steps.Game(gen, disc, losses.get_loss(loss), tx, tx, Z_DIM, penalties=penalties)


def _state(game):
  return state_lib.create_state(jax.random.PRNGKey(0), game.generator,
                                game.discriminator, game.g_tx, game.d_tx,
                                Z_DIM, SHAPE)


def _real(n=4, seed=1):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n, *SHAPE), minval=-1, maxval=1)


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
    new, metrics = step(state, _real())
    chex.assert_trees_all_equal_shapes(new.g_params, state.g_params)
    chex.assert_trees_all_equal_shapes(new.d_params, state.d_params)
    chex.assert_tree_all_finite((new.g_params, new.d_params, metrics))
    assert float(metrics['finite']) == 1.0
    assert int(new.step) == 1
    # Both players moved, in every parameter tensor (Adam's first step moves
    # each weight by ~lr wherever its gradient is non-zero).
    _assert_moved(state.g_params, new.g_params)
    _assert_moved(state.d_params, new.d_params)
    # BatchNorm running statistics were updated from the batch.
    assert not np.allclose(new.g_state['batch_stats']['BatchNorm_0']['mean'],
                           state.g_state['batch_stats']['BatchNorm_0']['mean'])

  @chex.variants(with_jit=True, without_jit=True)
  def test_one_pass_gradients_equal_separate_grads(self):
    self._check_one_pass(_game(), self.variant)

  def test_one_pass_gradients_with_penalty_and_relativistic_loss(self):
    # R1 in D's loss (a gradient of an input gradient), and a G loss that
    # reads the real logits.
    self._check_one_pass(_game('relativistic_average', model='mlp', penalties=(R1,)),
                         jax.jit)

  def _check_one_pass(self, game, variant):
    state = _state(game)
    real = _real()
    z = jax.random.normal(jax.random.PRNGKey(3), (4, Z_DIM))
    rng = jax.random.PRNGKey(4)

    def both_losses(g_params, d_params):
      fake, _ = steps.apply_model(game.generator, g_params, state.g_state, z)
      return game.losses(d_params, state.d_state, real, fake, rng)[0]

    g_sep = jax.jit(jax.grad(lambda g: both_losses(g, state.d_params)[1]))(state.g_params)
    d_sep = jax.jit(jax.grad(lambda d: both_losses(state.g_params, d)[0]))(state.d_params)
    fn = variant(functools.partial(steps.one_pass_gradients, game))
    (d_loss, g_loss), (g_grads, d_grads), (_, _, metrics) = fn(state, real, z, rng)
    assert all(float(metrics[f'{name}_penalty']) > 0 for name, _, _ in game.penalties)
    # Float32 summation order differs between the two programs: compare to
    # 1e-5 of each player's largest gradient (a relativistic loss gives D's
    # output bias a gradient that is exactly 0 in theory, ~1e-8 in float32).
    for ours, ref in [(g_grads, g_sep), (d_grads, d_sep)]:
      scale = max(float(jnp.abs(b).max()) for b in jax.tree.leaves(ref))
      for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)
    d_ref, g_ref = both_losses(state.g_params, state.d_params)
    np.testing.assert_allclose([d_loss, g_loss], [d_ref, g_ref], rtol=1e-6)


def test_simultaneous_step_applies_adam_to_the_one_pass_gradients():
  game = _game()
  state = _state(game)
  real = _real()
  new, _ = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, real)
  rng = jax.random.fold_in(state.rng, state.step)
  z = steps.sample_latent(jax.random.fold_in(rng, 0), 4, Z_DIM, None)
  _, (g_grads, d_grads), _ = steps.one_pass_gradients(game, state, real, z)
  # Both updates are taken at the same point (g, d): simultaneous descent.
  expected_g = optax.apply_updates(state.g_params, game.g_tx.update(g_grads, state.g_opt_state)[0])
  expected_d = optax.apply_updates(state.d_params, game.d_tx.update(d_grads, state.d_opt_state)[0])
  chex.assert_trees_all_close(new.g_params, expected_g, atol=1e-6)
  chex.assert_trees_all_close(new.d_params, expected_d, atol=1e-6)


def test_alternating_generator_step_sees_the_updated_discriminator():
  game = _game(model='mlp')
  state = _state(game)
  real = _real()
  new, _ = jax.jit(steps.make_train_step(game, 'alternating'))(state, real)
  rng = jax.random.fold_in(state.rng, state.step)
  z = steps.sample_latent(jax.random.fold_in(rng, 0), 4, Z_DIM, None)

  def g_loss(g_params, d_params):
    fake = game.generator.apply({'params': g_params}, z)
    return game.loss_fn(jnp.zeros(4), game.discriminator.apply({'params': d_params}, fake))[1]

  g_grads = jax.grad(g_loss)(state.g_params, new.d_params)  # D after its update
  expected = optax.apply_updates(state.g_params, game.g_tx.update(g_grads, state.g_opt_state)[0])
  chex.assert_trees_all_close(new.g_params, expected, atol=1e-6)
  g_grads_old_d = jax.grad(g_loss)(state.g_params, state.d_params)
  assert not np.allclose(jax.tree.leaves(g_grads)[0], jax.tree.leaves(g_grads_old_d)[0])


@pytest.mark.parametrize('update', sorted(steps.STEPS))
def test_every_rule_moves_both_players_takes_d_steps_and_drops_nonfinite(update):
  # The MLP with spectral norm: its power-iteration state is D's model state.
  game = _game(model='mlp', update=update, spectral_norm=True)
  state = _state(game)
  step = jax.jit(steps.make_train_step(game, update, d_steps=1))
  one, metrics = step(state, _real())
  chex.assert_tree_all_finite((one.g_params, one.d_params, metrics))
  assert float(metrics['finite']) == 1.0 and int(one.step) == 1
  _assert_moved(state.g_params, one.g_params)
  _assert_moved(state.d_params, one.d_params)
  # The hidden layer's power-iteration vector u and estimate sigma moved (the
  # output layer's (16, 1) kernel has u = 1 and sigma = |W| at every call).
  _assert_moved(*[s.d_state['batch_stats']['SpectralNorm_0'] for s in (state, one)])

  # d_steps = 2: Adam normalises the first step, so k D updates move the
  # weights ~k lr.
  two, _ = jax.jit(steps.make_train_step(game, update, d_steps=2))(state, _real(n=8))
  d_move = lambda s: float(jnp.abs(s.d_params['Dense_0']['kernel'] -
                                   state.d_params['Dense_0']['kernel']).max())
  assert d_move(two) > 1.5 * d_move(one)

  bad = _real().at[0, 0, 0, 0].set(jnp.nan)
  new, metrics = step(state, bad)
  assert float(metrics['finite']) == 0.0
  assert float(metrics['finite_d_loss']) == 0.0
  assert int(new.step) == 1  # the step counter advances...
  chex.assert_trees_all_equal(  # ...nothing else
      (new.g_params, new.g_ema_params, new.d_params, new.d_state, new.g_opt_state,
       new.d_opt_state),
      (state.g_params, state.g_ema_params, state.d_params, state.d_state,
       state.g_opt_state, state.d_opt_state))


def test_unknown_update_rule_lists_valid_ones():
  with pytest.raises(ValueError, match="train.update_rule='extra'.*alternating.*consensus"
                     ".*extragradient.*optimistic.*simultaneous"):
    steps.make_train_step(_game(), 'extra')
