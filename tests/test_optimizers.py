"""The optimistic transform is optax's, and does what the hand-written one did."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import steps


def _reference_optimism(base: optax.GradientTransformation):
  """u_t -> 2 u_t - u_{t-1} after ``base``, the first update passed through (OGDA)."""
  def init(params):
    return base.init(params), jax.tree.map(jnp.zeros_like, params), 0

  def update(grads, state, params):
    inner, previous, count = state
    u, inner = base.update(grads, inner, params)
    out = u if count == 0 else jax.tree.map(lambda a, b: 2 * a - b, u, previous)
    return out, (inner, u, count + 1)

  return optax.GradientTransformation(init, update)


def test_optimistic_adam_equals_the_formula_over_5_chained_steps():
  params = {'w': jnp.array([0.3, -1.2, 2.0]), 'b': jnp.array(0.5)}
  ours = steps.player_optimizer('optimistic', optax.adam(1e-2, b1=0.5))
  ref = _reference_optimism(optax.adam(1e-2, b1=0.5))
  p_ours = p_ref = params
  s_ours, s_ref = ours.init(params), ref.init(params)
  rng = np.random.default_rng(0)
  for t in range(5):
    grads = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=np.shape(x)), jnp.float32),
                         params)
    u_ours, s_ours = ours.update(grads, s_ours, p_ours)
    u_ref, s_ref = ref.update(grads, s_ref, p_ref)
    for a, b in zip(jax.tree.leaves(u_ours), jax.tree.leaves(u_ref)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=f'step {t}')
    p_ours, p_ref = optax.apply_updates(p_ours, u_ours), optax.apply_updates(p_ref, u_ref)


def test_other_rules_leave_the_optimizer_alone():
  tx = optax.sgd(0.1)
  assert steps.player_optimizer('simultaneous', tx) is tx
