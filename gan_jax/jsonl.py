"""JSON-lines logs (metrics.jsonl, eval.jsonl): append one record, read them back.

Kept free of JAX and TensorFlow imports, so that the run summaries, the sweep
table and the plots read a run without starting either.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

# A run's logs in its workdir: the training scalars of every log step, and
# every evaluation. Named here, the module without JAX, for all readers.
METRICS_LOG = 'metrics.jsonl'
EVAL_LOG = 'eval.jsonl'


def append(path: str, record: dict) -> None:
  """Appends ``record`` as one JSON line; NaN and inf become null (strict JSON).

  The line is written with one ``write`` call on a file opened for appending,
  so concurrent readers see whole lines, and a crash leaves at most a last
  line without its newline (``read`` skips a line that does not parse).
  """
  def clean(v):
    if isinstance(v, (float, np.floating)):
      return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
      return int(v)
    return v
  line = json.dumps({k: clean(v) for k, v in record.items()}, sort_keys=True)
  with open(path, 'a') as f:
    f.write(line + '\n')
    f.flush()


def read(path: str, by_step: bool = False, missing_ok: bool = False) -> list[dict]:
  """The records of ``path``, skipping lines that do not parse (a torn last line).

  Args:
    path: the file.
    by_step: sort the records by their 'step'.
    missing_ok: an absent file gives [] instead of FileNotFoundError.
  """
  if missing_ok and not os.path.exists(path):
    return []
  records = []
  with open(path) as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:  # a run killed in the middle of a write
        pass
  return sorted(records, key=lambda r: r['step']) if by_step else records
