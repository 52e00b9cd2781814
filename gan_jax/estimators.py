"""Gradient estimators for generators of discrete data (``task = 'discrete'``).

A generator of tokens draws x ~ Categorical(softmax(l)) from logits l (V,) at
each position; the draw is not differentiable, so each estimator says what D
sees and what gradient reaches l. With g ~ Gumbel(0, 1)^V, the draw is
x = argmax(l + g) (the Gumbel-max trick), and the estimators are:

  gumbel            D sees the relaxed sample y = softmax((l + g) / tau) and G
                    is trained through it by the reparameterisation (Jang et
                    al. 2016; Maddison et al. 2016; Kusner & Hernandez-Lobato,
                    arXiv 1611.04051 for GANs).
  straight_through  D sees the one-hot e(x); backward, the gradient of y
                    (y + stop_gradient(e(x) - y)): straight-through Gumbel.
  reinforce         D sees e(x); G minimises -(r - b) log p(x), r = log D(x)
                    the reward and b a moving-average baseline (Williams 1992).
  bgan              D sees e(x); G minimises -sum_m w_m log p(x_m), the
                    weights w_m = softmax_m(logit D(x_m)) over a group of
                    samples (boundary-seeking GAN, Hjelm et al., arXiv
                    1702.08431): the importance weights of the target
                    p*(x) ~ p(x) D(x) / (1 - D(x)), which is p_data at the optimal D.
  mle               no adversary for G: it minimises -log p(x_real), the
                    teacher-forced likelihood of the data (the baseline of
                    Caccia et al., arXiv 1811.02549).

Known properties, tested in tests/test_estimators.py on a 3-way categorical
with a loss linear in the one-hot sample, L = E f . e(x):
  reinforce is unbiased for dL/dl at any baseline;
  gumbel and straight_through have the same expected gradient there,
  d/dl E f . softmax((l + g) / tau), which is biased at tau > 0 (the relaxed
  mean is not p) and tends to the exact gradient as tau -> 0 while its
  variance grows;
  bgan is, for many samples, the gradient of the cross-entropy
  -sum_x p*(x) log p(x) at fixed target p* (self-normalised weights: O(1/M) bias).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ESTIMATORS = ('gumbel', 'straight_through', 'reinforce', 'bgan', 'mle')
# The estimators whose D sees relaxed samples and whose G is trained through D.
RELAXED = ('gumbel', 'straight_through')


def draw(logits: jax.Array, gumbel: jax.Array, tau: jax.Array | float,
         estimator: str) -> tuple[jax.Array, jax.Array]:
  """One categorical draw per row, and what D sees of it.

  Args:
    logits: (..., V) unnormalised log-probabilities l.
    gumbel: (..., V) Gumbel(0, 1) noise g.
    tau: the relaxation's temperature (gumbel, straight_through only).
    estimator: one of ``ESTIMATORS``, or 'hard' (sampling: the one-hot only).

  Returns:
    tokens (...) int32 argmax(l + g), a draw from softmax(l); and y (..., V):
    softmax((l + g) / tau) for 'gumbel', the one-hot e(x) with the relaxed
    gradient for 'straight_through', else e(x) with no gradient.
  """
  noisy = logits + gumbel
  tokens = jnp.argmax(noisy, axis=-1).astype(jnp.int32)
  hard = jax.nn.one_hot(tokens, logits.shape[-1], dtype=logits.dtype)
  if estimator not in RELAXED:
    return tokens, hard
  soft = jax.nn.softmax(noisy / tau, axis=-1)
  if estimator == 'gumbel':
    return tokens, soft
  return tokens, soft + jax.lax.stop_gradient(hard - soft)


def token_log_prob(logits: jax.Array, tokens: jax.Array) -> jax.Array:
  """sum over positions of log softmax(l)[x]: (B, L, V), (B, L) -> (B,)."""
  logp = jax.nn.log_softmax(logits, axis=-1)
  return jnp.sum(jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0], axis=-1)


def reinforce_loss(log_prob: jax.Array, reward: jax.Array, baseline: jax.Array) -> jax.Array:
  """Score-function surrogate -mean((r - b) log p(x)): (B,), (B,), () -> ().

  Its gradient is the REINFORCE estimate of -d/dtheta E r; its value is not
  a loss to read.
  """
  advantage = jax.lax.stop_gradient(reward - baseline)
  return -jnp.mean(advantage * log_prob)


def bgan_loss(log_prob: jax.Array, d_logits: jax.Array, group_size: int) -> jax.Array:
  """Boundary-seeking surrogate: -mean over groups of sum_m w_m log p(x_m).

  Args:
    log_prob: (B,) log p(x_m) of each sample under G (given its z).
    d_logits: (B,) D's logits log D / (1 - D), the log importance weights.
    group_size: M; rows k M .. (k + 1) M - 1 share one z (B a multiple of M).
      Weights are normalised within each group.
  """
  groups = log_prob.shape[0] // group_size
  weights = jax.nn.softmax(jax.lax.stop_gradient(d_logits).reshape(groups, group_size), -1)
  return -jnp.sum(weights * log_prob.reshape(groups, group_size)) / groups


def temperature(step: jax.Array, tau0: float, tau_min: float, anneal_steps: int) -> jax.Array:
  """tau_t = max(tau_min, tau0 (tau_min / tau0)^(t / anneal_steps)): exponential
  annealing from tau0 to tau_min over ``anneal_steps`` steps (Jang et al.
  anneal exponentially to a floor; 0 steps = tau_min throughout)."""
  if anneal_steps <= 0:
    return jnp.asarray(tau_min, jnp.float32)
  ratio = jnp.asarray(tau_min / tau0, jnp.float32)
  return jnp.maximum(tau_min, tau0 * ratio ** (step / anneal_steps))
