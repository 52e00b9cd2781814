"""Dataset registry: ``create_dataset(config.data, ...)`` -> a ``Dataset``.

Names: the toy 2-D mixtures in ``toy.TOY_DATASETS`` ('ring', 'grid'; their
geometry, weights and a fixed training set by the fields of
``toy.create_mixture``),
'ring_grid' (both at once, as domains 'a' and 'b', for ``task='toy_cycle'``),
'domains' (two image domains, paired or unpaired, by source and named
transforms, for super-resolution, pix2pix and CycleGAN; see domains.py),
'point_mass' (the Dirac-GAN's data: every sample is 0, shape (1,)),
'stacked_mnist' (three embedded MNIST digits as the channels of one image,
``data.num_triples`` of them; see stacked_mnist.py), the token data of
``task='discrete'`` ('bits', 'grammar'; see discrete.py) and any
tensorflow-datasets image dataset ('mnist', 'fashion_mnist', 'cifar10',
'celeb_a', ...; ``data.binarize`` maps pixels to {0, 1}). A dataset is a
deterministic function of the step: the batch of step t depends only on
(seed, t), which makes resuming exact without storing an iterator. Batches
are dicts of arrays with one leading batch axis ({'image', 'label'},
{'x', 'label'}, {'a', 'b'} (+ 'label_a', 'label_b'), {'tokens'}); see ``base.Dataset``.
"""

from __future__ import annotations

import numbers

from gan_jax import validation
from gan_jax.data.base import Dataset
from gan_jax.data import domains
from gan_jax.data.discrete import DISCRETE_DATASETS, create_discrete_dataset
from gan_jax.data.images import EMBEDDED_SPLITS, SOURCES, create_image_dataset
from gan_jax.data.stacked_mnist import NUM_TRIPLES, create_stacked_mnist
from gan_jax.data.toy import (TOY_DATASETS, FixedMixturePoints, PointMass, ToyMixture,
                              TwoMixtures, create_mixture, validate_mixture_config)
from gan_jax.errors import ConfigError, DataError


def create_dataset(cfg, seed: int, image_size: int | None) -> Dataset:
  """Builds the dataset named by ``cfg.name``.

  Args:
    cfg: the ``config.data`` ConfigDict.
    seed: the run's seed (shuffling, toy sampling).
    image_size: side length the model makes (images are resized to it), or
      None to keep the dataset's own size.
  """
  if cfg.name in TOY_DATASETS:
    mixture = create_mixture(cfg)
    if cfg.get('num_points', 0):
      return FixedMixturePoints(mixture, seed, cfg.num_points)
    return ToyMixture(mixture, seed)
  if cfg.name == 'ring_grid':
    return TwoMixtures((TOY_DATASETS['ring'], TOY_DATASETS['grid']), seed)
  if cfg.name == 'domains':
    return domains.create_domains(cfg, seed)
  if cfg.name in DISCRETE_DATASETS:
    return create_discrete_dataset(cfg, seed)
  if cfg.name == 'point_mass':
    return PointMass(seed)
  if cfg.name == 'stacked_mnist':
    if image_size not in (None, 28):
      raise DataError(f'data.name=stacked_mnist is 28x28x3, but the model makes '
                      f'{image_size}x{image_size} images; allowed model: dcgan_mnist')
    return create_stacked_mnist(seed, cfg.get('num_triples', NUM_TRIPLES))
  return create_image_dataset(cfg, seed, image_size)


def validate_config(d) -> None:
  """Raises ConfigError for the first invalid field of ``config.data``."""
  if d.name in TOY_DATASETS:
    validate_mixture_config(d)
  if d.name == 'domains':
    domains.validate_config(d)
  validation.choice('data.source', d.source, SOURCES)
  validation.choice('data.embedded_split', d.get('embedded_split', 'all'), EMBEDDED_SPLITS)
  if not isinstance(d.image_size, numbers.Integral) or d.image_size < 0:
    raise ConfigError(f'data.image_size={d.image_size!r}; must be an integer >= 0 '
                      '(0 = the size the model makes)')
  per_class = d.get('examples_per_class', 0)
  if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 0:
    raise ConfigError(f'data.examples_per_class={per_class!r}; must be an integer >= 0 '
                      '(0 = all)')
  if not isinstance(d.get('binarize', False), bool):
    raise ConfigError(f'data.binarize={d.binarize!r}; must be True or False')
  for digit in d.digits:
    if isinstance(digit, bool) or not isinstance(digit, numbers.Integral) or digit < 0:
      raise ConfigError(f'data.digits={tuple(d.digits)!r}; must be labels >= 0, e.g. (7,)')
