"""experiments/mode_collapse.py --quick: the sweeps train, the tables read their eval.jsonl."""

import glob
import json
import os
import re
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _final(workdir, key):
  with open(os.path.join(workdir, 'eval.jsonl')) as f:
    return [json.loads(line) for line in f][-1][key]


def test_quick_tables_are_the_mean_and_stderr_of_the_runs(tmp_path):
  output = tmp_path / 'mode_collapse.md'
  runs = tmp_path / 'runs'
  env = dict(os.environ, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  out = subprocess.run(
      [sys.executable, os.path.join(REPO, 'experiments', 'mode_collapse.py'), '--quick',
       '--seeds=2', '--only=mode_collapse_2d,mode_collapse_stacked_r3gan',
       f'--output={output}', f'--runs_dir={runs}'],
      capture_output=True, text=True, env=env, cwd=REPO, timeout=400, check=False)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
  text = output.read_text()
  for published in ('| GAN | [PacGAN]', '| 6.3 | 98.2 | 0.450 | 17.3 | 94.8 | 0.700 |',
                    '| GDPP | [GDPP]', '| RpGAN + R1 + R2 | [R3GAN]', '| 1000 | 0.078 |',
                    '| 667.4 | 1.81 |'):
    assert published in text, published
  # Our ring cells: mean +- standard error of the two seeds' last evaluation,
  # recomputed here from the runs' own eval.jsonl.
  ring_dirs = sorted(glob.glob(str(runs / 'mode_collapse_2d' / 'data.name=ring,seed=*')))
  assert len(ring_dirs) == 2
  modes = [_final(d, 'modes/modes') for d in ring_dirs]
  hq = [_final(d, 'modes/hq_percent') for d in ring_dirs]
  line = next(l for l in text.splitlines() if l.startswith('| **GAN, PacGAN protocol**'))
  for values, fmt in ((modes, '.1f'), (hq, '.1f')):
    mean, se = np.mean(values), np.std(values, ddof=1) / np.sqrt(2)
    assert f'{mean:{fmt}} ± {se:{fmt}}' in line, (values, line)
  assert '| 2 |' in line and '0.01M' in line  # 2 seeds x 100 steps x batch 100
  stacked = next(l for l in text.splitlines() if l.startswith('| **RpGAN + R1 + R2, D 1/4'))
  assert len(re.findall(r'\d ± \d', stacked)) == 2
  assert 'real samples (floor)' in text and 'real stacked digits (floor)' in text
  assert 'QUICK' in text and (tmp_path / 'figures' / 'mode_collapse_curves.png').stat().st_size
  # A second call trains nothing: the finished runs are reused.
  again = subprocess.run(
      [sys.executable, os.path.join(REPO, 'experiments', 'mode_collapse.py'), '--quick',
       '--seeds=2', '--only=mode_collapse_2d', f'--output={output}', f'--runs_dir={runs}'],
      capture_output=True, text=True, env=env, cwd=REPO, timeout=200, check=False)
  assert again.returncode == 0 and 'start ' not in again.stdout, again.stdout[-2000:]
