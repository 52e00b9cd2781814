"""``in_batches``: a function over the rows of arrays too large to pass at once."""

from __future__ import annotations

from typing import Callable

import numpy as np


def in_batches(fn: Callable, arrays, batch_size: int = 500) -> np.ndarray:
  """fn over the leading axis of ``arrays``, ``batch_size`` rows at a time.

  The last batch is zero-padded to ``batch_size`` (the padding rows are
  dropped from the output), so that a jitted ``fn`` compiles once; memory is
  that of one batch (conv activations of 10k digits at once would take
  ~0.5 GB). ``fn`` must treat rows independently (models in eval mode).

  Args:
    fn: (b, ...) -> (b, ...); with a tuple of arrays, fn(*rows).
    arrays: one (N, ...) array, or a tuple of them with the same N.
    batch_size: b.

  Returns:
    (N, ...) numpy array.
  """
  single = not isinstance(arrays, tuple)
  arrays = tuple(np.asarray(a) for a in ((arrays,) if single else arrays))
  outputs = []
  for start in range(0, len(arrays[0]), batch_size):
    rows = [a[start:start + batch_size] for a in arrays]
    size = len(rows[0])
    padded = [np.pad(r, [(0, batch_size - size)] + [(0, 0)] * (r.ndim - 1)) for r in rows]
    outputs.append(np.asarray(fn(*padded))[:size])
  return np.concatenate(outputs)
