"""Semantic inpainting (Yeh et al. 2017, arXiv 1607.07539): masks, losses, blending, search.

Yeh et al. fill the hole of a corrupted image y with G(z_hat), where z_hat
minimises  L(z) = L_c(z) + lambda L_p(z)  (lambda = 0.003 in the paper):

  L_c(z) = || W * (G(z) - y) ||_1        contextual loss (``contextual_loss``),
  L_p(z) = log(1 - D(G(z)))              prior loss (``prior_loss``),

with W the importance weights of the known pixels near the hole
(``importance_weights``), then blend G(z_hat) into y with Poisson blending
(``poisson_blend``). This module holds those pieces, the masks, the
baselines (``mean_fill``, ``nearest_neighbour_fill``, ``baseline``),
``paste_back``, and the search itself (``semantic_inpaint``, by
latent_search.py).

Shapes: images are float32 (N, H, W, C) in [-1, 1]; a mask M is (N, H, W, 1)
or (H, W, 1), broadcast over channels (and images), with Yeh's convention
1 = known pixel, 0 = missing (the hole). The JAX functions but
``nearest_neighbour_fill`` (batched itself, in chunks) also take one
(H, W, C) image, so they vmap over images; ``make_masks`` and ``check_mask``
are numpy, host-side. A pixel is read as known where M > 0.5, so the
selections (``paste_back``, ``poisson_blend``) are exact even for masks that
went through float arithmetic; ``check_mask`` insists on exact 0/1.
"""

from __future__ import annotations

import functools
import numbers
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.sparse.linalg import cg

from gan_jax import latent_search, validation
from gan_jax.batching import in_batches
from gan_jax.errors import ConfigError, DataError

_HIGHEST = jax.lax.Precision.HIGHEST

# ----------------------------------------------------------------------------
# Masks. Each generator maps (rng, H, W) to an (H, W) bool array, True = missing.


def _center(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  del rng
  missing = np.zeros((h, w), bool)
  top, left = (h - h // 2) // 2, (w - w // 2) // 2
  missing[top:top + h // 2, left:left + w // 2] = True
  return missing


def _left(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  del rng
  missing = np.zeros((h, w), bool)
  missing[:, :w // 2] = True
  return missing


def _right(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  del rng
  missing = np.zeros((h, w), bool)
  missing[:, w - w // 2:] = True
  return missing


BLOCKS = 4  # squares per 'blocks' mask, each of side min(H, W) // 4


def _blocks(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  side = max(1, min(h, w) // 4)
  missing = np.zeros((h, w), bool)
  for top, left in zip(rng.integers(0, h - side + 1, BLOCKS),
                       rng.integers(0, w - side + 1, BLOCKS)):
    missing[top:top + side, left:left + side] = True
  return missing


def _random(fraction: float) -> Callable[[np.random.Generator, int, int], np.ndarray]:
  def make(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    # Exactly round(f H W) pixels per image rather than independent coin flips:
    # every image has the same hole size, so per-image metrics are comparable
    # and no mask can come out empty or full.
    missing = np.zeros(h * w, bool)
    missing[rng.choice(h * w, round(fraction * h * w), replace=False)] = True
    return missing.reshape(h, w)
  return make


MASKS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    'center': _center,      # the centre H/2 x W/2 rectangle: a quarter of the image
    'left': _left,          # columns [0, W/2) missing
    'right': _right,        # columns [W - W/2, W) missing
    'blocks': _blocks,      # 4 squares of side min(H, W)/4, uniform positions, may overlap
    'random50': _random(0.5),  # exactly round(0.5 H W) pixels, uniform without replacement
    'random80': _random(0.8),  # exactly round(0.8 H W) pixels
}
"""Inpainting masks by name: ``gen(rng, H, W)`` -> (H, W) bool, True = missing.

Integer division rounds the regions down (H/2 is H // 2); for even H and W
'left' and 'right' are complementary halves, and for H, W divisible by 4
'center' is rows [H/4, 3H/4) x columns [W/4, 3W/4) (7..20 of 28).
'blocks' hides between s^2 and 4 s^2 pixels (s = 7 of 28: 49 to 196 of 784,
173 (22%) on average) since its squares are placed independently. The random
masks ('blocks', 'random*') differ per image.
"""


def make_masks(name: str, num: int, image_shape, seed: int = 0) -> np.ndarray:
  """``num`` inpainting masks of one kind, deterministic given the arguments.

  Mask i is ``MASKS[name](numpy.random.default_rng([seed, i]), H, W)`` with
  1 = known, 0 = missing, so mask i does not depend on ``num``: the first k
  masks of a larger set are the same k masks.

  Args:
    name: a key of ``MASKS``.
    num: the number of masks N, >= 1.
    image_shape: (H, W) or (H, W, C).
    seed: a non-negative integer.

  Returns:
    (N, H, W, 1) float32 numpy array of 0s and 1s.
  """
  if name not in MASKS:
    raise ConfigError(f'mask={name!r} is not a known mask; allowed: {sorted(MASKS)}')
  if isinstance(num, bool) or not isinstance(num, numbers.Integral) or num < 1:
    raise ConfigError(f'num={num!r}; must be a positive integer')
  if len(image_shape) not in (2, 3) or min(image_shape[:2]) < 1:
    raise ConfigError(f'image_shape={tuple(image_shape)!r}; must be (H, W) or (H, W, C)')
  h, w = int(image_shape[0]), int(image_shape[1])
  missing = np.stack([MASKS[name](np.random.default_rng([seed, i]), h, w)
                      for i in range(num)])
  return (~missing).astype(np.float32)[..., None]


def check_mask(mask) -> None:
  """Raises DataError unless every mask is binary with a hole and some context.

  An inpainting needs at least one missing pixel (M = 0) to fill and at least
  one known pixel (M = 1) to fit to; values must be exactly 0 or 1.

  Args:
    mask: (N, H, W, 1) or (H, W, 1), host or device array.
  """
  m = np.asarray(mask)
  if m.ndim not in (3, 4) or m.shape[-1] != 1:
    raise DataError(f'mask has shape {m.shape}; must be (N, H, W, 1) or (H, W, 1)')
  binary = (m == 0) | (m == 1)
  if not binary.all():
    where = tuple(int(i) for i in np.argwhere(~binary)[0])
    raise DataError(f'mask{list(where)} = {float(m[where])!r}; mask values must be exactly '
                    f'0 (missing) or 1 (known)')
  flat = m.reshape(-1, m.shape[-3] * m.shape[-2])
  for bad, what, need in ((flat.min(axis=1) == 1, 'hides no pixel (all 1)',
                           'a missing pixel (0) to fill'),
                          (flat.max(axis=1) == 0, 'hides every pixel (all 0)',
                           'a known pixel (1) to fit to')):
    if bad.any():
      first = int(np.argmax(bad))
      name = f'mask[{first}]' if m.ndim == 4 else 'mask'
      more = f' (and {int(bad.sum()) - 1} more)' if bad.sum() > 1 else ''
      raise DataError(f'{name}{more} {what}; an inpainting needs at least {need}')


# ----------------------------------------------------------------------------
# Yeh et al.'s losses.


def importance_weights(mask: jax.Array, window: int = 7) -> jax.Array:
  """Yeh et al.'s weights: a known pixel's share of missing pixels around it.

  W_i = sum_{j in N(i)} (1 - M_j) / |N(i)|  if M_i = 1,   W_i = 0  if M_i = 0,

  N(i) the window x window neighbourhood centred on i (7 in the paper). At
  the image border N(i) holds only the in-image pixels of the window and
  |N(i)| counts them: W_i is the fraction of missing pixels among the window's
  in-image pixels (those outside are neither known nor missing). Known pixels
  farther than window // 2 from the hole get 0: the contextual loss looks only
  at the hole's surroundings. Box sums through ``lax.reduce_window``.

  Args:
    mask: (N, H, W, 1) or (H, W, 1), 1 = known.
    window: an odd integer >= 1.

  Returns:
    Weights in [0, 1), the mask's shape, float32.
  """
  if isinstance(window, bool) or not isinstance(window, numbers.Integral) \
      or window < 1 or window % 2 == 0:
    raise ConfigError(f'window={window!r}; must be an odd positive integer')
  mask = jnp.asarray(mask, jnp.float32)
  r = window // 2

  def box_sum(x):
    # Zero padding adds nothing to the sum: out-of-image pixels are left out.
    lead = x.ndim - 3
    return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1,) * lead + (window, window, 1),
                                 (1,) * x.ndim, ((0, 0),) * lead + ((r, r), (r, r), (0, 0)))

  count = box_sum(jnp.ones(mask.shape[-3:], jnp.float32))  # |N(i)|, (H, W, 1)
  return jnp.where(mask > 0.5, box_sum(1.0 - mask) / count, 0.0)


def contextual_loss(fake: jax.Array, image: jax.Array, weights: jax.Array) -> jax.Array:
  """Yeh et al.'s contextual loss: the weighted L1 distance to the known pixels.

  L_c = sum_{p, c} |W_p (G(z)_pc - y_pc)|,

  W the ``importance_weights`` (or the binary mask M itself, for the plain
  masked L1 distance), broadcast over channels.

  Args:
    fake: G(z), (N, H, W, C) or (H, W, C).
    image: y, the corrupted image, same shape (its hole gets weight 0, so any
      finite values there will do).
    weights: (N, H, W, 1) or (H, W, 1).

  Returns:
    (N,) float32 (a scalar for one image).
  """
  return jnp.sum(jnp.abs(weights * (fake - image)), axis=(-3, -2, -1))


def prior_loss(d_logits: jax.Array) -> jax.Array:
  """Yeh et al.'s perceptual (prior) loss, log(1 - D(G(z))), from D's logits.

  L_p = log(1 - sigmoid(l)) = -softplus(l) = log_sigmoid(-l),

  finite for any logit (log(1 - sigmoid(l)) would round to log 0 = -inf for
  l > ~17 in float32). Minimising it pushes D(G(z)) towards 1, i.e. G(z)
  towards what D finds realistic.

  Args:
    d_logits: D's logits l for G(z), (N,) (any shape: elementwise).

  Returns:
    The same shape, values in (-inf, 0).
  """
  return jax.nn.log_sigmoid(-d_logits)


# ----------------------------------------------------------------------------
# Putting a fill into the image.


def paste_back(fill: jax.Array, image: jax.Array, mask: jax.Array) -> jax.Array:
  """The known pixels of the image, the fill's pixels in the hole.

  x = M * y + (1 - M) * fill, computed as a selection (jnp.where), so a known
  pixel is bit-identical to the image's: no float arithmetic touches it.

  Args:
    fill: (N, H, W, C) or (H, W, C), e.g. G(z_hat).
    image: y, same shape.
    mask: (N, H, W, 1) or (H, W, 1), 1 = known.

  Returns:
    The image's shape.
  """
  return jnp.where(mask > 0.5, image, fill)


def _neumann_laplacian(x: jax.Array) -> jax.Array:
  """(L x)_i = sum_{j 4-neighbour of i, j in the image} (x_i - x_j), for (H, W) x."""
  dv = x[1:, :] - x[:-1, :]  # x_{r+1,c} - x_{r,c}, one per vertical edge
  dh = x[:, 1:] - x[:, :-1]
  # Each edge adds (x_i - x_j) to both ends; padding leaves out the edges that
  # would leave the image (Neumann, no wrap-around).
  return (jnp.pad(-dv, ((0, 1), (0, 0))) + jnp.pad(dv, ((1, 0), (0, 0)))
          + jnp.pad(-dh, ((0, 0), (0, 1))) + jnp.pad(dh, ((0, 0), (1, 0))))


def _blend_channel(g, y, hole, tol, maxiter):
  """Poisson blending of one (H, W) channel; hole is bool, True = missing."""
  y_known = jnp.where(hole, 0.0, y)
  rhs = jnp.where(hole, _neumann_laplacian(g - y_known), 0.0)

  def operator(v):
    # P L P on the hole plus the identity on the known pixels: SPD on the whole
    # image (given one known pixel), and the known part of the solution is
    # the rhs's, 0.
    return jnp.where(hole, _neumann_laplacian(jnp.where(hole, v, 0.0)), v)

  # The fill itself starts CG: it is the answer whenever g agrees with y on
  # the known pixels, and close to it when G(z_hat) is good.
  x, _ = cg(operator, rhs, x0=jnp.where(hole, g, 0.0), tol=tol, atol=0.0,
            maxiter=maxiter)
  return jnp.where(hole, x, y)


@functools.partial(jax.jit, static_argnames=('tol', 'maxiter'))
def poisson_blend(fill: jax.Array, image: jax.Array, mask: jax.Array,
                  tol: float = 1e-6, maxiter: int | None = None) -> jax.Array:
  """Poisson blending (Perez et al. 2003) of a fill into the hole, as Yeh et al.

  x = argmin_x sum_{(i, j) 4-neighbours in the image} ((x_i - x_j) - (g_i - g_j))^2
      subject to x_i = y_i on the known pixels,

  g = fill, y = image: the hole takes the fill's gradients and the known
  pixels' values at its boundary. Image borders are free (Neumann: only
  in-image pairs count). With L the 4-neighbour graph Laplacian with Neumann
  borders, P the projection onto the missing pixels and y_k the image with its
  missing pixels zeroed, the minimiser's hole x_h solves

    (P L P) x_h = P (L g - L y_k),

  symmetric positive definite on the hole whenever one pixel is known (each
  connected part of the hole then borders a known pixel). It is solved
  matrix-free by conjugate gradients, per image and per channel, from
  x_h = g; each solve stops at ||residual|| <= tol ||rhs|| or after maxiter
  iterations. The fill's values on the known pixels matter: they set the
  gradients across the hole's boundary, so pass the whole G(z_hat), not a
  pasted image.

  Args:
    fill: g, (N, H, W, C) or (H, W, C).
    image: y, same shape (its hole's values are ignored).
    mask: (N, H, W, 1) or (H, W, 1), 1 = known, at least one known pixel per image.
    tol: CG's relative residual tolerance. Float32 CG stalls near 1e-7.
    maxiter: CG iterations per channel; None means H W (where exact CG ends).

  Returns:
    The image's shape; the known pixels are exactly y (jnp.where).
  """
  fill, image = jnp.asarray(fill, jnp.float32), jnp.asarray(image, jnp.float32)
  hole = jnp.broadcast_to(jnp.asarray(mask) <= 0.5, image.shape)
  h, w = image.shape[-3:-1]
  blend = functools.partial(_blend_channel, tol=tol, maxiter=maxiter or h * w)
  blend = jax.vmap(blend, in_axes=-1, out_axes=-1)  # channels
  if image.ndim == 4:
    blend = jax.vmap(blend)  # images
  return blend(fill, image, hole)


# ----------------------------------------------------------------------------
# Baselines.


def mean_fill(image: jax.Array, mask: jax.Array, mean_image: jax.Array) -> jax.Array:
  """The hole filled with the per-pixel mean of the training images.

  x = M * y + (1 - M) * mean_t t (``paste_back`` with the mean as fill).

  Args:
    image: y, (N, H, W, C) or (H, W, C).
    mask: (N, H, W, 1) or (H, W, 1), 1 = known.
    mean_image: (H, W, C), the mean training image.

  Returns:
    The image's shape.
  """
  return paste_back(jnp.broadcast_to(mean_image, jnp.shape(image)), image, mask)


@functools.partial(jax.jit, static_argnames=('chunk',))
def nearest_neighbour_fill(image: jax.Array, mask: jax.Array, train_images: jax.Array,
                           chunk: int = 256) -> tuple[jax.Array, jax.Array]:
  """The hole filled from the training image closest on the known pixels.

  k(n) = argmin_t sum_{p, c} M_np (t_pc - y_npc)^2
       = argmin_t ||M_n t||^2 - 2 <M_n t, M_n y_n>     (||M_n y_n||^2 is constant),

  both terms as matmuls over the flattened pixels, ``chunk`` corrupted images
  at a time: memory is a (chunk, K) block of distances, never (N, K) (256 x
  60,000 float32 is 61 MB). Ties go to the lowest index. The terms are float32
  sums of up to H W C squares, so two training images whose distances differ
  by less than ~1e-6 of that sum may be ordered either way. Matmuls use
  Precision.HIGHEST (GPUs would otherwise use TF32).

  Args:
    image: y, (N, H, W, C) corrupted images (their hole's values are ignored).
    mask: (N, H, W, 1) or (H, W, 1), 1 = known.
    train_images: (K, H, W, C).
    chunk: corrupted images per block.

  Returns:
    filled: (N, H, W, C), ``paste_back(train_images[k], image, mask)``.
    k: (N,) int32, the chosen training images.
  """
  image = jnp.asarray(image, jnp.float32)
  train = jnp.asarray(train_images, jnp.float32)
  n, num_train = image.shape[0], train.shape[0]
  known = jnp.broadcast_to(jnp.asarray(mask) > 0.5, image.shape).reshape(n, -1)
  # where, not a product: the hole's values, whatever they are, must not count.
  known_y = jnp.where(known, image.reshape(n, -1), 0.0)
  t = train.reshape(num_train, -1)
  t_sq = jnp.square(t)

  def nearest(block):
    m, my = block
    dist = (jnp.matmul(m, t_sq.T, precision=_HIGHEST)
            - 2 * jnp.matmul(my, t.T, precision=_HIGHEST))
    return jnp.argmin(dist, axis=1).astype(jnp.int32)

  chunk = min(chunk, n)
  pad = -n % chunk  # padded rows (no known pixel) are computed and dropped
  blocks = [jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, chunk, x.shape[1])
            for x in (known.astype(jnp.float32), known_y)]
  k = jax.lax.map(nearest, tuple(blocks)).reshape(-1)[:n]
  return paste_back(train[k], image, mask), k


# ----------------------------------------------------------------------------
# Semantic inpainting: the search for z_hat.

WEIGHTINGS = ('importance', 'binary')


class Completion(NamedTuple):
  """One method's completions of N corrupted images, all (N, H, W, C) but z.

  Attributes:
    fill: what the method proposes for the whole image (G(z_hat), the mean
      image, the nearest training image).
    pasted: ``paste_back(fill, image, mask)``.
    blended: ``poisson_blend(fill, image, mask)`` (the pasted image for the
      baselines, whose fill is not an image of G's).
    z: (N, d) z_hat, or None for a baseline.
    seconds: wall time of the whole method.
  """
  fill: np.ndarray
  pasted: np.ndarray
  blended: np.ndarray
  z: np.ndarray | None
  seconds: float


def inpainting_objective(generate: Callable, discriminate: Callable, prior_weight: float):
  """Yeh et al.'s L(z) = L_c(z) + lambda L_p(z) as (z (M, d), targets) -> (M,).

  ``targets``: {'image': y (M, H, W, C), 'weights': W (M, H, W, 1)} (the
  importance weights, or the binary mask for the plain contextual loss);
  ``discriminate``: (x, z) -> logits (M,); lambda = ``prior_weight``.
  """
  def objective(z, targets):
    fake = generate(z)
    loss = contextual_loss(fake, targets['image'], targets['weights'])
    if prior_weight:
      loss += prior_weight * prior_loss(discriminate(fake, z))
    return loss
  return objective


def semantic_inpaint(generate: Callable, discriminate: Callable, z_dim: int,
                     images: np.ndarray, masks: np.ndarray, *, weighting: str = 'importance',
                     prior_weight: float = 0.003, window: int = 7, restarts: int = 1,
                     steps: int = 1500, learning_rate: float = 0.03, bound: float = 4.0,
                     seed: int = 0) -> Completion:
  """Yeh et al.'s semantic inpainting of ``images`` (N, H, W, C) with holes ``masks``.

  z_hat = argmin_z L_c(z) + prior_weight * L_p(z) by Adam from ``restarts``
  draws of N(0, I) (the best kept), z kept in [-bound, bound] by stochastic
  clipping (latent_search.py); then the fill G(z_hat) is pasted and Poisson
  blended into each image. ``weighting``: 'importance' (W of window
  ``window``, the paper's) or 'binary' (W = M, the plain masked L1).
  """
  validation.choice('weighting', weighting, WEIGHTINGS)
  validation.at_least_zero('prior_weight', prior_weight)
  validation.positive('restarts', restarts, numbers.Integral)
  check_mask(masks)
  start = time.time()
  weights = importance_weights(masks, window) if weighting == 'importance' else masks
  z0 = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (len(images), restarts, z_dim)))
  result = latent_search.search(
      inpainting_objective(generate, discriminate, prior_weight),
      {'image': np.asarray(images), 'weights': np.asarray(weights)}, z0, steps=steps,
      learning_rate=learning_rate, constraint='clip', bound=bound, seed=seed,
      label=f'inpaint ({weighting}, lambda {prior_weight:g})')
  fill = in_batches(generate, result.z)
  return Completion(fill, np.asarray(paste_back(fill, images, masks)),
                    in_batches(poisson_blend, (fill, images, masks)), result.z,
                    time.time() - start)


def baseline(name: str, images: np.ndarray, masks: np.ndarray,
             train_images: np.ndarray) -> Completion:
  """'mean' (the per-pixel mean of ``train_images``) or 'nearest' (the training
  image closest on the known pixels) as a Completion; no blending (the fill is
  pasted as it is)."""
  check_mask(masks)
  start = time.time()
  if name == 'mean':
    mean = np.mean(train_images, axis=0)
    fill = np.broadcast_to(mean, images.shape)
    pasted = np.asarray(mean_fill(images, masks, mean))
  elif name == 'nearest':
    pasted, k = nearest_neighbour_fill(images, masks, train_images)
    pasted, fill = np.asarray(pasted), np.asarray(train_images)[np.asarray(k)]
  else:
    raise ConfigError(f"baseline={name!r}; allowed: 'mean', 'nearest'")
  return Completion(np.asarray(fill), pasted, pasted, None, time.time() - start)
