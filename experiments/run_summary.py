"""Summarises finished runs as a Markdown table, from their TensorBoard events.

    python experiments/run_summary.py runs/dcgan runs/digit7

Prints one row per workdir: config, data, steps, median steps/s over the run
(compilation excluded: the first logging interval is dropped), wall-clock
time, and the final losses and D outputs. The README's run table is this
script's output.
"""

from __future__ import annotations

import glob
import json
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top


def read_scalars(workdir: str) -> dict[str, list[tuple[int, float, float]]]:
  """{tag: [(step, wall_time, value), ...]} from every event file in workdir."""
  from tensorflow.compat.v1 import train as tf_train  # pylint: disable=g-import-not-at-top
  scalars: dict[str, list] = {}
  from tensorflow import errors  # pylint: disable=g-import-not-at-top
  for path in sorted(glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))):
    try:
      for event in tf_train.summary_iterator(path):
        for value in event.summary.value:
          if value.HasField('simple_value'):
            scalars.setdefault(value.tag, []).append(
                (event.step, event.wall_time, value.simple_value))
    except errors.DataLossError:  # the last record of a run still writing
      pass
  return scalars


def summarise(workdir: str) -> dict:
  s = read_scalars(workdir)
  with open(os.path.join(workdir, 'config.json')) as f:
    config = json.load(f)
  with open(os.path.join(workdir, 'data.json')) as f:
    data = json.load(f)['description']
  rates = [v for _, _, v in s['train/steps_per_sec'][1:]] or [s['train/steps_per_sec'][0][2]]
  last = {k: v[-1][2] for k, v in s.items()}
  walls = [w for _, w, _ in s['train/d_loss']]
  return {
      'workdir': workdir, 'model': config['model']['name'], 'data': data,
      'steps': s['train/d_loss'][-1][0],
      'steps_per_sec': float(np.median(rates)),
      'minutes': (max(walls) - min(walls)) / 60,
      'd_loss': last['train/d_loss'], 'g_loss': last['train/g_loss'],
      'd_real': last['train/d_real'], 'd_fake': last['train/d_fake'],
  }


def main(workdirs):
  print('| run | model | data | steps | steps/s (median) | minutes | d_loss | g_loss '
        '| D(x) | D(G(z)) |')
  print('|---|---|---|---|---|---|---|---|---|---|')
  for workdir in workdirs:
    r = summarise(workdir)
    print(f"| `{r['workdir']}` | {r['model']} | {r['data']} | {r['steps']} | "
          f"{r['steps_per_sec']:.2f} | {r['minutes']:.1f} | {r['d_loss']:.3f} | "
          f"{r['g_loss']:.3f} | {r['d_real']:.3f} | {r['d_fake']:.3f} |")


if __name__ == '__main__':
  if len(sys.argv) < 2:
    sys.exit(__doc__)
  main(sys.argv[1:])
