"""Writes docs/progress_line.md: a real progress line of the default DCGAN config.

    python experiments/progress_line.py

Trains configs/dcgan.py for --num_steps steps in a temporary workdir (no
evaluators) and keeps its last progress line, so that the example the README
shows is what the code prints today, not a line typed by hand.
"""

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, 'docs', 'progress_line.md')


def main(num_steps: int = 100) -> None:
  with tempfile.TemporaryDirectory() as workdir:
    proc = subprocess.run(
        [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py',
         f'--workdir={workdir}', f'--config.train.num_steps={num_steps}',
         '--config.log.log_every=50', '--config.eval.features.every=-1',
         "--config.log.best_metric=", '--config.log.plots=False'],
        cwd=ROOT, capture_output=True, text=True, check=True)
  lines = [re.sub(r'^.*?\] ', '', l) for l in proc.stderr.splitlines()
           if re.search(r'\] step \d+/\d+ ', l)]
  if not lines:
    raise SystemExit('error: the run printed no progress line:\n' + proc.stderr[-2000:])
  with open(OUTPUT, 'w') as f:
    f.write(f'```\n{lines[-1]}\n```\n\n(Written by `python experiments/progress_line.py`: '
            f'the last line of {num_steps} steps of `configs/dcgan.py`.)\n')
  print(open(OUTPUT).read())


if __name__ == '__main__':
  main(*[int(a) for a in sys.argv[1:]])
