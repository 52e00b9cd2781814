"""The Dirac-GAN of Mescheder et al. 2018, as an ordinary model pair.

Data: a point mass at 0 (samples of shape (1,)). Generator G_theta(z) = theta
for every z; discriminator logit D_psi(x) = psi x. With the minimax loss of
losses.py the game is
    L_D = -log sigmoid(D(0)) - log sigmoid(-psi theta),  L_G = log sigmoid(-psi theta),
i.e. the paper's L(theta, psi) = f(psi theta) + f(0), f(t) = -log(1 + e^-t),
with psi mirrored (our logit scores "real", theirs "fake"), which changes no
radius or eigenvalue. Its only equilibrium is (theta, psi) = (0, 0), where
the Jacobian of the simultaneous flow has eigenvalues +-f'(0) i = +-0.5i.
Trained by the same steps as every model (configs/dirac.py); ``trajectory``
runs a compiled step on the point mass and records (theta, psi).
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

SAMPLE_SHAPE = (1,)


class DiracGenerator(nn.Module):
  """G: z (B, z_dim) -> (B, 1), every row theta (a scalar parameter)."""
  theta_init: float = 1.0

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    del train
    theta = self.param('theta', nn.initializers.constant(self.theta_init), ())
    return jnp.broadcast_to(theta, (z.shape[0], 1))


class DiracDiscriminator(nn.Module):
  """D: x (B, 1) -> logits psi * x (B,), psi a scalar parameter."""
  psi_init: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train
    psi = self.param('psi', nn.initializers.constant(self.psi_init), ())
    return psi * x[:, 0]


def point(state) -> np.ndarray:
  """(theta, psi) of a TrainState of the Dirac pair."""
  return np.array([state.params['generator']['theta'],
                   state.params['discriminator']['psi']], np.float64)


def trajectory(step_fn: Callable, state, num_steps: int,
               batch_size: int = 1) -> tuple[np.ndarray, object]:
  """Runs ``step_fn`` num_steps times on the point mass at 0.

  Args:
    step_fn: (state, batch) -> (state, metrics), e.g. steps.make_train_step(...).
    state: the Dirac pair's TrainState.
    num_steps: steps to take (one ``lax.scan``, compiled once).
    batch_size: rows of the batch of zeros (train.batch_size * train.d_steps).
  Returns:
    (num_steps + 1, 2) float64 points (theta, psi), the start included, and
    the final state.
  """
  batch = {'x': jnp.zeros((batch_size, *SAMPLE_SHAPE))}

  def body(state, _):
    state, _ = step_fn(state, batch)
    return state, jnp.stack([state.params['generator']['theta'],
                             state.params['discriminator']['psi']])

  final, points = jax.jit(lambda s: jax.lax.scan(body, s, length=num_steps))(state)
  return np.concatenate([point(state)[None], np.asarray(points, np.float64)]), final
