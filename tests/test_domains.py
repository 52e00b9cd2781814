"""The image domains of super-resolution, pix2pix and CycleGAN (gan_jax/data/domains.py)."""

import ml_collections
import numpy as np
import pytest

from configs import superres as superres_config
from gan_jax import config_checks, models
from gan_jax.data import create_dataset, domains
from gan_jax.errors import ConfigError, DataError


def _domains_config(**fields):
  cfg = dict(name='domains', domain_a='mnist', domain_b='mnist', transforms_a=(),
             transforms_b=(), paired=True)
  cfg.update(fields)
  return ml_collections.ConfigDict(cfg)


@pytest.mark.parametrize('kind', ['box', 'bicubic'])
@pytest.mark.parametrize('factor', [2, 4])
def test_downsample_then_upsample_of_a_constant_image_is_the_identity(kind, factor):
  image = np.full((2, 28, 28, 1), 0.37, np.float32)
  low = domains.downsample(image, factor, kind)
  assert low.shape == (2, 28 // factor, 28 // factor, 1)
  np.testing.assert_allclose(low, 0.37, atol=1e-6)
  for up in ('nearest', 'bicubic'):
    np.testing.assert_allclose(domains.upsample(low, factor, up), image, atol=1e-6)


def test_box_downsampling_is_the_mean_of_each_block():
  image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  # Blocks [[0, 1], [4, 5]] -> 2.5, [[2, 3], [6, 7]] -> 4.5, ...
  np.testing.assert_allclose(domains.downsample(image, 2, 'box')[0, ..., 0],
                             [[2.5, 4.5], [10.5, 12.5]])


def test_bicubic_downsampling_averages_a_checkerboard_to_its_mean():
  # PIL's antialiased filter spans 4 x factor pixels: an alternating 0/255
  # pattern has no content below the new Nyquist rate, so its interior is flat.
  board = (np.indices((32, 32)).sum(0) % 2 * 255.0).astype(np.float32)[None, ..., None]
  low = domains.downsample(board, 4, 'bicubic')
  np.testing.assert_allclose(low[0, 2:-2, 2:-2], 127.5, atol=0.5)


def test_the_named_transforms_on_small_images():
  x = np.zeros((1, 5, 5, 1), np.uint8)
  x[0, 2, 2] = 200
  x[0, 0, 4] = 50
  t = domains.TRANSFORMS
  np.testing.assert_array_equal(t['invert'](x), 255 - x)
  # Counter-clockwise: the top-right pixel goes to the top-left.
  assert t['rotate90'](x)[0, 0, 0, 0] == 50 and t['rotate90'](x)[0, 2, 2, 0] == 200
  dilated = t['dilate'](x)
  np.testing.assert_array_equal(dilated[0, 1:4, 1:4, 0], 200)
  assert dilated[0, 0, 0, 0] == 0
  np.testing.assert_array_equal(t['erode'](dilated)[0, ..., 0] == 200, x[0, ..., 0] == 200)
  blurred = t['blur'](x).astype(float)
  assert blurred[0, 2, 2, 0] < 200 and blurred[0, 1, 2, 0] > 0
  # The mass is kept (up to rounding and what leaves the border).
  assert abs(blurred[0, 1:4, 1:4].sum() - 200) < 200 * 0.3
  np.testing.assert_array_equal(t['box_x2'](np.full((1, 4, 4, 1), 9, np.uint8)),
                                np.full((1, 2, 2, 1), 9))
  assert domains.transformed_shape((28, 28, 1), ('bicubic_x4', 'rotate90')) == (7, 7, 1)


def test_load_digits_in_mnist_framing_and_its_split():
  images, labels = domains.load_digits_28()
  assert images.shape == (1797, 28, 28, 1) and images.dtype == np.uint8
  # The digit fills the central 20x20 box; the 4-pixel frame stays black.
  assert images[:, :4].max() == 0 and images[:, -4:].max() == 0
  assert images[:, 4:24, 4:24].max() > 200
  test_images, test_labels = domains.load_source('load_digits', 'test')
  train_images, _ = domains.load_source('load_digits', 'train')
  assert len(test_images) == 300 and len(train_images) == 1497
  np.testing.assert_array_equal(np.bincount(test_labels), [30] * 10)


def test_paired_super_resolution_batches_hold_a_digit_and_its_downsampling():
  data = create_dataset(_domains_config(transforms_a=('box_x4',)), 0, None)
  batch = data.batch(5, 16)
  assert batch['a'].shape == (16, 7, 7, 1) and batch['b'].shape == (16, 28, 28, 1)
  np.testing.assert_array_equal(batch['label_a'], batch['label_b'])
  # a = round(box mean of b), both scaled to [-1, 1].
  b_uint8 = np.rint((batch['b'] + 1) * 127.5)
  expected = np.rint(domains.downsample(b_uint8, 4, 'box')) / 127.5 - 1
  np.testing.assert_allclose(batch['a'], expected, atol=1e-6)
  assert data.downsampling == (4, 'box')
  assert len(data.test_a) == len(data.test_b) == 1000
  assert data.sample_key == 'b' and data.sample_shape == (28, 28, 1)


def test_unpaired_domains_of_one_source_are_disjoint_halves_shuffled_independently():
  data = create_dataset(_domains_config(transforms_b=('invert',), paired=False), 0, None)
  assert len(data.train_a) == len(data.train_b) == 2000
  rows_a = {r.tobytes() for r in data.train_a}
  rows_b = {(255 - r).tobytes() for r in data.train_b}  # undo B's transform
  assert not rows_a & rows_b
  batch = data.batch(0, 64)
  # Independent shuffles: the labels of a batch's two halves do not match row by row.
  assert np.mean(batch['label_a'] == batch['label_b']) < 0.5
  other = data.reseeded(1).batch(0, 64)
  assert not np.array_equal(other['a'], batch['a'])


def test_two_sources_keep_their_own_sizes_and_labels():
  data = create_dataset(_domains_config(domain_a='load_digits', paired=False), 0, None)
  assert len(data.train_a) == 1497 and len(data.train_b) == 4000 and len(data) == 1497
  assert data.test_a.shape == (300, 28, 28, 1) and data.test_b.shape == (1000, 28, 28, 1)
  assert data.downsampling is None


@pytest.mark.parametrize('fields,message', [
    (dict(transforms_a=('sharpen',)), "data.transforms_a='sharpen' is not allowed.*'blur'"),
    (dict(transforms_b='dilate'), r"data.transforms_b='dilate'; must be a tuple"),
    (dict(domain_a='emnist'), "data.domain_a='emnist'; allowed: mnist, load_digits"),
    (dict(domain_a='load_digits'), 'data.paired=True needs one source'),
    (dict(transforms_a=('bicubic_x4', 'box_x2')), 'box_x2 needs a side divisible by 2'),
    (dict(paired='yes'), "data.paired='yes'; must be True or False"),
])
def test_bad_domain_fields_are_one_config_error(fields, message):
  with pytest.raises(ConfigError, match=message):
    domains.validate_config(_domains_config(**fields))


def test_domains_of_different_channel_counts_are_refused(monkeypatch):
  gray, labels = domains.load_source('mnist', 'test')
  rgb = np.repeat(gray, 3, axis=-1)
  monkeypatch.setattr(domains, 'load_source',
                      lambda spec, split, data_dir='': (rgb if spec.startswith('tfds:') else gray,
                                                        labels))
  with pytest.raises(DataError, match='1 channels and data.domain_b=.tfds:x.* 3'):
    domains.create_domains(_domains_config(domain_b='tfds:x', paired=False), 0)


@pytest.mark.parametrize('variant,field,value,message', [
    ('superres', 'model.scale', 2, r"model.scale=2 but data.transforms_a=\('bicubic_x4',\) "
     'downsamples x4; .* allowed model.scale=4'),
    ('superres', 'data.transforms_a', ('dilate',), 'task=superres needs data.transforms_a = '
     'one downsampling'),
    ('superres', 'train.l2_weight', -1.0, r'train.l2_weight=-1.0; must be a number in \[0, inf\)'),
    ('superres', 'model.name', 'pix2pix', "model.name \\(task='superres'\\)='pix2pix'"),
    ('pix2pix', 'data.name', 'mnist', "task='pix2pix' needs data.name='domains'"),
    ('cyclegan', 'data.paired', True, 'data.paired=True; task=.cyclegan. trains on unpaired'),
    ('cyclegan', 'train.pool_size', -5, 'train.pool_size=-5; must be an integer >= 0'),
    ('cyclegan', 'optim.lr_decay_steps', -1, 'optim.lr_decay_steps=-1; must be an integer >= 0'),
])
def test_bad_image_to_image_configs_fail_validation_in_one_line(variant, field, value, message):
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f'configs.{variant}').get_config('tiny')
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(ConfigError, match=message):
    config_checks.validate(config, 1)


def test_the_srresnet_makes_only_its_scales():
  config = superres_config.get_config('tiny')
  config.model.scale = 3
  with pytest.raises(ConfigError, match=r'model.scale=3; .* allowed: \(2, 4\)'):
    models.validate_config(config.model)
