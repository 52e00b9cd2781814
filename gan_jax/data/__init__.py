"""Dataset registry: ``create_dataset(config.data, ...)`` -> a ``Dataset``.

Names: the toy 2-D mixtures in ``toy.TOY_DATASETS`` ('ring', 'grid') and any
tensorflow-datasets image dataset ('mnist', 'fashion_mnist', 'cifar10',
'celeb_a', ...). A dataset is a deterministic function of the step: the batch
of step t depends only on (seed, t), which makes resuming exact without
storing an iterator.
"""

from __future__ import annotations

from gan_jax.data.base import Dataset
from gan_jax.data.images import create_image_dataset
from gan_jax.data.toy import TOY_DATASETS, ToyMixture


def create_dataset(cfg, seed: int, image_size: int | None) -> Dataset:
  """Builds the dataset named by ``cfg.name``.

  Args:
    cfg: the ``config.data`` ConfigDict.
    seed: the run's seed (shuffling, toy sampling).
    image_size: side length the model makes (images are resized to it), or
      None to keep the dataset's own size.
  """
  if cfg.name in TOY_DATASETS:
    return ToyMixture(TOY_DATASETS[cfg.name], seed)
  return create_image_dataset(cfg, seed, image_size)
