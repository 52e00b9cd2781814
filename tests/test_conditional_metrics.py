"""The held-out conditional metrics are sound (gan_jax/evaluation/conditional_metrics.py).

A "generator" that returns real training digits of the class it is asked
for must score like real data: accuracy and CAS within a point of their
real-data floors. The same digits under shuffled labels must score chance.
Intra-FID is the mean of per-class FIDs computed independently.
"""

import functools

import numpy as np
import pytest

from configs import cgan
from gan_jax import build
from gan_jax.data import create_dataset
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import conditional_metrics as cm
from gan_jax.evaluation import feature_metrics as fm


@functools.cache
def _task_and_data():
  config = cgan.get_config('tiny')
  dataset = create_dataset(config.data, config.seed, 28)
  return build.create_game(config, dataset).task, dataset


class RealDigits:
  """A sampler that returns the next unused training digit of each asked class."""

  def __init__(self, shuffle_labels=False):
    split = classifier_lib.digit_split()
    self.by_class = [split.train_images[split.train_labels == c] for c in range(10)]
    self.used = [0] * 10
    self.rng = np.random.default_rng(0) if shuffle_labels else None

  def __call__(self, state, inputs):
    del state
    labels = np.asarray(inputs['label'])
    if self.rng is not None:  # each sample drawn from a random class instead
      labels = self.rng.integers(0, 10, len(labels))
    out = []
    for y in labels:
      out.append(self.by_class[y][self.used[y] % len(self.by_class[y])])
      self.used[y] += 1
    return np.stack(out)


def test_intra_fid_is_the_mean_of_per_class_fids():
  rng = np.random.default_rng(0)
  feats, ref = rng.normal(size=(60, 4)), rng.normal(size=(45, 4)) + 0.5
  labels, ref_labels = np.arange(60) % 3, np.arange(45) % 3
  expected = np.mean([fm.frechet_distance(feats[labels == c], ref[ref_labels == c])
                      for c in range(3)])
  np.testing.assert_allclose(cm.intra_fid(feats, labels, ref, ref_labels, 3), expected)
  # Not the pooled FID: the per-class shift matters.
  assert abs(expected - fm.frechet_distance(feats, ref)) > 1e-3


def test_real_digits_as_samples_score_like_the_floor_and_shuffled_labels_like_chance():
  task, dataset = _task_and_data()
  ev = cm.ClassConditional('conditional', dataset, task.sample_inputs, 0, every=1)
  real = ev.run(RealDigits(), None)
  shuffled = ev.run(RealDigits(shuffle_labels=True), None)
  # Floor: held-out digits (the classifier's 98.5% test set) against the other half.
  assert 0.96 <= ev.floor['accuracy'] <= 1.0
  assert abs(real['accuracy'] - ev.floor['accuracy']) <= 0.02, (real, ev.floor)
  assert 0.05 <= shuffled['accuracy'] <= 0.16, shuffled
  # Intra-FID sees the wrong classes; the pooled FID barely moves.
  assert real['intra_fid'] < 1.5 * ev.floor['intra_fid'] < shuffled['intra_fid'] / 5
  assert shuffled['fid'] < 3 * ev.floor['fid'] + 5


def test_cas_of_real_digits_equals_the_real_classifier_and_shuffled_is_chance():
  task, dataset = _task_and_data()
  cas = cm.ClassificationAccuracyScore('cas', dataset, task.sample_inputs, 0, every=0,
                                       per_class=100, num_steps=150)
  real = cas.run(RealDigits(), None)['cas']
  shuffled = cas.run(RealDigits(shuffle_labels=True), None)['cas']
  assert cas.floor['cas'] > 0.9
  # Same recipe, the same number of real digits (other order): within a point.
  assert abs(real - cas.floor['cas']) <= 0.01, (real, cas.floor)
  assert shuffled < 0.3, shuffled


def test_cas_needs_a_conditional_task():
  config = cgan.get_config('tiny')
  config.task = 'unconditional'
  dataset = create_dataset(config.data, config.seed, 28)
  task = build.create_game(config, dataset).task
  with pytest.raises(Exception, match="needs a class-conditional task"):
    cm.ClassificationAccuracyScore('cas', dataset, task.sample_inputs, 0, every=0)


def test_samples_are_class_balanced():
  task, dataset = _task_and_data()
  ev = cm.ClassConditional('c', dataset, task.sample_inputs, 0, every=1, num_per_class=20,
                           batch_size=100)
  _, labels = ev.generate_labelled(lambda s, i: np.zeros((len(i['label']), 28, 28, 1)), None)
  np.testing.assert_array_equal(np.bincount(labels), [20] * 10)
