"""The translation evaluator: image-to-image generators on the data's held-out inputs.

``type='translation'`` needs 'domains' data (data/domains.py). It translates
every held-out input a_i of the test set (in order; ``num_samples`` > 0 keeps
the first that many) with the run's sampler, ``sample_fn(state, {'a': a})``,
and scores the translations y_i:

  accuracy    100 x share of y_i the shipped digit classifier labels as a_i's
              label: the digit survives translation (CyCADA's protocol, with
              the classifier of the target domain; needs labels and 28x28x1
              outputs, i.e. MNIST as the target)
  psnr, ssim  mean over i against the held-out truth b_i (paired data; images
              in [-1, 1], image_metrics.psnr / ssim)
  l1          mean |y_i - b_i| per pixel (paired data)
  lr_l1, lr_psnr  mean |down(y_i) - a_i| and PSNR(down(y_i), a_i): low-res
              consistency of super-resolution (a_i = down(b_i), the data's own
              downsampling)
  cycle_l1    mean |G_ba(G_ab(a_i)) - a_i| per pixel (option ``cycle=True``,
              task 'cyclegan': its sampler's {'cycle_a': a} input)

The floor scores what a perfect generator would give: the truth b_i itself
(paired data; psnr is then infinite and left out, and lr_* measure only the
uint8 rounding of a_i), or the real target test images against their own
labels (unpaired data).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from gan_jax.data import domains
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import image_metrics
from gan_jax.evaluation.base import Evaluator, as_images, floats, shipped_classifier


class Translation(Evaluator):
  """See the module docstring. Options: ``num_samples`` (0 = every test input),
  ``batch_size``, ``cycle``."""

  def __init__(self, name, dataset, draw_inputs, seed, *, every, num_samples=0,
               batch_size=250, cycle=False):
    if not hasattr(dataset, 'test_a'):
      raise ConfigError(f"eval.{name}: type 'translation' needs two image domains "
                        f"(data.name='domains'); the data is {dataset.description}")
    n = len(dataset.test_a) if not num_samples else num_samples
    if not 0 < n <= len(dataset.test_a):
      raise ConfigError(f'eval.{name}.num_samples={num_samples}; the data holds '
                        f'{len(dataset.test_a)} test inputs: allowed 0 (all) .. '
                        f'{len(dataset.test_a)}')
    super().__init__(name, draw_inputs, seed, every=every, num_samples=n,
                     batch_size=batch_size)
    self.cycle, self.paired, self.downsampling = cycle, dataset.paired, dataset.downsampling
    self.inputs = as_images(dataset.test_a[:n])
    self.labels = None if dataset.test_labels_a is None else np.asarray(dataset.test_labels_a[:n])
    self.classifier = None
    if self.labels is not None and tuple(dataset.sample_shape) == classifier_lib.IMAGE_SHAPE:
      self.classifier = shipped_classifier()
    self.truth = as_images(dataset.test_b[:n]) if self.paired else None
    if self.paired:
      self.floor = {k: v for k, v in self.score(self.truth).items() if math.isfinite(v)}
    else:
      self.floor = {}
      if self.classifier is not None and dataset.test_labels_b is not None:
        self.floor = floats(accuracy=100 * classifier_lib.accuracy(
            self.classifier, as_images(dataset.test_b), dataset.test_labels_b))

  def translate(self, sample_fn, state, key: str = 'a') -> np.ndarray:
    """sample_fn(state, {key: rows}) of every input, ``batch_size`` rows per call
    (the last call padded, so the sampler compiles once)."""
    out = []
    for start in range(0, self.num_samples, self.batch_size):
      rows = self.inputs[start:start + self.batch_size]
      pad = self.batch_size - len(rows)
      padded = np.concatenate([rows, np.repeat(rows[-1:], pad, axis=0)]) if pad else rows
      out.append(np.asarray(sample_fn(state, {key: padded}), np.float32)[:len(rows)])
    return np.concatenate(out)

  def score(self, outputs: np.ndarray, reconstructions: np.ndarray | None = None):
    """The metrics of (N, ...) translations of the N inputs (and their round trips)."""
    results = {}
    if self.classifier is not None:
      results['accuracy'] = 100 * classifier_lib.accuracy(self.classifier, outputs, self.labels)
    if self.paired:
      results.update(psnr=np.mean(image_metrics.psnr(outputs, self.truth)),
                     ssim=np.mean(image_metrics.ssim(outputs, self.truth)),
                     l1=np.mean(np.abs(outputs - self.truth)))
    if self.downsampling is not None:
      low = domains.downsample(outputs, *self.downsampling)
      results.update(lr_l1=np.mean(np.abs(low - self.inputs)),
                     lr_psnr=np.mean(image_metrics.psnr(low, self.inputs)))
    if reconstructions is not None:
      results['cycle_l1'] = np.mean(np.abs(reconstructions - self.inputs))
    return floats(**results)

  def run(self, sample_fn, state, rng: jax.Array | None = None):
    del rng  # the inputs are the test set, in order
    reconstructions = self.translate(sample_fn, state, 'cycle_a') if self.cycle else None
    return self.score(self.translate(sample_fn, state), reconstructions)
