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

from gan_jax import losses, models, state as state_lib, steps

Z_DIM = 8
SHAPE = (28, 28, 1)


def _game(loss='non_saturating', model='dcgan_mnist', lr=1e-3):
  cfg = ml_collections.ConfigDict(dict(
      name=model, z_dim=Z_DIM, g_width=4, d_width=4, conv_transpose_impl='auto',
      g_hidden=(16,), d_hidden=(16,), output_activation='tanh'))
  gen, disc = models.create_models(cfg, SHAPE)
  tx = optax.adam(lr, b1=0.5)
  return steps.Game(gen, disc, losses.get_loss(loss), tx, tx, Z_DIM)


def _state(game):
  return state_lib.create_state(jax.random.PRNGKey(0), game.generator,
                                game.discriminator, game.g_tx, game.d_tx,
                                Z_DIM, SHAPE)


def _real(n=4, seed=1):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n, *SHAPE), minval=-1, maxval=1)


class GradientShapesTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(loss=sorted(losses.LOSSES), update=sorted(steps.STEPS))
  def test_step_updates_every_param_with_finite_grads(self, loss, update):
    game = _game(loss)
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
    for old_p, new_p in [(state.g_params, new.g_params), (state.d_params, new.d_params)]:
      moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), old_p, new_p)
      assert min(jax.tree.leaves(moved)) > 0, moved
    # BatchNorm running statistics were updated from the batch.
    assert not np.allclose(new.g_state['batch_stats']['BatchNorm_0']['mean'],
                           state.g_state['batch_stats']['BatchNorm_0']['mean'])

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*sorted(losses.LOSSES))
  def test_one_pass_gradients_equal_separate_grads(self, loss):
    game = _game(loss)
    state = _state(game)
    real = _real()
    z = jax.random.normal(jax.random.PRNGKey(3), (4, Z_DIM))

    def fake_and_logits(g_params, d_params):
      fake, _ = steps.apply_model(game.generator, g_params, state.g_state, z)
      real_logits, fake_logits, _ = game.discriminate(d_params, state.d_state, real, fake)
      return game.loss_fn(real_logits, fake_logits)

    g_sep = jax.jit(jax.grad(lambda g: fake_and_logits(g, state.d_params)[1]))(state.g_params)
    d_sep = jax.jit(jax.grad(lambda d: fake_and_logits(state.g_params, d)[0]))(state.d_params)
    fn = self.variant(functools.partial(steps.one_pass_gradients, game))
    (d_loss, g_loss), (g_grads, d_grads), _ = fn(state, real, z)
    # Float32 summation order differs between the two programs: compare to
    # 1e-5 of each tensor's scale.
    for ours, ref in [(g_grads, g_sep), (d_grads, d_sep)]:
      for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()))
    d_ref, g_ref = fake_and_logits(state.g_params, state.d_params)
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
def test_d_steps_take_extra_discriminator_updates(update):
  game = _game(model='mlp')
  state = _state(game)
  real = _real(n=8)
  one, _ = jax.jit(steps.make_train_step(game, update, d_steps=1))(state, real[:4])
  two, _ = jax.jit(steps.make_train_step(game, update, d_steps=2))(state, real)
  # Adam normalises the first step, so k D updates move the weights ~k lr.
  d_move = lambda s: float(jnp.abs(s.d_params['Dense_0']['kernel'] -
                                   state.d_params['Dense_0']['kernel']).max())
  assert d_move(two) > 1.5 * d_move(one)


def test_nonfinite_update_is_dropped_and_flagged():
  game = _game(model='mlp')
  state = _state(game)
  bad = _real().at[0, 0, 0, 0].set(jnp.nan)
  new, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, bad)
  assert float(metrics['finite']) == 0.0
  assert float(metrics['finite_d_loss']) == 0.0
  assert int(new.step) == 1  # the step counter advances...
  chex.assert_trees_all_equal((new.g_params, new.d_params, new.d_opt_state),
                              (state.g_params, state.d_params, state.d_opt_state))  # ...nothing else


def test_unknown_update_rule_lists_valid_ones():
  with pytest.raises(ValueError, match="train.update_rule='extra'.*alternating.*simultaneous"):
    steps.make_train_step(_game(), 'extra')
