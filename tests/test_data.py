"""Data: toy mixtures, epoch shuffling, label filter, the tfds path (mocked), source choice."""

import ml_collections
import numpy as np
import pytest

from gan_jax.data import create_dataset, images, toy

NEEDS_TFDS = 'needs the [tfds] extra: pip install -e ".[tfds]"'


def _tfds():
  """tensorflow_datasets, or the test is skipped naming the extra that installs it."""
  return pytest.importorskip('tensorflow_datasets', reason=NEEDS_TFDS)


def _cfg(**kw):
  cfg = dict(name='mnist', source='embedded', split='train', digits=(),
             tfds_data_dir='', image_size=0)
  cfg.update(kw)
  return ml_collections.ConfigDict(cfg)


def test_ring_and_grid_geometry():
  ring, grid = toy.TOY_DATASETS['ring'], toy.TOY_DATASETS['grid']
  np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 1.0)
  angles = np.sort(np.mod(np.arctan2(ring.means[:, 1], ring.means[:, 0]), 2 * np.pi))
  np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)
  assert ring.std == 0.01 and grid.std == 0.05
  assert sorted(set(grid.means.ravel())) == [-4, -2, 0, 2, 4] and len(grid.means) == 25


def test_toy_samples_have_the_mixture_statistics():
  ds = create_dataset(_cfg(name='ring'), seed=0, image_size=None)
  x = ds.batch(0, 20_000)['x']
  nearest = np.linalg.norm(x[:, None] - ds.mixture.means[None], axis=-1)
  counts = np.bincount(nearest.argmin(1), minlength=8)
  assert counts.min() > 0.9 * 20_000 / 8  # equal weights
  residual = x - ds.mixture.means[nearest.argmin(1)]
  np.testing.assert_allclose(residual.std(0), 0.01, rtol=0.05)
  np.testing.assert_array_equal(ds.batch(3, 64)['x'], ds.batch(3, 64)['x'])  # pure in the step
  assert not np.array_equal(ds.batch(3, 64)['x'], ds.batch(4, 64)['x'])


def test_image_epochs_are_permutations_reshuffled_per_epoch():
  imgs = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
  ds = images.ImageArrayDataset(imgs, seed=0, description='')
  # 10 // 3 = 3 batches per epoch; each epoch's batches are distinct examples.
  values = lambda step: ((ds.batch(step, 3)['image'][:, 0, 0, 0] + 1) * 127.5).round().astype(int)
  epoch0 = np.concatenate([values(s) for s in range(3)])
  epoch1 = np.concatenate([values(s) for s in range(3, 6)])
  assert len(set(epoch0)) == 9 and len(set(epoch1)) == 9
  assert not np.array_equal(epoch0, epoch1)
  # Shards of a global batch tile it: what each process reads on several hosts.
  np.testing.assert_array_equal(
      np.concatenate([ds.batch(4, 4, shard=i, num_shards=2)['image'] for i in range(2)]),
      ds.batch(4, 4)['image'])


def test_embedded_digits_scaled_and_filtered():
  ds = create_dataset(_cfg(digits=(7,)), seed=0, image_size=28)
  assert len(ds) == 500 and ds.sample_shape == (28, 28, 1)
  x = ds.batch(0, 64)['image']
  assert x.min() == -1.0 and x.max() == 1.0
  assert 'labels [7]' in ds.description


def test_label_filter_that_leaves_nothing_is_an_error():
  with pytest.raises(images.DataError, match=r'data.digits=\[42\] leaves no examples'):
    create_dataset(_cfg(digits=(42,)), seed=0, image_size=28)


def test_tfds_path_with_mock_data_and_resizing():
  tfds = _tfds()
  with tfds.testing.mock_data(num_examples=12):
    ds = create_dataset(_cfg(source='tfds', name='mnist'), seed=0, image_size=32)
  assert len(ds) == 12 and ds.sample_shape == (32, 32, 1)
  assert ds.description.startswith('tfds:mnist/train')
  x = ds.batch(0, 4)['image']
  assert x.shape == (4, 32, 32, 1) and -1 <= x.min() and x.max() <= 1


def test_auto_falls_back_to_embedded_offline_quickly(monkeypatch, tmp_path):
  _tfds()
  import time
  monkeypatch.setattr(images, '_download_host_answers', lambda timeout=3.0: False)
  start = time.perf_counter()
  assert images.resolve_source(_cfg(source='auto', tfds_data_dir=str(tmp_path))) == 'embedded'
  assert time.perf_counter() - start < 5
  # Other datasets never fall back silently: they need tfds.
  assert images.resolve_source(_cfg(source='auto', name='cifar10')) == 'tfds'


def test_unprepared_dataset_offline_is_a_clear_error(monkeypatch, tmp_path):
  _tfds()
  monkeypatch.setattr(images, '_download_host_answers', lambda timeout=3.0: False)
  with pytest.raises(images.DataError, match="data.name='cifar10' is not prepared.*no network"):
    create_dataset(_cfg(source='tfds', name='cifar10', tfds_data_dir=str(tmp_path)),
                   seed=0, image_size=64)


def test_unknown_dataset_and_embedded_misuse():
  with pytest.raises(images.DataError, match="data.source='embedded' has only MNIST"):
    create_dataset(_cfg(source='embedded', name='cifar10'), seed=0, image_size=28)
  _tfds()
  with pytest.raises(images.DataError, match="data.name='not_a_dataset'"):
    create_dataset(_cfg(source='tfds', name='not_a_dataset'), seed=0, image_size=28)
