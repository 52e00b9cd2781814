"""Eigenvalues of the game's Jacobian in the complex plane: Dirac-GAN and the MLP GAN on the ring.

    python experiments/game_spectrum.py                  # docs/figures/game_spectrum.png
    python experiments/game_spectrum.py --at=0,1000,4000 --output=/tmp/spectrum.png

The Jacobian is that of the simultaneous flow F(x) = -(dL_G/dg, dL_D/dd) of
both players' parameters x = (g, d) (``steps.field_jacobian``: ``jax.jacfwd``
of the one-pass gradients; eigenvalues on the host). Eigenvalues with a
negative real part attract, those with a positive one repel, and imaginary
parts make the players rotate around each other instead of descending.

Left: the Dirac-GAN at its equilibrium: +-0.5i (pure rotation), moved to
-0.15 +- 0.477i by R1 with gamma 0.3 and to -0.5 (double) by gamma 1.
Right: a small MLP GAN (hidden 16 x 16, z of 4: ~720 parameters) on the
8-mode ring, trained with non-saturating simultaneous Adam (g 1e-4, d 1e-3),
at the steps of --at, on one batch of 256 real points and z. Takes ~1
minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import matplotlib  # pylint: disable=g-import-not-at-top
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from experiments.dirac_gan import build, save_figure  # pylint: disable=g-import-not-at-top
from experiments.dynamics_2d import ring_config, train_with_snapshots  # pylint: disable=g-import-not-at-top
from gan_jax import steps  # pylint: disable=g-import-not-at-top
from gan_jax.data import create_dataset  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dirac_eigenvalues(r1_gamma: float) -> np.ndarray:
  """Eigenvalues at the Dirac-GAN's equilibrium (0, 0) with R1 weight ``r1_gamma``."""
  _, game, state = build('r1', init=(0.0, 0.0), r1_gamma=r1_gamma)
  return steps.field_eigenvalues(game, state, {'x': jnp.zeros((1, 1))})


def small_ring_config():
  config = ring_config()
  config.model.z_dim = 4
  config.model.g_hidden = config.model.d_hidden = (16, 16)
  return config


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--at', default='0,1000,3000,6000',
                      help='comma-separated train steps at which to take the spectrum')
  parser.add_argument('--output', default=os.path.join(REPO, 'docs', 'figures',
                                                       'game_spectrum.png'))
  args = parser.parse_args()
  fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
  for gamma, marker in [(0.0, 'o'), (0.3, 's'), (1.0, '^')]:
    eig = dirac_eigenvalues(gamma)
    print(f'Dirac-GAN, R1 gamma {gamma}: eigenvalues {np.round(eig, 4)}', flush=True)
    left.scatter(eig.real, eig.imag, marker=marker, s=60, label=f'R1 gamma = {gamma}')
  left.axvline(0, c='0.6', lw=0.8)
  left.axhline(0, c='0.6', lw=0.8)
  left.set(xlabel='Re', ylabel='Im', xlim=(-0.7, 0.3), ylim=(-0.65, 0.65), aspect='equal',
           title='Dirac-GAN at its equilibrium (0, 0)')
  left.legend(loc='upper left')

  config = small_ring_config()
  batch = {'x': jnp.asarray(create_dataset(config.data, config.seed, None)
                           .batch(10**6, 256)['x'])}
  # The task draws z ~ N(0, I) of (256, z_dim) from this key: one fixed z.
  z_rng = jax.random.PRNGKey(2)
  at = sorted(int(s) for s in args.at.split(','))
  colors = plt.cm.viridis(np.linspace(0, 0.9, len(at)))
  start = time.perf_counter()

  def spectrum(step, game, state):
    eig = steps.field_eigenvalues(game, state, batch, z_rng)
    print(f'MLP on the ring, step {step}: {eig.size} eigenvalues, max Re {eig.real.max():.3g}, '
          f'min Re {eig.real.min():.3g}, max |Im| {np.abs(eig.imag).max():.3g}, '
          f'{np.mean(np.abs(eig.imag) > 1e-6 * np.abs(eig).max()):.0%} complex  '
          f'({time.perf_counter() - start:.0f} s)', flush=True)
    color = colors[at.index(step)]
    right.scatter(eig.real, eig.imag, s=6, color=color, alpha=0.7, label=f'step {step}')

  train_with_snapshots(config, at, spectrum)
  right.axvline(0, c='0.6', lw=0.8)
  right.axhline(0, c='0.6', lw=0.8)
  # Symmetric log axes, linear within +-0.1: the spectrum spans 1e-3 to 1e3.
  right.set_xscale('symlog', linthresh=0.1)
  right.set_yscale('symlog', linthresh=0.1)
  right.set(xlabel='Re', ylabel='Im',
            title='MLP GAN on the ring, non-saturating simultaneous Adam (symlog axes)')
  right.legend(markerscale=3)
  fig.suptitle('Eigenvalues of the Jacobian of the simultaneous flow -(dL_G/dg, dL_D/dd)')
  save_figure(fig, args.output)


if __name__ == '__main__':
  main()
