"""Class-conditional generators and discriminators around the registry's models.

Generators, G(z, y): z (B, z_dim), y (B,) int in [0, K) -> samples (B, ...):
  concat      a learned label embedding e(y) (B, label_dim) concatenated to z:
              G([z, e(y)]) (Mirza & Osindero 2014, with an embedding for the
              one-hot code); any model.
  cbn         conditional BatchNorm: every BatchNorm of G takes a per-class
              scale and offset (Dumoulin et al. 2017; Miyato & Koyama 2018);
              the DCGANs only (the MLP has no BatchNorm).

Discriminators, D(x, y) -> (logits (B,), class_logits (B, K) or None):
  projection  logit = psi(phi(x)) + embed(y) . phi(x) (Miyato & Koyama 2018),
              phi(x) (B, F) the features the unconditional D's last layer
              reads and psi that layer; embed is a (K, F) table.
  acgan       the unconditional logit psi(phi(x)) plus an auxiliary classifier
              head class_logits = W phi(x) + b (Odena et al. 2017); the task
              adds the class loss on real and fake samples.
  concat      the one-hot code of y concatenated to the input: as K constant
              channels of an image (B, H, W, C + K), or to the flattened input
              of an MLP (B, H*W*C + K).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

G_CONDITIONINGS = ('concat', 'cbn')
D_CONDITIONINGS = ('projection', 'acgan', 'concat')
_embed_init = nn.initializers.normal(stddev=0.02)


class ConditionalGenerator(nn.Module):
  """G(z, y) around an unconditional generator ``inner`` (see the module docstring).

  Attributes:
    inner: the generator; for 'cbn' one built with ``num_classes = K``.
    num_classes: K.
    conditioning: 'concat' | 'cbn'.
    label_dim: size of the label embedding ('concat').
  """
  inner: nn.Module
  num_classes: int
  conditioning: str = 'concat'
  label_dim: int = 32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array, train: bool = True) -> jax.Array:
    if self.conditioning == 'cbn':
      return self.inner(z, train=train, labels=labels)
    # flax's default init, N(0, 1) per entry: the code is as large as z's
    # entries from the start (at N(0, 0.02) G first ignores the label).
    code = nn.Embed(self.num_classes, self.label_dim, name='label_embed')(labels)
    return self.inner(jnp.concatenate([z, code.astype(z.dtype)], -1), train=train)


class ConditionalDiscriminator(nn.Module):
  """D(x, y) around an unconditional discriminator ``inner`` (see the module docstring).

  Attributes:
    inner: the discriminator; for 'projection' and 'acgan' built with
      ``return_features=True``.
    num_classes: K.
    conditioning: 'projection' | 'acgan' | 'concat'.
  """
  inner: nn.Module
  num_classes: int
  conditioning: str = 'projection'

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, train: bool = True):
    if self.conditioning == 'concat':
      code = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)
      if x.ndim == 4:  # images: K constant channels
        code = jnp.broadcast_to(code[:, None, None, :], (*x.shape[:3], self.num_classes))
        return self.inner(jnp.concatenate([x, code], -1), train=train), None
      return self.inner(jnp.concatenate([x.reshape(x.shape[0], -1), code], -1),
                        train=train), None
    logits, phi = self.inner(x, train=train)
    if self.conditioning == 'projection':
      embed = nn.Embed(self.num_classes, phi.shape[-1], embedding_init=_embed_init,
                       name='class_embed')
      return logits + jnp.sum(embed(labels) * phi, axis=-1), None
    return logits, nn.Dense(self.num_classes, name='class_head')(phi)
