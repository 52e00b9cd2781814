"""Sample-quality metrics in a feature space: FID, KID, precision/recall, density/coverage.

Every function takes two sets of feature vectors, ``(N, d)`` and ``(M, d)``
float arrays (e.g. the 128-d penultimate layer of ``classifier.DigitCNN``),
and is computed in JAX on the default device, in float32.

Matrix products use ``Precision.HIGHEST``: on GPUs and TPUs the default
precision of a float32 matmul may be TF32 or bfloat16 (about 3 significant
digits), which is enough for a network but not for a covariance or a distance
that is then compared against a radius.

Pairwise distances are computed ``chunk_size`` query rows at a time (an
``(chunk_size, M)`` block in memory, never ``(N, M)``), so 10k x 10k sets need
about 40 MB per block with the default chunk of 1,024 rows.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

_HIGHEST = jax.lax.Precision.HIGHEST
DEFAULT_CHUNK = 1024


def _check_features(**sets) -> None:
  """Raises a ValueError naming the argument unless all are (N_i, d) with one d."""
  dims = {}
  for name, x in sets.items():
    if np.ndim(x) != 2:
      raise ValueError(f'{name} must be a (num_samples, dim) array of features; '
                       f'got shape {np.shape(x)}')
    dims[name] = np.shape(x)[1]
  if len(set(dims.values())) > 1:
    raise ValueError(f'feature sets have different dimensions: {dims}')


# ----------------------------------------------------------------------------
# Frechet distance (FID).


def gaussian_moments(feats: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean and unbiased covariance of a feature set, on device.

  mu = mean_i x_i,  S = sum_i (x_i - mu)(x_i - mu)^T / (N - 1).

  Args:
    feats: (N, d) features, N >= 2.

  Returns:
    mu (d,) and S (d, d), float32. Compute them once for a fixed reference set
    (the real data) and pass them to ``frechet_distance_from_moments``.
  """
  _check_features(feats=feats)
  if np.shape(feats)[0] < 2:
    raise ValueError(f'a covariance needs at least 2 samples; got {np.shape(feats)[0]}')
  return _moments(jnp.asarray(feats, jnp.float32))


@jax.jit
def _moments(x):
  mu = jnp.mean(x, axis=0)
  # Centering before the product keeps float32 from subtracting two large,
  # nearly equal numbers (E[xx^T] - mu mu^T) when |mu| >> std.
  xc = x - mu
  cov = jnp.matmul(xc.T, xc, precision=_HIGHEST) / (x.shape[0] - 1)
  return mu, cov


def frechet_distance_from_moments(mu_a, cov_a, mu_b, cov_b) -> float:
  """Frechet distance between N(mu_a, S_a) and N(mu_b, S_b), in float64 on the host.

  FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}),

  with Tr (S_a S_b)^{1/2} = sum_i sqrt(lambda_i), lambda_i the eigenvalues of
  the symmetric PSD matrix S_a^{1/2} S_b S_a^{1/2} (similar to S_a S_b),
  negative round-off eigenvalues clipped to 0. Unlike scipy's ``sqrtm`` this
  needs no complex arithmetic and cannot return an imaginary part.

  Args:
    mu_a, mu_b: (d,) means.
    cov_a, cov_b: (d, d) covariances.

  Returns:
    The distance as a Python float (>= 0 up to round-off).
  """
  # Only this d x d algebra runs in float64 numpy: FD is a difference of traces
  # of size ~Tr(S), and float32 eigendecompositions (JAX's default dtype) would
  # lose ~1e-7 * Tr(S) * d of it to cancellation; the cost here is O(d^3), tiny
  # next to computing the moments, which stay on device.
  mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
  cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
  w, v = scipy.linalg.eigh(cov_a)
  sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  m = sqrt_a @ cov_b @ sqrt_a
  lam = scipy.linalg.eigvalsh((m + m.T) / 2)
  tr_sqrt = np.sum(np.sqrt(np.clip(lam, 0, None)))
  diff = mu_a - mu_b
  return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_sqrt)


def frechet_distance(feats_a, feats_b) -> float:
  """FID between two feature sets, each summarised by a Gaussian.

  FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}); see
  ``gaussian_moments`` (on device, float32) and
  ``frechet_distance_from_moments`` (host, float64). Not jittable: it returns
  a Python float.

  Args:
    feats_a: (N, d) features, N >= 2.
    feats_b: (M, d) features, M >= 2.

  Returns:
    The distance as a Python float.
  """
  _check_features(feats_a=feats_a, feats_b=feats_b)
  return frechet_distance_from_moments(*gaussian_moments(feats_a),
                                       *gaussian_moments(feats_b))


# ----------------------------------------------------------------------------
# Kernel inception distance (KID).


class KID(NamedTuple):
  """Mean and standard deviation (ddof=0, as torch-fidelity) over subsets."""
  mean: jax.Array
  std: jax.Array


def polynomial_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
  """k(x, y) = (x . y / d + 1)^3 for all pairs: (n, d), (m, d) -> (n, m)."""
  d = x.shape[-1]
  return (jnp.matmul(x, y.T, precision=_HIGHEST) / d + 1.0) ** 3


def mmd2_unbiased(x: jax.Array, y: jax.Array) -> jax.Array:
  """Unbiased MMD^2 with the cubic polynomial kernel (Binkowski et al. 2018).

  MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1))
          + sum_{i != j} k(y_i, y_j) / (n (n-1))
          - 2 sum_{i, j} k(x_i, y_j) / (m n).

  Args:
    x: (m, d), m >= 2.
    y: (n, d), n >= 2.

  Returns:
    A float32 scalar; it can be negative (the estimator is unbiased).
  """
  m, n = x.shape[0], y.shape[0]
  k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
  k_xy = polynomial_kernel(x, y)
  return ((jnp.sum(k_xx) - jnp.trace(k_xx)) / (m * (m - 1))
          + (jnp.sum(k_yy) - jnp.trace(k_yy)) / (n * (n - 1))
          - 2 * jnp.sum(k_xy) / (m * n))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def kid_subset_indices(rng: jax.Array, num_a: int, num_b: int, num_subsets: int,
                       subset_size: int) -> tuple[jax.Array, jax.Array]:
  """The rows ``kid`` uses: subset s draws ``subset_size`` rows of each set.

  Rows are drawn without replacement within a subset, independently across
  subsets, from the keys fold_in(rng, s).

  Args:
    rng: a PRNG key.
    num_a, num_b: sizes of the two feature sets.
    num_subsets: S.
    subset_size: m.

  Returns:
    idx_a, idx_b: (S, m) int32 row indices into feats_a and feats_b.
  """
  def draw(s):
    key_a, key_b = jax.random.split(jax.random.fold_in(rng, s))
    return (jax.random.choice(key_a, num_a, (subset_size,), replace=False),
            jax.random.choice(key_b, num_b, (subset_size,), replace=False))
  return jax.vmap(draw)(jnp.arange(num_subsets))


def kid(feats_a, feats_b, num_subsets: int = 100, subset_size: int = 1000,
        rng: jax.Array | None = None) -> KID:
  """Kernel inception distance: unbiased MMD^2 averaged over random subsets.

  KID = (1/S) sum_s MMD^2_u(A[idx_a[s]], B[idx_b[s]]) with the kernel
  k(x, y) = (x . y / d + 1)^3 (see ``mmd2_unbiased``) and the subsets of
  ``kid_subset_indices``. Subsets are evaluated one after another (lax.map),
  so memory is three (m, m) kernel blocks whatever S is.

  Args:
    feats_a: (N, d) features.
    feats_b: (M, d) features.
    num_subsets: S.
    subset_size: m, 2 <= m <= min(N, M).
    rng: PRNG key choosing the subsets (default PRNGKey(0)).

  Returns:
    KID(mean, std): float32 scalars; std is over the S subset estimates.
  """
  _check_features(feats_a=feats_a, feats_b=feats_b)
  n_a, n_b = np.shape(feats_a)[0], np.shape(feats_b)[0]
  if not 2 <= subset_size <= min(n_a, n_b):
    raise ValueError(f'kid: subset_size={subset_size} must be in [2, min(N, M)] '
                     f'= [2, {min(n_a, n_b)}] for sets of {n_a} and {n_b} samples')
  if num_subsets < 1:
    raise ValueError(f'kid: num_subsets={num_subsets} must be >= 1')
  rng = jax.random.PRNGKey(0) if rng is None else rng
  idx_a, idx_b = kid_subset_indices(rng, n_a, n_b, num_subsets, subset_size)
  mmds = _subset_mmds(jnp.asarray(feats_a, jnp.float32),
                      jnp.asarray(feats_b, jnp.float32), idx_a, idx_b)
  return KID(jnp.mean(mmds), jnp.std(mmds))


@jax.jit
def _subset_mmds(a, b, idx_a, idx_b):
  return jax.lax.map(lambda ij: mmd2_unbiased(a[ij[0]], b[ij[1]]), (idx_a, idx_b))


# ----------------------------------------------------------------------------
# k-NN manifold metrics: precision/recall and density/coverage.
#
# Both estimate a set's support as the union of balls B(x_i, r_k(x_i)), r_k the
# distance from x_i to its k-th nearest neighbour in its own set (x_i itself
# excluded). Balls are closed (||y - x_i|| <= r), as in the papers' definitions;
# the `prdc` package uses strict <, which differs only on exact ties.
# Comparisons are between squared distances: same order, no square roots.


def _map_distance_rows(row_fn: Callable[[jax.Array], jax.Array], queries: jax.Array,
                       refs: jax.Array, chunk_size: int) -> jax.Array:
  """row_fn applied to the squared distances of each query to all refs.

  ||q - r||^2 = ||q||^2 + ||r||^2 - 2 q.r, computed for ``chunk_size`` queries
  at a time (lax.map over chunks), clipped at 0 against round-off.

  Args:
    row_fn: (c, M) squared distances -> (c, ...) per-query values.
    queries: (N, d).
    refs: (M, d).
    chunk_size: c; N is padded up to a multiple of c (padding rows dropped).

  Returns:
    (N, ...): the rows of row_fn's outputs.
  """
  n = queries.shape[0]
  chunk_size = min(chunk_size, n)
  num_chunks = -(-n // chunk_size)
  padded = jnp.pad(queries, ((0, num_chunks * chunk_size - n), (0, 0)))
  ref_sq = jnp.sum(refs * refs, axis=1)

  def one_chunk(q):
    d2 = (jnp.sum(q * q, axis=1)[:, None] + ref_sq[None, :]
          - 2 * jnp.matmul(q, refs.T, precision=_HIGHEST))
    return row_fn(jnp.maximum(d2, 0.0))

  out = jax.lax.map(one_chunk, padded.reshape(num_chunks, chunk_size, -1))
  return out.reshape(num_chunks * chunk_size, *out.shape[2:])[:n]


def _kth_smallest(values: jax.Array, k: int) -> jax.Array:
  """(c, M) -> (c,): the k-th smallest entry of each row (k = 1 is the minimum)."""
  # k passes of argmin, each masking the entry it found: for the small k of
  # these metrics this is ~6x faster on CPU than lax.top_k or a sort of the
  # 10k-wide rows, and masking one entry at a time keeps ties (duplicates).
  rows = jnp.arange(values.shape[0])
  for _ in range(k - 1):
    values = values.at[rows, jnp.argmin(values, axis=1)].set(jnp.inf)
  return jnp.min(values, axis=1)


def _kth_nn_sq_radii(x: jax.Array, k: int, chunk_size: int) -> jax.Array:
  """(N,) squared distance from each row of x to its k-th nearest other row."""
  # The k+1 smallest distances of a row include the row itself (distance 0),
  # so the (k+1)-th smallest is the k-th neighbour among the others.
  return _map_distance_rows(lambda d2: _kth_smallest(d2, k + 1), x, x, chunk_size)


def _count_in_balls(queries, centers, sq_radii, chunk_size) -> jax.Array:
  """(N,) number of balls B(centers_j, sqrt(sq_radii_j)) containing each query."""
  return _map_distance_rows(
      lambda d2: jnp.sum(d2 <= sq_radii[None, :], axis=1), queries, centers,
      chunk_size)


def _check_knn(k: int, **sets) -> None:
  _check_features(**sets)
  for name, x in sets.items():
    if not 1 <= k < np.shape(x)[0]:
      raise ValueError(f'k={k} nearest neighbours need 1 <= k < len({name}) '
                       f'= {np.shape(x)[0]}')


def knn_radii(feats, k: int, chunk_size: int = DEFAULT_CHUNK) -> jax.Array:
  """r_k(x_i) = distance from x_i to its k-th nearest neighbour in feats (self excluded).

  Args:
    feats: (N, d), N > k.
    k: neighbour rank.
    chunk_size: query rows per distance block.

  Returns:
    (N,) float32 radii.
  """
  _check_knn(k, feats=feats)
  return jnp.sqrt(_jit_kth_nn_sq_radii(jnp.asarray(feats, jnp.float32), k, chunk_size))


_jit_kth_nn_sq_radii = jax.jit(_kth_nn_sq_radii, static_argnums=(1, 2))


class PrecisionRecall(NamedTuple):
  precision: jax.Array
  recall: jax.Array


def precision_recall(real, fake, k: int = 3,
                     chunk_size: int = DEFAULT_CHUNK) -> PrecisionRecall:
  """Improved precision and recall (Kynkaanniemi et al. 2019).

  precision = (1/M) sum_j 1[exists i: ||y_j - x_i|| <= r_k(x_i)]  (fake in real manifold)
  recall    = (1/N) sum_i 1[exists j: ||x_i - y_j|| <= r_k(y_j)]  (real in fake manifold)

  with x the real and y the fake features and r_k the k-th nearest-neighbour
  distance within the point's own set (``knn_radii``).

  Args:
    real: (N, d) real features, N > k.
    fake: (M, d) generated features, M > k.
    k: neighbour rank of the radii (3 in the paper).
    chunk_size: query rows per distance block.

  Returns:
    PrecisionRecall of float32 scalars in [0, 1].
  """
  _check_knn(k, real=real, fake=fake)
  return _precision_recall(jnp.asarray(real, jnp.float32),
                           jnp.asarray(fake, jnp.float32), k, chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _precision_recall(real, fake, k, chunk_size):
  real_r2 = _kth_nn_sq_radii(real, k, chunk_size)
  fake_r2 = _kth_nn_sq_radii(fake, k, chunk_size)
  fake_in_real = _count_in_balls(fake, real, real_r2, chunk_size) > 0
  real_in_fake = _count_in_balls(real, fake, fake_r2, chunk_size) > 0
  return PrecisionRecall(jnp.mean(fake_in_real), jnp.mean(real_in_fake))


class DensityCoverage(NamedTuple):
  density: jax.Array
  coverage: jax.Array


def density_coverage(real, fake, k: int = 5,
                     chunk_size: int = DEFAULT_CHUNK) -> DensityCoverage:
  """Density and coverage (Naeem et al. 2020), both built on real balls only.

  density  = 1/(k M) sum_j sum_i 1[||y_j - x_i|| <= r_k(x_i)]
  coverage = (1/N) sum_i 1[min_j ||x_i - y_j|| <= r_k(x_i)]

  Density counts how many real balls hold each fake sample (it can exceed 1);
  coverage is the fraction of real balls that hold at least one fake sample.

  Args:
    real: (N, d) real features, N > k.
    fake: (M, d) generated features.
    k: neighbour rank of the real radii (5 in the paper).
    chunk_size: query rows per distance block.

  Returns:
    DensityCoverage of float32 scalars; density >= 0, coverage in [0, 1].
  """
  _check_knn(k, real=real)
  _check_features(real=real, fake=fake)
  return _density_coverage(jnp.asarray(real, jnp.float32),
                           jnp.asarray(fake, jnp.float32), k, chunk_size)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _density_coverage(real, fake, k, chunk_size):
  real_r2 = _kth_nn_sq_radii(real, k, chunk_size)
  density = jnp.mean(_count_in_balls(fake, real, real_r2, chunk_size)) / k
  nearest_fake_sq = _map_distance_rows(lambda d2: jnp.min(d2, axis=1),
                                       real, fake, chunk_size)
  return DensityCoverage(density, jnp.mean(nearest_fake_sq <= real_r2))
