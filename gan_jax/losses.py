"""GAN losses, from discriminator logits, chosen by name (``train.loss``).

Each loss maps (real_logits (B,), fake_logits (B,)) to (d_loss, g_loss), the
scalars each player *minimises*. D(x) = sigmoid(l), and every log-probability
is computed with log-sigmoid: log D(x) = log_sigmoid(l) and
log(1 - D(x)) = log_sigmoid(-l), which stays finite where log(sigmoid(l))
would underflow to -inf. The non-logistic losses (hinge, Wasserstein, least
squares) read the logit l as D's raw output. Penalties that need more than
logits (R1, R2, WGAN-GP) are regularisers: see regularizers.py.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from gan_jax import validation
from gan_jax.errors import ConfigError

LossFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def value_function(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """The minimax value V(D, G) = E log D(x) + E log(1 - D(G(z)))."""
  return (jnp.mean(jax.nn.log_sigmoid(real_logits))
          + jnp.mean(jax.nn.log_sigmoid(-fake_logits)))


def minimax(real_logits, fake_logits, label_smoothing: float = 0.0):
  """The primer's zero-sum game: D ascends V, G descends it (saturating G loss).

  d_loss = -V(D, G) + s E[real_logit];  g_loss = E log(1 - D(G(z))).
  The s term is one-sided label smoothing (see ``smoothed_d_loss``).
  """
  d_loss = smoothed_d_loss(real_logits, fake_logits, label_smoothing)
  g_loss = jnp.mean(jax.nn.log_sigmoid(-fake_logits))
  return d_loss, g_loss


def non_saturating(real_logits, fake_logits, label_smoothing: float = 0.0):
  """D as in minimax; G maximises log D(G(z)) instead, for strong early gradients.

  d_loss = -V(D, G) + s E[real_logit];  g_loss = -E log D(G(z)).
  """
  d_loss = smoothed_d_loss(real_logits, fake_logits, label_smoothing)
  g_loss = -jnp.mean(jax.nn.log_sigmoid(fake_logits))
  return d_loss, g_loss


def smoothed_d_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
  """D's cross-entropy with one-sided label smoothing (Salimans et al. 2016).

  Real samples get the target 1 - s instead of 1, fakes keep 0:
    d_loss = -E[(1 - s) log D(x) + s log(1 - D(x))] - E log(1 - D(G(z)))
           = -V(D, G) + s E[real_logit],
  since log D(x) - log(1 - D(x)) is the logit. s = 0 is the plain -V.
  """
  d_loss = -value_function(real_logits, fake_logits)
  if label_smoothing:  # a Python float: s = 0 leaves the plain loss's program
    d_loss = d_loss + label_smoothing * jnp.mean(real_logits)
  return d_loss


def hinge(real_logits, fake_logits):
  """The hinge loss of geometric GAN / SAGAN / BigGAN.

  d_loss = E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)));  g_loss = -E D(G(z)),
  with D(.) the raw logit.
  """
  d_loss = (jnp.mean(jax.nn.relu(1 - real_logits))
            + jnp.mean(jax.nn.relu(1 + fake_logits)))
  return d_loss, -jnp.mean(fake_logits)


def wasserstein(real_logits, fake_logits):
  """WGAN (Arjovsky et al. 2017): the critic estimates W1 = E D(x) - E D(G(z)).

  d_loss = E D(G(z)) - E D(x);  g_loss = -E D(G(z)). The estimate needs a
  1-Lipschitz critic: add the 'gradient_penalty' regulariser (WGAN-GP,
  lambda 10; the ``wgan_gp`` config variant) or spectral normalisation.
  """
  d_loss = jnp.mean(fake_logits) - jnp.mean(real_logits)
  return d_loss, -jnp.mean(fake_logits)


def least_squares(real_logits, fake_logits, label_smoothing: float = 0.0):
  """LSGAN (Mao et al. 2017) with targets a = 0 (fake), b = 1 (real), c = 1.

  d_loss = 1/2 E (D(x) - (1 - s))^2 + 1/2 E D(G(z))^2;
  g_loss = 1/2 E (D(G(z)) - 1)^2, with D(.) the raw output and s the one-sided
  label smoothing.
  """
  d_loss = 0.5 * (jnp.mean(jnp.square(real_logits - (1 - label_smoothing)))
                  + jnp.mean(jnp.square(fake_logits)))
  return d_loss, 0.5 * jnp.mean(jnp.square(fake_logits - 1))


def relativistic_average(real_logits, fake_logits):
  """Relativistic average standard GAN, RaSGAN (Jolicoeur-Martineau 2019).

  D judges whether a real sample is more realistic than the average fake and
  vice versa; with C the logits, r = C(x) - E C(G(z)), f = C(G(z)) - E C(x):
    d_loss = -E log sigmoid(r) - E log(1 - sigmoid(f)),
    g_loss = -E log sigmoid(f) - E log(1 - sigmoid(r)).
  G's loss needs the real logits too. The means are over the batch the step
  sees (each device's own batch under parallel=pmap).
  """
  r = real_logits - jnp.mean(fake_logits)
  f = fake_logits - jnp.mean(real_logits)
  d_loss = -jnp.mean(jax.nn.log_sigmoid(r)) - jnp.mean(jax.nn.log_sigmoid(-f))
  g_loss = -jnp.mean(jax.nn.log_sigmoid(f)) - jnp.mean(jax.nn.log_sigmoid(-r))
  return d_loss, g_loss


def relativistic_pairing(real_logits, fake_logits):
  """RpGAN (Jolicoeur-Martineau 2019; the loss of R3GAN, Huang et al. 2025).

  Real and fake are paired by batch index i and D judges each pair:
    d_loss = E_i f(C(G(z_i)) - C(x_i)),  g_loss = E_i f(C(x_i) - C(G(z_i))),
  f(t) = softplus(t) = -log sigmoid(-t). Unlike the average variant no batch
  mean enters a pair, so each sample's gradient depends only on its partner.
  Pair with the 'r1' and 'r2' regularisers (R3GAN: both, every step).
  """
  d_loss = jnp.mean(jax.nn.softplus(fake_logits - real_logits))
  g_loss = jnp.mean(jax.nn.softplus(real_logits - fake_logits))
  return d_loss, g_loss


LOSSES: dict[str, LossFn] = {
    'minimax': minimax,
    'non_saturating': non_saturating,
    'hinge': hinge,
    'wasserstein': wasserstein,
    'least_squares': least_squares,
    'relativistic_average': relativistic_average,
    'relativistic_pairing': relativistic_pairing,
}

# Losses with a target for real samples, which label smoothing can soften.
SMOOTHABLE = ('least_squares', 'minimax', 'non_saturating')


def get_loss(name: str, label_smoothing: float = 0.0) -> LossFn:
  """Looks a loss up by name; an unknown name lists the valid ones.

  Args:
    name: a key of ``LOSSES`` (``train.loss``).
    label_smoothing: s in [0, 1) (``train.label_smoothing``): D's target for
      real samples becomes 1 - s. Only for the losses in ``SMOOTHABLE``.
  """
  if name not in LOSSES:
    raise ConfigError(
        f'train.loss={name!r} is not a known loss; allowed: {sorted(LOSSES)}')
  if not label_smoothing:
    return LOSSES[name]
  if name not in SMOOTHABLE:
    raise ConfigError(f'train.label_smoothing={label_smoothing!r} needs a loss with a '
                     f'real target, but train.loss={name!r}; allowed losses: '
                     f'{sorted(SMOOTHABLE)}')
  return functools.partial(LOSSES[name], label_smoothing=label_smoothing)


def validate_config(t) -> None:
  """Raises ConfigError for ``train.loss`` and ``train.label_smoothing``."""
  validation.choice('train.loss', t.loss, LOSSES)
  validation.at_least_zero('train.label_smoothing', t.label_smoothing, below_one=True)
  if t.label_smoothing and t.loss not in SMOOTHABLE:
    raise ConfigError(f'train.label_smoothing={t.label_smoothing!r} needs a loss with '
                      f'a real target, but train.loss={t.loss!r}; allowed losses: '
                      f'{", ".join(repr(n) for n in SMOOTHABLE)}')
