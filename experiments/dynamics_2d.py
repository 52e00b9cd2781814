"""The MLP GAN on the 2-D ring under each loss and each update rule: samples over training.

    python experiments/dynamics_2d.py                 # docs/figures/dynamics_2d.png
    python experiments/dynamics_2d.py --steps=2000 --output=/tmp/d2d.png   # quicker

configs/toy2d.py:ring,pacgan (PacGAN's exact protocol: 8 Gaussians on the
unit circle, 100,000 fixed points, G 4 x 400 with BatchNorm, D 3 maxout
layers, Adam 1e-4 b1 0.8, batch 100; ``--protocol=toy2d`` for the small MLPs
of configs/toy2d.py:ring instead) is trained once per row: every loss under
simultaneous steps (wasserstein with the gradient penalty, lambda 10), then
every other update rule under the non-saturating loss, then RpGAN + R1 + R2
(the r3gan variant). Columns are G's samples (red, 512 from
a fixed z) over real points (grey) at chosen steps; each panel's title gives
PacGAN's mode metrics (modes captured of 8, % of samples within 3 std of a
mode). Every run uses the same seed and data order, and the trainer's own
jitted step (in lax.scan chunks). Takes ~20 minutes on 2 CPU cores
(~4 with --protocol=toy2d).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import matplotlib  # pylint: disable=g-import-not-at-top
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from configs import toy2d  # pylint: disable=g-import-not-at-top
from experiments.dirac_gan import save_figure  # pylint: disable=g-import-not-at-top
from gan_jax import losses, steps, train  # pylint: disable=g-import-not-at-top
from gan_jax.data import create_dataset  # pylint: disable=g-import-not-at-top
from gan_jax.evaluation import mode_metrics  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHAPE = (2,)
NUM_SAMPLES = 512


PROTOCOLS = {'pacgan': 'ring,pacgan', 'toy2d': 'ring'}


def ring_config(protocol: str, loss: str = 'non_saturating',
                update_rule: str = 'simultaneous', variants: str = ''):
  """configs/toy2d.py:<protocol's variants> with ``loss`` and ``update_rule`` (WGAN gets its GP)."""
  config = toy2d.get_config(PROTOCOLS[protocol] + variants)
  if not variants:
    config.train.loss, config.train.update_rule = loss, update_rule
  if loss == 'wasserstein':
    config.train.regularizers = ('gradient_penalty',)
  return config


def rows(protocol: str) -> list[tuple[str, object]]:
  """(label, config): each loss under simultaneous, then each other rule, then R3GAN's."""
  out = [(f'{loss}{" + GP" if loss == "wasserstein" else ""}, simultaneous',
          ring_config(protocol, loss)) for loss in losses.LOSSES]
  out += [(f'non_saturating, {rule}', ring_config(protocol, update_rule=rule))
          for rule in steps.STEPS if rule != 'simultaneous']
  out.append(('RpGAN + R1 + R2 (r3gan)', ring_config(protocol, variants=',r3gan')))
  return out


def train_with_snapshots(config, snapshot_steps, on_snapshot) -> None:
  """Trains ``config`` on its toy data, calling on_snapshot(step, game, state).

  The trainer's step runs in one ``lax.scan`` per stretch between snapshots;
  batch t is the dataset's batch t, as in ``train.train_and_evaluate``.
  """
  dataset = create_dataset(config.data, config.seed, None)
  game = train.create_game(config, SHAPE)
  state = train.init_state(config, game, SHAPE)
  step_fn = steps.make_train_step(game, config.train.update_rule, config.train.d_steps)
  run = jax.jit(lambda state, batches: jax.lax.scan(step_fn, state, batches))
  per_step = config.train.batch_size * config.train.d_steps
  done = 0
  for target in snapshot_steps:
    if target > done:
      batches = jax.tree.map(lambda *rows: np.stack(rows),
                             *[dataset.batch(t, per_step) for t in range(done, target)])
      state, metrics = run(state, batches)
      if not np.all(np.asarray(metrics['finite'])):
        print(f'  non-finite updates were skipped before step {target}', flush=True)
      done = target
    on_snapshot(done, game, state)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=5000, help='train steps per run')
  parser.add_argument('--protocol', choices=sorted(PROTOCOLS), default='pacgan',
                      help="pacgan: PacGAN's networks and optimiser; toy2d: the small MLPs")
  parser.add_argument('--columns', type=int, default=5,
                      help='snapshots per run, evenly spaced from step 0')
  parser.add_argument('--output', default=os.path.join(REPO, 'docs', 'figures',
                                                       'dynamics_2d.png'))
  args = parser.parse_args()
  snapshot_steps = np.linspace(0, args.steps, args.columns).round().astype(int).tolist()
  runs = rows(args.protocol)
  fig, axes = plt.subplots(len(runs), len(snapshot_steps),
                           figsize=(2.2 * len(snapshot_steps), 2.3 * len(runs)))
  base = ring_config(args.protocol)
  z = jax.random.normal(jax.random.PRNGKey(1), (NUM_SAMPLES, base.model.z_dim))
  modes = mode_metrics.ring_modes()
  real = create_dataset(base.data, 0, None).batch(0, 1024)['x']
  for row, (label, config) in enumerate(runs):
    start = time.perf_counter()

    def draw(step, game, state, row=row, label=label):
      fake = np.asarray(train.make_sampler(game)(state, {'z': z}))
      cover = mode_metrics.mode_coverage(fake, modes.means, modes.std)
      ax = axes[row, snapshot_steps.index(step)]
      ax.scatter(real[:, 0], real[:, 1], s=1, c='0.6')
      ax.scatter(fake[:, 0], fake[:, 1], s=1, c='tab:red', alpha=0.5)
      ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), aspect='equal', xticks=[], yticks=[])
      ax.set_title(f'step {step}: {int(cover.modes_captured)}/8, '
                   f'{float(cover.high_quality_percent):.0f}%', fontsize=8)
      if step == 0:
        ax.set_ylabel(label, fontsize=8)
      if step == snapshot_steps[-1]:
        print(f'{label:40s} modes {int(cover.modes_captured)}/8, high quality '
              f'{float(cover.high_quality_percent):.1f}%  '
              f'({time.perf_counter() - start:.0f} s)', flush=True)

    train_with_snapshots(config, snapshot_steps, draw)
  what = ("PacGAN's protocol" if args.protocol == 'pacgan' else 'configs/toy2d.py:ring')
  # The title sits in a band of its own above the first row's panel titles.
  fig.suptitle(f'GANs on the 8-mode ring ({what}): G(z) (red) over data (grey)\n'
               'panel title: step, modes captured, % samples within 3 std of a mode',
               fontsize=10, y=1 - 0.1 / fig.get_figheight(), va='top')
  save_figure(fig, args.output, dpi=70, title_inches=0.8)


if __name__ == '__main__':
  main()
