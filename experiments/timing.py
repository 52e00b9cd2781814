"""Timing and machine helpers the experiment scripts share."""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Callable

import numpy as np


def timed(fn: Callable[[], object], repeats: int, warmup: int) -> tuple[float, float, float]:
  """(median, min, max) seconds of ``fn()``, which must block, after ``warmup`` calls."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times)), float(min(times)), float(max(times))


def cpu_name() -> str:
  """The CPU's model name (from /proc/cpuinfo where there is one)."""
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
  except (OSError, StopIteration):
    pass
  return cpu


def loop_steps_per_sec(workdir: str) -> float:
  """Median steps/s of a finished run's progress lines (metrics.jsonl) after the first,
  which includes compilation."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rates = [json.loads(line)['steps_per_sec'] for line in f]
  return float(np.median(rates[1:]))
