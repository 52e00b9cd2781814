"""The one timing helper of the benchmark scripts (benchmark.py, conv_layers.py)."""

from __future__ import annotations

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
