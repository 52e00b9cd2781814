"""Metrics of class-conditional digit generators, scored on held-out real digits.

Both evaluators read the 1,000 embedded digits held out of every training set
here (``data.embedded_split='test'``: 100 per class, never seen by the GAN nor
by the shipped classifier, which was trained on the other 4,000), so the
training data must be ``data.source='embedded', data.embedded_split='train'``.
They need a conditional task: its sampler inputs carry the 'label' asked for.

``class_conditional`` (cheap; every eval step):
  accuracy    the shipped classifier's accuracy on generated digits against
              the label asked for ("GAN-test", Shmelkov et al. 2018).
  intra_fid   the mean over the K classes of the FID between generated and
              real digits of that class, in the classifier's 128-d features
              (Miyato & Koyama 2018's intra-FID).
  fid         the FID of all generated against all real digits.
  With R the held-out digits split per class into a reference half A and a
  floor half B (``num_per_class`` each, at most 50), the generated set has
  ``num_per_class`` digits per class scored against A; the floor scores B.
  With 50 per class in 128 dimensions FID is strongly biased upwards: compare
  against the floor, not against published FIDs.

``cas`` (expensive: trains a classifier; at the end of training by default):
  cas         Classification Accuracy Score (Ravuri & Vinyals 2019): a fresh
              ``DigitCNN`` trained only on ``per_class`` generated digits per
              class with the labels asked for (``classifier.train_classifier``:
              Adam, ``num_steps`` of 128, fixed length, no model selection),
              tested on all 1,000 held-out digits.
  Its floor trains the same recipe on ``per_class`` real training digits per
  class (with per_class=400 and 500 steps: the shipped classifier's recipe on
  its 4,000 digits, taken in class order, so not bit-identical to it).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from gan_jax.data.images import embedded_subset
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import feature_metrics as fm
from gan_jax.evaluation.base import (DrawInputs, Evaluator, SampleFn, as_images, check_shape,
                                     floats, shipped_classifier)

NUM_CLASSES = classifier_lib.NUM_CLASSES
HELDOUT_PER_CLASS = 100


def intra_fid(feats: np.ndarray, labels: np.ndarray, ref_feats: np.ndarray,
              ref_labels: np.ndarray, num_classes: int) -> float:
  """(1/K) sum_c FID(feats[labels == c], ref_feats[ref_labels == c]).

  Args:
    feats, ref_feats: (N, F) and (M, F) features.
    labels, ref_labels: (N,), (M,) class of each row; every class needs at
      least two rows on each side.
  """
  return float(np.mean([fm.frechet_distance(feats[labels == c], ref_feats[ref_labels == c])
                        for c in range(num_classes)]))


@functools.cache
def heldout_halves(per_class: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
  """((A images, A labels), (B images, B labels)): ``per_class`` held-out digits
  per class each, disjoint, in [-1, 1]; A = the first per_class of each class
  in the held-out order, B the next."""
  images, labels = embedded_subset('test')
  a, b = [], []
  for c in range(NUM_CLASSES):
    members = np.flatnonzero(labels == c)
    a.extend(members[:per_class])
    b.extend(members[per_class:2 * per_class])
  return tuple((as_images(images[idx]), labels[idx].astype(np.int32))
               for idx in (np.asarray(a), np.asarray(b)))


def _check_setup(name: str, kind: str, dataset, draw_inputs: DrawInputs) -> None:
  check_shape(name, kind, dataset.sample_shape, classifier_lib.IMAGE_SHAPE,
               'It scores 28x28x1 digits with the shipped classifier.')
  if not getattr(dataset, 'excludes_heldout', False):
    raise ConfigError(
        f"eval.{name}: type {kind!r} scores on the 1,000 held-out embedded digits, which "
        f"this training data may contain ({dataset.description}); use data.source="
        "'embedded' and data.embedded_split='train'")
  if 'label' not in draw_inputs(jax.random.PRNGKey(0), NUM_CLASSES):
    raise ConfigError(f"eval.{name}: type {kind!r} needs a class-conditional task "
                      "(task='conditional'); this task's samples have no labels")
  if dataset.num_classes != NUM_CLASSES:
    raise ConfigError(f'eval.{name}: type {kind!r} needs the 10 digit classes; the data '
                      f'has {dataset.num_classes}')


class LabelledSamples(Evaluator):
  """Base: draws (samples, the labels they were asked for), class-balanced.

  The sampler inputs of a conditional task ask for class i % K in row i, so
  with ``batch_size`` a multiple of K every class gets num_samples / K rows.
  """

  def generate_labelled(self, sample_fn: SampleFn, state, rng=None):
    rng = self.rng if rng is None else rng
    images, labels = [], []
    for i in range(-(-self.num_samples // self.batch_size)):
      inputs = self.draw_inputs(jax.random.fold_in(rng, i), self.batch_size)
      images.append(np.asarray(sample_fn(state, inputs), np.float32))
      labels.append(np.asarray(inputs['label']))
    return (np.concatenate(images)[:self.num_samples],
            np.concatenate(labels)[:self.num_samples])

  def run(self, sample_fn, state, rng=None):
    return self.score(*self.generate_labelled(sample_fn, state, rng))


class ClassConditional(LabelledSamples):
  """accuracy, intra_fid and fid of a conditional digit generator (module docstring).

  Options: ``num_per_class`` (generated and real digits per class, <= 50),
  ``batch_size`` (a multiple of 10).
  """

  def __init__(self, name, dataset, draw_inputs, seed, *, every, num_per_class=50,
               batch_size=500):
    if not 2 <= num_per_class <= HELDOUT_PER_CLASS // 2:
      raise ConfigError(f'eval.{name}.num_per_class={num_per_class}; must be in [2, '
                        f'{HELDOUT_PER_CLASS // 2}] (two halves of the 100 held-out '
                        'digits per class)')
    _check_setup(name, 'class_conditional', dataset, draw_inputs)
    super().__init__(name, draw_inputs, seed, every=every,
                     num_samples=NUM_CLASSES * num_per_class, batch_size=batch_size)
    if self.batch_size % NUM_CLASSES:
      raise ConfigError(f'eval.{name}.batch_size={batch_size}; must be a multiple of '
                        f'{NUM_CLASSES} (each batch asks for every class equally)')
    self.classifier = shipped_classifier()
    (ref, self.ref_labels), (other, other_labels) = heldout_halves(num_per_class)
    self.ref_features = self._features(ref)
    self.floor = self.score(other, other_labels)

  def _features(self, images):
    return classifier_lib.apply_in_batches(self.classifier.features,
                                           self.classifier.params, images)

  def score(self, samples, labels):
    feats = self._features(samples)
    return floats(
        accuracy=classifier_lib.accuracy(self.classifier, samples, labels),
        intra_fid=intra_fid(feats, labels, self.ref_features, self.ref_labels, NUM_CLASSES),
        fid=fm.frechet_distance(feats, self.ref_features))


@functools.cache
def _real_cas(per_class: int, num_steps: int, seed: int) -> float:
  """The CAS recipe trained on ``per_class`` real training digits per class."""
  split = classifier_lib.digit_split()
  idx = np.concatenate([np.flatnonzero(split.train_labels == c)[:per_class]
                        for c in range(NUM_CLASSES)])
  return classifier_lib.train_classifier(
      seed=seed, num_steps=num_steps, images=split.train_images[idx],
      labels=split.train_labels[idx]).test_accuracy


class ClassificationAccuracyScore(LabelledSamples):
  """cas: held-out accuracy of a classifier trained only on generated digits.

  Options: ``per_class`` generated digits per class (default 400, as many as
  the real training digits), ``num_steps`` of the classifier (default 500),
  ``classifier_seed``, ``batch_size`` (a multiple of 10).
  """

  def __init__(self, name, dataset, draw_inputs, seed, *, every, per_class=400,
               num_steps=500, classifier_seed=0, batch_size=500):
    _check_setup(name, 'cas', dataset, draw_inputs)
    if not 1 <= per_class <= 400:
      raise ConfigError(f'eval.{name}.per_class={per_class}; must be in [1, 400] (the '
                        'floor trains on as many real digits per class)')
    super().__init__(name, draw_inputs, seed, every=every,
                     num_samples=NUM_CLASSES * per_class, batch_size=batch_size)
    if self.batch_size % NUM_CLASSES:
      raise ConfigError(f'eval.{name}.batch_size={batch_size}; must be a multiple of '
                        f'{NUM_CLASSES}')
    self.num_steps, self.classifier_seed = num_steps, classifier_seed
    self.floor = {'cas': _real_cas(per_class, num_steps, classifier_seed)}

  def score(self, samples, labels):
    result = classifier_lib.train_classifier(seed=self.classifier_seed,
                                             num_steps=self.num_steps,
                                             images=samples, labels=labels)
    return {'cas': float(result.test_accuracy)}
