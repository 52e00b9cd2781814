"""gan_jax/plot.py: the files a run leaves in plots/, the data of their lines, sweeps, bad input.

The metrics are read back here with json, independently of plot.py's reader,
and compared with what the matplotlib objects of each figure hold.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from configs import toy2d
from gan_jax import plot, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def _lines(fig, panel=0):
  """{label: (xdata, ydata)} of one panel's lines."""
  return {l.get_label(): (np.asarray(l.get_xdata(), float), np.asarray(l.get_ydata(), float))
          for l in fig.axes[panel].lines}


@pytest.fixture(scope='module')
def seeds_run(tmp_path_factory):
  """A tiny 2-seed ring run: logged every step, grids and the modes evaluator every 2."""
  config = toy2d.get_config('tiny')
  config.train.num_seeds = 2
  config.train.num_steps = 6
  config.log.log_every = 1
  config.eval.modes.every = 2
  config.eval.modes.num_samples = 500
  workdir = str(tmp_path_factory.mktemp('seeds'))
  train.train_and_evaluate(config, workdir)
  return workdir


def test_a_run_ends_with_its_plots_and_gif(seeds_run):
  out = os.path.join(seeds_run, 'plots')
  assert sorted(os.listdir(out)) == ['d_outputs.png', 'eval.png', 'grad_norms.png',
                                     'losses.png', 'samples.gif']
  for name in ('losses.png', 'd_outputs.png', 'grad_norms.png'):
    assert Image.open(os.path.join(out, name)).size == (700, 400)  # 7 x 4 in at 100 dpi
  gif = Image.open(os.path.join(out, 'samples.gif'))
  grids = [os.path.join(seeds_run, f'samples_{s:06d}.png') for s in (2, 4, 6)]
  assert gif.n_frames == 3 and gif.is_animated
  assert gif.size == Image.open(grids[0]).size
  # Each frame is its grid (up to the GIF's 256-colour palette).
  for i, path in enumerate(grids):
    gif.seek(i)
    frame = np.asarray(gif.convert('RGB'), float)
    grid = np.asarray(Image.open(path).convert('RGB'), float)
    assert np.abs(frame - grid).mean() < 3, i
    if i:
      assert np.abs(frame - previous).mean() > 0.1  # the grids change over training
    previous = frame


def test_curves_hold_the_logged_values_and_the_seed_band(seeds_run):
  records = _jsonl(os.path.join(seeds_run, 'metrics.jsonl'))
  steps = np.array([r['step'] for r in records])
  assert steps.tolist() == [1, 2, 3, 4, 5, 6]
  figures = plot.make_figures(plot.find_runs(seeds_run))
  losses = _lines(figures['losses.png'])
  assert set(losses) == {'d_loss', 'g_loss'}
  for key in ('d_loss', 'g_loss'):
    x, y = losses[key]
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_array_equal(y, [r[key] for r in records])  # the mean over seeds
  assert set(_lines(figures['d_outputs.png'])) == {'D(x)', 'D(G(z))'}
  np.testing.assert_array_equal(_lines(figures['d_outputs.png'])['D(G(z))'][1],
                                [r['d_fake'] for r in records])
  assert set(_lines(figures['grad_norms.png'])) == {'d_grad_norm', 'g_grad_norm'}
  # The band spans the two seeds at every step: its polygon passes through
  # (step, lower seed) and (step, higher seed).
  [band] = [c for c in figures['losses.png'].axes[0].collections
            if c.get_label() == 'd_loss (seeds min-max)']
  vertices = {tuple(v) for v in np.round(band.get_paths()[0].vertices, 9)}
  for r in records:
    low, high = sorted([r['seed0/d_loss'], r['seed1/d_loss']])
    assert low < high
    assert (r['step'], round(low, 9)) in vertices and (r['step'], round(high, 9)) in vertices


def test_eval_panels_with_the_real_floor(seeds_run):
  evals = _jsonl(os.path.join(seeds_run, 'eval.jsonl'))
  with open(os.path.join(seeds_run, 'eval_floor.json')) as f:
    floor = json.load(f)
  assert [r['step'] for r in evals] == [2, 4, 6]
  fig = plot.make_figures(plot.find_runs(seeds_run))['eval.png']
  metrics = ['modes/hq_percent', 'modes/modes', 'modes/reverse_kl']
  assert sorted(evals[0]) == sorted(metrics + [m + '_stderr' for m in metrics] + ['step'])
  assert [ax.get_title() for ax in fig.axes] == metrics
  for panel, metric in enumerate(metrics):
    lines = _lines(fig, panel)
    np.testing.assert_array_equal(lines[metric][0], [2, 4, 6])
    # null (a non-finite value) is a gap in the line
    np.testing.assert_array_equal(
        lines[metric][1], [np.nan if r[metric] is None else r[metric] for r in evals])
    np.testing.assert_array_equal(lines['real vs real'][1], [floor[metric]] * 2)
    [dashed] = [l for l in fig.axes[panel].lines if l.get_label() == 'real vs real']
    assert dashed.get_linestyle() == '--'
  # Two seeds: a band of +- the standard error around the mean.
  [band] = [c for c in fig.axes[0].collections
            if c.get_label() == 'modes/hq_percent (seeds, +-stderr)']
  vertices = {tuple(v) for v in np.round(band.get_paths()[0].vertices, 9)}
  for r in evals:
    mean, se = r['modes/hq_percent'], r['modes/hq_percent_stderr']
    assert {(r['step'], round(mean - se, 9)), (r['step'], round(mean + se, 9))} <= vertices


def test_a_sweep_directory_overlays_its_runs(tmp_path):
  config = toy2d.get_config('tiny')
  config.log.plots = False
  for seed in (0, 1):
    config.seed = seed
    train.train_and_evaluate(config, str(tmp_path / f'seed={seed}'))
  assert not os.path.exists(tmp_path / 'seed=0' / 'plots')  # log.plots=False
  written = plot.plot_workdir(str(tmp_path))
  assert sorted(os.path.basename(p) for p in written) == [
      'd_outputs.png', 'grad_norms.png', 'losses.png']  # no GIF for several runs
  lines = _lines(plot.make_figures(plot.find_runs(str(tmp_path)))['losses.png'])
  assert set(lines) == {'seed=0: d_loss', 'seed=0: g_loss', 'seed=1: d_loss', 'seed=1: g_loss'}
  for seed in (0, 1):
    records = _jsonl(tmp_path / f'seed={seed}' / 'metrics.jsonl')
    np.testing.assert_array_equal(lines[f'seed={seed}: d_loss'][1], [r['d_loss'] for r in records])
  assert not np.array_equal(lines['seed=0: d_loss'][1], lines['seed=1: d_loss'][1])


def _cli(workdir):
  return subprocess.run([sys.executable, '-m', 'gan_jax.plot', f'--workdir={workdir}'],
                        cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cli_redraws_and_bad_input_is_one_line(tmp_path, seeds_run):
  os.remove(os.path.join(seeds_run, 'plots', 'losses.png'))
  result = _cli(seeds_run)
  assert result.returncode == 0, result.stderr
  assert os.path.join(seeds_run, 'plots', 'losses.png') in result.stdout.splitlines()
  assert os.path.exists(os.path.join(seeds_run, 'plots', 'losses.png'))

  (tmp_path / 'empty' / 'sub').mkdir(parents=True)
  result = _cli(tmp_path / 'empty')
  assert result.returncode == 1
  assert result.stderr.splitlines() == [
      f"error: --workdir='{tmp_path / 'empty'}' has no metrics.jsonl, nor has any of its "
      'subdirectories: not a training run or a sweep directory (or no step was logged yet)']
  result = _cli(tmp_path / 'missing')
  assert (result.returncode, result.stderr.splitlines()) == (
      1, [f"error: --workdir='{tmp_path / 'missing'}' is not a directory"])
