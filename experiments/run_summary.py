"""Summarises finished runs as a Markdown table, from their metrics.jsonl.

    python experiments/run_summary.py runs/dcgan runs/digit7
    python experiments/run_summary.py --eval runs/dcgan runs/digit7

Prints one row per workdir: config, data, steps, median steps/s over the run
(compilation excluded: the first logging interval is dropped), wall-clock
time, and the final losses and D outputs, all read from the training scalars
the run appends to ``<workdir>/metrics.jsonl`` at every log step (no
TensorFlow or TensorBoard needed). With --eval it prints instead, per
workdir, the evaluations made during training (eval.jsonl) beside the
real-vs-real floor (eval_floor.json) and the step kept as best (best.json).
The README's tables are this script's output.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # runs from a checkout without installing the package
  sys.path.insert(0, ROOT)

from gan_jax import jsonl  # pylint: disable=g-import-not-at-top  (no JAX import)

METRICS_LOG = jsonl.METRICS_LOG


def read_metrics(workdir: str) -> list[dict]:
  """The records of <workdir>/metrics.jsonl in step order, skipping a torn last line."""
  return jsonl.read(os.path.join(workdir, METRICS_LOG), by_step=True)


def summarise(workdir: str) -> dict:
  """One row: model, data, last step, median steps/s, minutes, final losses and D outputs."""
  records = read_metrics(workdir)
  with open(os.path.join(workdir, 'config.json')) as f:
    config = json.load(f)
  with open(os.path.join(workdir, 'data.json')) as f:
    data = json.load(f)['description']
  rates = [r['steps_per_sec'] for r in records[1:]] or [records[0]['steps_per_sec']]
  walls = [r['time'] for r in records]
  last = records[-1]
  return {
      'workdir': workdir, 'model': config['model']['name'], 'data': data,
      'steps': last['step'],
      'steps_per_sec': float(np.median(rates)),
      'minutes': (max(walls) - min(walls)) / 60,
      # The two-player names; a task of other players (CycleGAN's g_ab, d_a,
      # ...) has none of them: NaN.
      **{k: last.get(k, float('nan')) for k in ('d_loss', 'g_loss', 'd_real', 'd_fake')},
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


EVAL_COLUMNS = ('fid', 'kid', 'precision', 'recall', 'density', 'coverage',
                'inception_score', 'classes_seen')


def eval_table(workdir: str) -> str:
  """The workdir's eval.jsonl records (one row per step) and the floor."""
  def read(name):
    with open(os.path.join(workdir, name)) as f:
      return json.load(f) if name.endswith('.json') else [
          json.loads(line) for line in f if line.strip()]
  records, floor = read('eval.jsonl'), read('eval_floor.json')
  best = read('best.json') if os.path.exists(os.path.join(workdir, 'best.json')) else {}
  prefix = next(iter(floor)).split('/')[0] + '/'
  columns = [c for c in EVAL_COLUMNS if prefix + c in floor]
  fmt = lambda v: '-' if v is None else f'{v:.4g}'
  lines = [f'`{workdir}` ({prefix[:-1]}; best {best.get("metric", "-")} at step '
           f'{best.get("step", "-")}):', '',
           '| step | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
  for r in records:
    mark = ' (best)' if r['step'] == best.get('step') else ''
    lines.append(f"| {r['step']}{mark} | "
                 + ' | '.join(fmt(r.get(prefix + c)) for c in columns) + ' |')
  lines.append('| real vs real | ' + ' | '.join(fmt(floor[prefix + c]) for c in columns)
               + ' |')
  return '\n'.join(lines)


if __name__ == '__main__':
  args = sys.argv[1:]
  if not args or args == ['--eval']:
    sys.exit(__doc__)
  if args[0] == '--eval':
    print('\n\n'.join(eval_table(w) for w in args[1:]))
  else:
    main(args)
