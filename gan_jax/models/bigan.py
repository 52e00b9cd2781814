"""BiGAN / ALI networks: an encoder E(x) and a joint discriminator D(x, z).

(Donahue et al. 2016, "Adversarial Feature Learning", arXiv 1605.09782;
Dumoulin et al. 2016, "Adversarially Learned Inference", arXiv 1606.00704.)
The generator is the ordinary one of ``models.create_models``; see
tasks/bigan.py for the game.

Both networks read x through a trunk: ``ConvTrunk``, the DCGAN
discriminator's strided convolutions (models/dcgan.py: LeakyReLU(0.2),
BatchNorm after all but the first conv, a bias only on the first), or
``MLPTrunk`` for flat data. ``create_bigan_models`` builds them from the
same ``model.d_width`` / ``model.d_hidden`` as the discriminator of that
model name: the encoder is a discriminator whose head outputs z_dim numbers
instead of one logit, so it needs no width of its own.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.dcgan import batch_norm, dcgan_init


class ConvTrunk(nn.Module):
  """x (B, H, W, C) -> features (B, H' * W' * features[-1]), flattened.

  Conv i has ``features[i]`` channels, kernel ``kernel_size``, stride
  ``strides[i]``; then BatchNorm (not after conv 0, as in DCGAN's D) and
  LeakyReLU(0.2). With 'SAME' padding and strides 2, 28x28 -> 14x14 -> 7x7.

  Attributes:
    features, strides, kernel_size, padding: the convolutions' geometry.
    axis_name: device axis of BatchNorm's statistics (None: this batch).
    dtype: computation dtype; the output is float32.
  """
  features: Sequence[int]
  strides: Sequence[int]
  kernel_size: int
  padding: str | Sequence[tuple[int, int]] = 'SAME'
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    for i, (features, stride) in enumerate(zip(self.features, self.strides)):
      # No bias where BatchNorm follows: its offset plays that role.
      x = nn.Conv(features, (self.kernel_size,) * 2, (stride, stride), padding=self.padding,
                  use_bias=i == 0, kernel_init=dcgan_init, dtype=self.dtype)(x)
      if i > 0:
        x = batch_norm(train, self.axis_name, self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    return x.reshape(x.shape[0], -1).astype(jnp.float32)


class MLPTrunk(nn.Module):
  """x (B, ...) -> features (B, hidden[-1]): dense layers with LeakyReLU(0.2).

  The hidden layers of ``models.mlp.MLPDiscriminator``, without its logit.
  """
  hidden: Sequence[int]

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # no BatchNorm
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.leaky_relu(nn.Dense(width)(x), 0.2)
    return x


class Encoder(nn.Module):
  """E: x (B, ...) -> z (B, z_dim), deterministic: E(x) = W trunk(x) + b.

  The output is linear (no activation), as z ~ N(0, I) is unbounded.

  Attributes:
    trunk: ``ConvTrunk`` or ``MLPTrunk``.
    z_dim: the latent size.
    kernel_init: of the output layer (DCGAN's N(0, 0.02) beside a conv
      trunk; flax's default LeCun normal beside an MLP, as the MLP models).
    dtype: computation dtype of the output layer; the output is float32.
  """
  trunk: nn.Module
  z_dim: int
  kernel_init: Callable = dcgan_init
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    h = self.trunk(x, train=train)
    out = nn.Dense(self.z_dim, kernel_init=self.kernel_init, dtype=self.dtype)(h)
    return out.astype(jnp.float32)


class JointDiscriminator(nn.Module):
  """D: (x (B, ...), z (B, z_dim)) -> logits (B,); D(x, z) = sigmoid(logit).

      h_x = trunk(x)                                   (B, F)
      h_z = LeakyReLU(Dense_{joint_width}(z))           (B, joint_width)
      h = LeakyReLU(Dense_{joint_width}([h_x, h_z]))    (B, joint_width)
      logit = Dense_1(h)                                (B,)

  LeakyReLU slope 0.2. The layout of ALI's discriminator: an x-branch and a
  z-branch joined by layers on their concatenation (the widths are this
  codebase's choice, ``model.joint_hidden``).

  Attributes:
    trunk: the x-branch, ``ConvTrunk`` or ``MLPTrunk``.
    joint_width: width of the z-branch and of the joint layer
      (``model.joint_hidden``).
    kernel_init: of the dense layers, as in ``Encoder``.
    dtype: computation dtype of the dense layers; logits are float32.
  """
  trunk: nn.Module
  joint_width: int = 512
  kernel_init: Callable = dcgan_init
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, z: jax.Array, train: bool = True) -> jax.Array:
    dense = lambda width, name: nn.Dense(width, kernel_init=self.kernel_init,
                                         dtype=self.dtype, name=name)
    h_x = self.trunk(x, train=train)
    h_z = nn.leaky_relu(dense(self.joint_width, 'z_branch')(z), 0.2)
    h = jnp.concatenate([h_x, h_z.astype(h_x.dtype)], axis=-1)
    h = nn.leaky_relu(dense(self.joint_width, 'joint')(h), 0.2)
    return dense(1, 'logit')(h)[:, 0].astype(jnp.float32)


def _conv_geometry(name: str, width: int):
  """The DCGAN discriminator trunk of model ``name`` (models/__init__.py), width ``width``."""
  if name == 'dcgan_mnist':  # 28x28 -> 14x14x(w) -> 7x7x(2w), k5 s2
    return dict(features=(width, 2 * width), strides=(2, 2), kernel_size=5)
  # dcgan64: 64x64 -> 32 -> 16 -> 8 -> 4, k4 s2 p1
  return dict(features=(width, 2 * width, 4 * width, 8 * width), strides=(2, 2, 2, 2),
              kernel_size=4, padding=((1, 1), (1, 1)))


BIGAN_MODELS = ('dcgan_mnist', 'dcgan64', 'mlp')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def create_bigan_models(cfg, axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """(E, D(x, z)) for ``config.model``: trunks of ``d_width`` (convs) or ``d_hidden`` (mlp).

  E and D get trunks of the same shape but their own parameters. The joint
  layers are ``model.joint_hidden`` wide (default 512).

  Raises:
    ConfigError: for a model name without a BiGAN trunk.
  """
  if cfg.name not in BIGAN_MODELS:
    raise ConfigError(f"task='bigan' has an encoder for model.name in {list(BIGAN_MODELS)}, "
                      f'got model.name={cfg.name!r}')
  dtype = DTYPES[cfg.get('dtype', 'float32')]
  if cfg.name == 'mlp':
    trunk = lambda: MLPTrunk(hidden=tuple(cfg.d_hidden))
    init = nn.initializers.lecun_normal()
  else:
    geometry = _conv_geometry(cfg.name, cfg.d_width)
    trunk = lambda: ConvTrunk(**geometry, axis_name=axis_name, dtype=dtype)
    init = dcgan_init
  return (Encoder(trunk(), cfg.z_dim, kernel_init=init, dtype=dtype),
          JointDiscriminator(trunk(), cfg.get('joint_hidden', 512), kernel_init=init,
                             dtype=dtype))
