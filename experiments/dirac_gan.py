"""The Dirac-GAN under every update rule: trajectories over the gradient field, one PNG.

    python experiments/dirac_gan.py                      # docs/figures/dirac_gan.png
    python experiments/dirac_gan.py --steps=1000 --h=0.05 --output=/tmp/dirac.png

The game of configs/dirac.py (Mescheder et al. 2018: data at 0, G(z) = theta,
D(x) = psi x, minimax loss, plain SGD with step h) is trained from
(theta, psi) = (1, 1) by the ordinary step functions, once per update rule
and once more with an R1 penalty (gamma 0.3 and gamma 1) under simultaneous
steps. Each panel draws one trajectory over the direction of that game's flow
-(dL_G/dtheta, dL_D/dpsi) (with the panel's penalty); the last panel plots
the distance to the equilibrium (0, 0) against the step. The script prints,
per run, the final distance and the mean growth factor per step, next to the
linear theory at the equilibrium. Takes ~30 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
from jax.flatten_util import ravel_pytree  # pylint: disable=g-import-not-at-top
import matplotlib  # pylint: disable=g-import-not-at-top
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from configs import dirac as dirac_config  # pylint: disable=g-import-not-at-top
from gan_jax import steps, train  # pylint: disable=g-import-not-at-top
from gan_jax.models import dirac  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (config variant, panel title, per-step factor of the distance near (0, 0)
# as a function of h: the spectral radius of the rule's linear map there).
RUNS = [
    ('simultaneous', 'simultaneous', lambda h: np.sqrt(1 + h**2 / 4)),
    ('alternating', 'alternating', lambda h: 1.0),
    ('extragradient', 'extragradient', lambda h: np.sqrt(1 - h**2 / 4 + h**4 / 16)),
    ('optimistic', 'optimistic (OGDA)',
     lambda h: max(abs(np.roots([1, -(1 - 1j * h), -0.5j * h])))),
    ('consensus', 'consensus, gamma 1', lambda h: np.sqrt((1 - h / 4)**2 + h**2 / 4)),
    ('simultaneous,r1', 'simultaneous + R1, gamma 0.3',
     lambda h: abs(1 + h * (-0.15 + 0.5j * np.sqrt(0.91)))),
    ('simultaneous,critical', 'simultaneous + R1, gamma 1 (critical)',
     lambda h: 1 - h / 2),
]


def build(variant: str | None = None, h: float = 0.1, init=(1.0, 1.0), **train_fields):
  """(config, game, step-0 state) of configs/dirac.py:variant, step h, from ``init``.

  ``train_fields`` override fields of config.train, e.g. r1_gamma=1.0.
  """
  config = dirac_config.get_config(variant)
  config.optim.g_lr = config.optim.d_lr = h
  config.model.dirac_init = init
  for name, value in train_fields.items():
    config.train[name] = value
  game = train.create_game(config, dirac.SAMPLE_SHAPE)
  return config, game, train.init_state(config, game, dirac.SAMPLE_SHAPE)


def save_figure(fig, path: str, dpi: int = 80, title_inches: float = 0.0) -> None:
  """Lays ``fig`` out (leaving ``title_inches`` for its title) and writes it as PNG."""
  fig.tight_layout(rect=(0, 0, 1, 1 - title_inches / fig.get_figheight()))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=dpi)
  print('wrote', path)


def flow_on_grid(game, state, theta: np.ndarray, psi: np.ndarray) -> np.ndarray:
  """The flow -(dL_G/dtheta, dL_D/dpsi) at every grid point, (..., 2)."""
  batch = {'x': jnp.zeros((1, 1))}

  def at(t, p):
    moved = state.replace(params={'generator': {'theta': t}, 'discriminator': {'psi': p}})
    # The field is raveled as ravel_pytree(params) orders the players (by
    # name: discriminator first); unravel it to pick (theta, psi).
    flow = ravel_pytree(moved.params)[1](steps.simultaneous_field(game, moved, batch))
    return jnp.stack([flow['generator']['theta'], flow['discriminator']['psi']])

  flat = jax.jit(jax.vmap(at))(jnp.asarray(theta.ravel()), jnp.asarray(psi.ravel()))
  return np.asarray(flat).reshape(*theta.shape, 2)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=400, help='steps per trajectory')
  parser.add_argument('--h', type=float, default=0.1, help='SGD step of both players')
  parser.add_argument('--output', default=os.path.join(REPO, 'docs', 'figures',
                                                       'dirac_gan.png'))
  args = parser.parse_args()
  h, num_steps = args.h, args.steps
  fig, axes = plt.subplots(2, 4, figsize=(18, 9))
  lim = 2.5
  grid = np.meshgrid(np.linspace(-lim, lim, 17), np.linspace(-lim, lim, 17))
  distance_ax = axes.flat[-1]
  for ax, (variant, title, theory) in zip(axes.flat, RUNS):
    start = time.perf_counter()
    config, game, state = build(variant, h)
    step = steps.make_train_step(game, config.train.update_rule, config.train.d_steps)
    points, _ = dirac.trajectory(step, state, num_steps)
    flow = flow_on_grid(game, state, *grid)
    r = np.linalg.norm(points, axis=1)
    factor = (r[-1] / r[0]) ** (1 / num_steps)
    print(f'{title:40s} |z| {r[0]:.3f} -> {r[-1]:.4g} after {num_steps} steps; '
          f'mean factor/step {factor:.6f}; at (0,0) theory {theory(h):.6f}  '
          f'({time.perf_counter() - start:.1f} s)', flush=True)
    # Unit arrows: the flow's direction is the point (its length grows with
    # the distance to (0, 0) and would hide the middle).
    unit = flow / np.maximum(np.linalg.norm(flow, axis=-1, keepdims=True), 1e-12)
    ax.quiver(*grid, unit[..., 0], unit[..., 1], color='0.75', angles='xy')
    ax.plot(points[:, 0], points[:, 1], lw=1.2)
    ax.plot(*points[0], 'ko', ms=4)
    ax.plot(0, 0, 'r*', ms=9)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect='equal', xlabel='theta (G)',
           ylabel='psi (D)', title=f'{title}\n|z|: {r[0]:.2f} -> {r[-1]:.3g}')
    distance_ax.semilogy(r, label=title)
  distance_ax.set(xlabel='step', ylabel='distance to (0, 0)',
                  title=f'distance, SGD h = {h}')
  distance_ax.legend(fontsize=7)
  fig.suptitle(f'Dirac-GAN from (1, 1): {num_steps} steps of each update rule '
               '(grey: direction of the flow -(dL_G/dtheta, dL_D/dpsi), '
               'with the panel\'s penalty)')
  save_figure(fig, args.output)


if __name__ == '__main__':
  main()
