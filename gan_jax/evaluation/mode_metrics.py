"""Mode-collapse metrics: 2-D Gaussian mixtures, Stacked MNIST, label histograms.

All KL divergences here are in nats and are KL(p_gen || p_true) with p_true
uniform over the K modes or classes -- the "reverse KL" of PacGAN (Lin et al.
2018) and VEEGAN (Srivastava et al. 2017):

    KL(p || u) = sum_k p_k log(p_k / (1/K)) = log K - H(p),   0 log 0 = 0,

which is 0 for a perfectly balanced generator and log K when every sample
falls in one mode.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from gan_jax.data import toy

# PacGAN's threshold: a sample is high quality within 3 std of its nearest
# mode. In 2-D that holds for 1 - exp(-9/2) = 98.89% of the true samples.
HIGH_QUALITY_STDS = 3.0
STACKED_MNIST_MODES = 1000


def kl_to_uniform(counts: jax.Array) -> jax.Array:
  """KL(p || uniform) of the histogram ``counts`` (K,), p = counts / sum(counts).

  KL = sum_k p_k log(K p_k). NaN when all counts are 0 (p is undefined).
  """
  p = counts / jnp.sum(counts)
  return jnp.sum(xlogy(p, p)) + jnp.log(counts.shape[0])


# ----------------------------------------------------------------------------
# 2-D Gaussian mixtures (PacGAN's ring and grid protocol).


def ring_modes() -> toy.Mixture:
  """8 modes on the unit circle: means (cos, sin)(2 pi k / 8), k = 0..7; std 0.01.

  The same mixture as the 'ring' training data of ``gan_jax.data.toy``.
  """
  return toy.ring(num_modes=8, radius=1.0, std=0.01)


def grid_modes() -> toy.Mixture:
  """25 modes at {-4, -2, 0, 2, 4}^2; std 0.05 (the 'grid' training data)."""
  return toy.grid(side=5, spacing=2.0, std=0.05)


class ModeCoverage(NamedTuple):
  """The PacGAN 2-D metrics of a set of generated samples.

  Attributes:
    modes_captured: number of modes nearest to at least ``min_count``
      high-quality samples.
    high_quality_percent: 100 * (high-quality samples) / (all samples).
    reverse_kl: KL(p_hq || p_true), p_hq the histogram of the high-quality
      samples over their nearest modes (NaN when there are none).
    counts: (K,) that histogram.
  """
  modes_captured: jax.Array
  high_quality_percent: jax.Array
  reverse_kl: jax.Array
  counts: jax.Array


def kl_to_reference(counts: jax.Array, reference: jax.Array) -> jax.Array:
  """KL(p || q) of the histogram ``counts`` (K,), p = counts / sum, q (K,) > 0 summing to 1."""
  p = counts / jnp.sum(counts)
  return jnp.sum(xlogy(p, p) - xlogy(p, reference))


@jax.jit
def mode_coverage(samples: jax.Array, means: jax.Array, std: float,
                  weights: jax.Array | None = None, min_count: int = 1) -> ModeCoverage:
  """Modes captured, % high-quality samples and reverse KL (PacGAN, Sec. 4.1).

  Each sample x goes to its nearest mode k(x) = argmin_k ||x - mu_k||; it is
  high quality when ||x - mu_k(x)|| < 3 std (strict, as PacGAN's code).

    counts_k       = #{x high quality : k(x) = k}
    modes_captured = #{k : counts_k >= min_count}
    hq_percent     = 100 sum_k counts_k / N
    reverse_kl     = KL(counts / sum(counts) || w), w the true mode weights

  The histogram counts only high-quality samples, as PacGAN's MetricLogger
  does: a sample far from every mode (between two modes, or collapsed onto
  junk) belongs to no mode, and counting it in its nearest mode would let
  low-quality samples hide a collapse. Its cost is that the KL describes the
  hq_percent of the samples only -- read the two together.

  Args:
    samples: (N, 2) generated points (any dimension D works: (N, D)).
    means: (K, D) mode means, e.g. ``ring_modes().means``.
    std: the modes' (isotropic) standard deviation.
    weights: (K,) the true mode probabilities; None: uniform (PacGAN's).
    min_count: high-quality samples a mode needs to count as captured: 1 in
      PacGAN, 50 of 10,000 in RLS-GAN's unbalanced protocol.

  Returns:
    ModeCoverage of scalars and the (K,) int32 histogram.
  """
  samples, means = jnp.asarray(samples, jnp.float32), jnp.asarray(means, jnp.float32)
  # Differences rather than |x|^2 + |mu|^2 - 2 x.mu: exact for points that sit
  # on a mode, and (N, K, D) is small for 2-D toys.
  d2 = jnp.sum((samples[:, None, :] - means[None, :, :]) ** 2, axis=-1)
  nearest = jnp.argmin(d2, axis=1)
  high_quality = jnp.min(d2, axis=1) < (HIGH_QUALITY_STDS * std) ** 2
  counts = jnp.bincount(nearest, weights=high_quality.astype(jnp.int32),
                        length=means.shape[0])
  reverse_kl = (kl_to_uniform(counts) if weights is None
                else kl_to_reference(counts, jnp.asarray(weights, jnp.float32)))
  return ModeCoverage(
      modes_captured=jnp.sum(counts >= min_count),
      high_quality_percent=100.0 * jnp.mean(high_quality),
      reverse_kl=reverse_kl,
      counts=counts)


# ----------------------------------------------------------------------------
# Label histograms: Stacked MNIST and the classifier-based Inception Score.


class LabelHistogram(NamedTuple):
  """num_seen: classes with at least one sample; kl_to_uniform: KL(p || u); counts: (K,)."""
  num_seen: jax.Array
  kl_to_uniform: jax.Array
  counts: jax.Array


def label_histogram_stats(labels, num_classes: int) -> LabelHistogram:
  """Histogram of predicted labels against the uniform distribution.

    counts_c = #{i : labels_i = c},  p = counts / N,
    num_seen = #{c : counts_c > 0},  kl_to_uniform = KL(p || uniform_K).

  Args:
    labels: (N,) integer labels in [0, num_classes), N >= 1.
    num_classes: K.

  Returns:
    LabelHistogram(num_seen, kl_to_uniform, counts (K,) int32).
  """
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f'labels must be a non-empty (N,) integer array; got '
                     f'shape {labels.shape}, dtype {labels.dtype}')
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f'labels must lie in [0, {num_classes}); got range '
                     f'[{labels.min()}, {labels.max()}]')
  return _label_histogram(jnp.asarray(labels), num_classes)


@functools.partial(jax.jit, static_argnums=1)
def _label_histogram(labels, num_classes):
  counts = jnp.bincount(labels, length=num_classes)
  return LabelHistogram(jnp.sum(counts > 0), kl_to_uniform(counts), counts)


def stacked_mnist_modes(digit_labels) -> LabelHistogram:
  """Modes of Stacked MNIST: one of 1,000 digit triples per 3-channel image.

  Triple (a, b, c) (the classifier's digits for channels 0, 1, 2) is mode
  100 a + 10 b + c. As in PacGAN's and VEEGAN's evaluation, every sample
  counts (there is no quality threshold) and the KL is
  KL(p_gen || uniform over 1,000) in nats, p_gen the histogram of triples.

  Args:
    digit_labels: (N, 3) integers in [0, 10).

  Returns:
    LabelHistogram: num_seen is the number of modes covered (of 1,000),
    kl_to_uniform the reverse KL, counts the (1000,) histogram.
  """
  digit_labels = np.asarray(digit_labels)
  if digit_labels.ndim != 2 or digit_labels.shape[1] != 3:
    raise ValueError('digit_labels must be (N, 3): one digit per channel; got '
                     f'shape {digit_labels.shape}')
  if digit_labels.size and (digit_labels.min() < 0 or digit_labels.max() > 9):
    raise ValueError(f'digits must lie in [0, 9]; got range '
                     f'[{digit_labels.min()}, {digit_labels.max()}]')
  return label_histogram_stats(digit_labels @ np.array([100, 10, 1]),
                               STACKED_MNIST_MODES)


@jax.jit
def inception_score(probs: jax.Array) -> jax.Array:
  """Inception Score from a classifier's class probabilities (Salimans et al. 2016).

    IS = exp( (1/N) sum_i KL(p(y | x_i) || p(y)) ),   p(y) = (1/N) sum_i p(y | x_i).

  It lies in [1, C]: 1 when every sample gets the same prediction, C when the
  predictions are confident (one-hot) and spread evenly over the C classes.
  This is the score over all N samples at once; the customary "mean over 10
  splits" is this function applied to 10 chunks.

  Args:
    probs: (N, C) rows of class probabilities (softmax of the logits).

  Returns:
    A float32 scalar.
  """
  probs = jnp.asarray(probs, jnp.float32)
  marginal = jnp.mean(probs, axis=0, keepdims=True)
  kl = jnp.sum(xlogy(probs, probs) - xlogy(probs, marginal), axis=1)
  return jnp.exp(jnp.mean(kl))
