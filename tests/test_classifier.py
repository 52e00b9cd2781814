"""The shipped digit classifier: recorded accuracy, shapes, determinism of training."""

import functools
import json
import os

import jax
import numpy as np
import pytest

from gan_jax.evaluation import classifier, feature_metrics, mode_metrics

RECORD = os.path.splitext(classifier.DEFAULT_WEIGHTS)[0] + '.json'


@pytest.fixture(scope='module')
def shipped():
  return classifier.load_classifier()


@pytest.fixture(scope='module')
def split():
  return classifier.digit_split()


def test_split_is_stratified_and_disjoint(split):
  assert split.train_images.shape == (4000, 28, 28, 1)
  assert split.test_images.shape == (1000, 28, 28, 1)
  np.testing.assert_array_equal(np.bincount(split.test_labels), [100] * 10)
  assert split.train_images.min() == -1.0 and split.train_images.max() == 1.0
  train_rows = {row.tobytes() for row in split.train_images}
  assert not any(row.tobytes() in train_rows for row in split.test_images)


def test_shipped_weights_reach_the_recorded_test_accuracy(shipped, split):
  with open(RECORD) as f:
    record = json.load(f)
  assert record['num_test'] == len(split.test_labels)
  assert record['test_accuracy'] >= 0.97
  acc = classifier.accuracy(shipped, split.test_images, split.test_labels)
  # 2 digits in 1,000 of slack for another platform's float rounding.
  assert acc >= record['test_accuracy'] - 0.002
  assert os.path.getsize(classifier.DEFAULT_WEIGHTS) < 1_000_000


def test_logits_and_features_shapes(shipped, split):
  x = split.test_images[:7]
  assert shipped.logits(shipped.params, x).shape == (7, 10)
  feats = shipped.features(shipped.params, x)
  assert feats.shape == (7, 128)
  assert np.all(np.asarray(feats) >= 0)  # ReLU activations


def test_apply_in_batches_equals_one_batch(shipped, split):
  x = split.test_images[:23]
  batched = classifier.apply_in_batches(shipped.features, shipped.params, x, batch_size=10)
  np.testing.assert_allclose(batched, shipped.features(shipped.params, x),
                             rtol=1e-5, atol=1e-5)


def test_stacked_digits_are_per_channel_predictions(shipped, split):
  # The split is sorted by label: shuffle so that the triples differ.
  order = np.random.default_rng(0).permutation(len(split.test_labels))[:300]
  x, labels = split.test_images[order], split.test_labels[order]
  stacked = np.concatenate([x[:100], x[100:200], x[200:]], axis=-1)  # (100, 28, 28, 3)
  triples = classifier.predict_stacked_digits(shipped, stacked)
  single = np.argmax(classifier.apply_in_batches(shipped.logits, shipped.params, x), 1)
  np.testing.assert_array_equal(triples, single.reshape(3, 100).T)
  assert np.mean(triples == labels.reshape(3, 100).T) >= 0.95
  assert mode_metrics.stacked_mnist_modes(triples).num_seen == len({*map(tuple, triples)})


def test_feature_space_separates_real_from_collapsed_digits(shipped, split):
  feats = lambda x: classifier.apply_in_batches(shipped.features, shipped.params, x)
  order = np.random.default_rng(0).permutation(len(split.train_labels))
  train, test = feats(split.train_images[order[:1000]]), feats(split.test_images)
  ones = feats(split.train_images[split.train_labels == 1])
  real_vs_real = feature_metrics.frechet_distance(train, test)
  real_vs_ones = feature_metrics.frechet_distance(train, ones)
  assert real_vs_ones > 50 * real_vs_real


def test_training_is_deterministic_in_its_seed():
  # Bitwise on CPU. On a GPU each compilation autotunes its convolution
  # algorithms, so two runs agree bitwise only with
  # XLA_FLAGS=--xla_gpu_autotune_level=0 (checked on an H100); else to ~1e-7.
  exact = (jax.default_backend() == 'cpu'
           or '--xla_gpu_autotune_level=0' in os.environ.get('XLA_FLAGS', ''))
  same = np.array_equal if exact else functools.partial(np.allclose, rtol=1e-4, atol=1e-6)
  run = lambda seed: classifier.train_classifier(seed=seed, num_steps=5).params
  first, again, other = run(3), run(3), run(4)
  assert all(jax.tree.leaves(jax.tree.map(same, first, again)))
  assert not any(jax.tree.leaves(jax.tree.map(same, first, other)))


def test_load_errors_name_the_problem(tmp_path):
  with pytest.raises(FileNotFoundError, match='train_classifier.py'):
    classifier.load_classifier(str(tmp_path / 'missing.npz'))
  with pytest.raises(ValueError, match='does not hold'):
    classifier.load_classifier(model=classifier.DigitCNN(feature_dim=64))
