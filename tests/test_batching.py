"""batching.in_batches: the same rows as one call, one shape seen, tuples unpacked."""

import numpy as np

from gan_jax.batching import in_batches


def test_in_batches_equals_one_call_with_one_shape_and_tuples():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(23, 3)), rng.normal(size=(23, 3))
  shapes = []

  def fn(a, b=None):
    shapes.append(a.shape)
    return a * 2 if b is None else a - b

  np.testing.assert_array_equal(in_batches(fn, x, batch_size=5), x * 2)
  assert set(shapes) == {(5, 3)}  # the last batch of 3 was padded to 5
  np.testing.assert_array_equal(in_batches(fn, (x, y), batch_size=10), x - y)
  np.testing.assert_array_equal(in_batches(fn, x[:2], batch_size=10), x[:2] * 2)
