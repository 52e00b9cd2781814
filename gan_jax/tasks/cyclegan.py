"""CycleGAN between two unpaired image domains (``task = 'cyclegan'``; Zhu et al. 2017).

Batch {'a': (B, H, W, C) from domain A, 'b': (B, H, W, C) from domain B},
drawn independently ('domains' data with ``data.paired = False``). Players
G_ab: A -> B, G_ba: B -> A (ResNet translators), D_a on A, D_b on B
(PatchGANs). With (L_D, L_G) = loss(real logits, fake logits) of
``train.loss`` (CycleGAN's least squares), mean |.| the per-element L1,
lambda = ``train.cycle_weight`` (10) and mu = ``train.identity_weight`` (0.5):
    fake_b = G_ab(a), fake_a = G_ba(b), rec_a = G_ba(fake_b), rec_b = G_ab(fake_a),
    C = mean |rec_a - a| + mean |rec_b - b|                       (cycle)
    I_ab = mean |G_ab(b) - b|,   I_ba = mean |G_ba(a) - a|       (identity)
    L_{G_ab} = L_G(D_b(b), D_b(fake_b)) + lambda C + mu lambda I_ab
    L_{G_ba} = L_G(D_a(a), D_a(fake_a)) + lambda C + mu lambda I_ba
    L_{D_b} = L_D(D_b(b), D_b(pool_b(fake_b))),  L_{D_a} likewise.
The identity term feeds G_ab an image that is already in its *target*
domain B and asks for it back unchanged (as the authors' code does,
lambda_B x lambda_identity); comparing G_ab(a) with a instead, as several
reimplementations do, asks G_ab not to translate at all.

Each D learns from a pool of ``train.pool_size`` (50) past fakes
(Shrivastava et al. 2017): while the pool fills, each new fake is stored and
passed on; once full, each new fake is, with probability 1/2, swapped for a
uniformly chosen stored one (which D then sees instead), else passed on
(``pool_query``). The pools are the discriminators' model state, so they are
checkpointed and resumed with the run; 0 turns them off. G's adversarial
terms always see the current fakes. The learning-rate decay is the
optimizer's (``optim.lr_decay_start``, ``optim.lr_decay_steps``).

Samples translate held-out A images: ``sample({'a': a})`` = G_ab(a); also
{'b': b} -> G_ba(b), {'cycle_a': a} -> G_ba(G_ab(a)), {'cycle_b': b} -> G_ab(G_ba(b)).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import losses, models, validation
from gan_jax.errors import ConfigError
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task
from gan_jax.tasks.paired import HeldOutInputs, check_domains, check_static, mean_l1
from gan_jax.tasks.unconditional import d_probabilities

POOL_SWAP_PROBABILITY = 0.5


def empty_pool(size: int, image_shape) -> dict:
  """A pool of ``size`` images, none stored yet: {'images': (size, ...), 'count': ()}.

  ``count`` is a float32 (model state is averaged over devices, and a float
  survives ``pmean`` exactly when every device holds the same pool).
  """
  return {'images': jnp.zeros((size, *image_shape)), 'count': jnp.zeros((), jnp.float32)}


def pool_query(pool: dict, images: jax.Array, rng: jax.Array) -> tuple[jax.Array, dict]:
  """What D sees of (B, ...) new fakes, and the updated pool; see the module docstring.

  The B images go through the pool one at a time, in order (a ``lax.scan``,
  so a later image may draw one stored by an earlier one, as in the authors'
  loop). No gradient flows through the result.
  """
  size = pool['images'].shape[0]

  def one(carry, inputs):
    stored, count = carry
    image, key = inputs
    swap_key, slot_key = jax.random.split(key)
    filling = count < size
    swap = ~filling & (jax.random.uniform(swap_key) < POOL_SWAP_PROBABILITY)
    slot = jnp.where(filling, count.astype(jnp.int32),
                     jax.random.randint(slot_key, (), 0, size))
    out = jnp.where(swap, stored[slot], image)
    stored = stored.at[slot].set(jnp.where(filling | swap, image, stored[slot]))
    return (stored, jnp.minimum(count + 1, size)), out

  keys = jax.random.split(rng, images.shape[0])
  (stored, count), out = lax.scan(one, (pool['images'], pool['count']),
                                  (lax.stop_gradient(images), keys))
  return out, {'images': stored, 'count': count}


def global_pool_query(pool, images, rng, axis_name):
  """``pool_query`` on the global batch: every device keeps the same pool and
  takes its own rows of the result (without a device axis: ``pool_query``)."""
  if axis_name is None:
    return pool_query(pool, images, rng)
  everything = lax.all_gather(images, axis_name, tiled=True)
  out, pool = pool_query(pool, everything, rng)
  start = lax.axis_index(axis_name) * images.shape[0]
  return lax.dynamic_slice_in_dim(out, start, images.shape[0]), pool


class CycleGAN(Task):
  """Players 'g_ab', 'g_ba' (generators), 'd_a', 'd_b' (discriminators)."""
  sample_key = 'b'
  latent_inputs = False  # samples translate held-out images

  def __init__(self, translators, discriminators, loss_fn, test_inputs, cycle_weight=10.0,
               identity_weight=0.5, pool_size=50, axis_name=None):
    g_ab, g_ba = translators
    d_a, d_b = discriminators
    self.players = {'g_ab': Player(g_ab, 'generator', 'g_ab'),
                    'g_ba': Player(g_ba, 'generator', 'g_ba'),
                    'd_a': Player(d_a, 'discriminator', 'd_a'),
                    'd_b': Player(d_b, 'discriminator', 'd_b')}
    self.loss_fn, self.cycle_weight = loss_fn, cycle_weight
    self.identity_weight, self.pool_size, self.axis_name = identity_weight, pool_size, axis_name
    self.sample_inputs = HeldOutInputs(test_inputs)

  def _apply(self, name, params, x):
    return self.module(name).apply({'params': params[name]}, x)

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    params, state = {}, {}
    for name in self.players:
      domain = 'a' if name in ('g_ab', 'd_a') else 'b'
      x = jnp.zeros((1, *example_batch[domain].shape[1:]))
      params[name] = split_variables(self.module(name).init(keys[name], x))[0]
      state[name] = {}
    if self.pool_size:
      for name, domain in (('d_a', 'a'), ('d_b', 'b')):
        state[name] = {'pool': empty_pool(self.pool_size, example_batch[domain].shape[1:])}
    return params, state

  def generate(self, params, model_state, batch, rng):
    """The translations, their round trips and (when mu > 0) the identity maps; no state."""
    del model_state, rng
    a, b = batch['a'], batch['b']
    fake_b, fake_a = self._apply('g_ab', params, a), self._apply('g_ba', params, b)
    out = {'fake_b': fake_b, 'fake_a': fake_a, 'rec_a': self._apply('g_ba', params, fake_b),
           'rec_b': self._apply('g_ab', params, fake_a)}
    if self.identity_weight:
      out.update(idt_b=self._apply('g_ab', params, b), idt_a=self._apply('g_ba', params, a))
    return out, {}

  def _side(self, params, model_state, d_name, real, fake, rng):
    """(L_D, L_G's adversarial term, new D state, metrics) of one discriminator."""
    real_logits = self._apply(d_name, params, real)
    fake_logits = self._apply(d_name, params, fake)
    new_state = model_state[d_name]
    seen = fake
    if self.pool_size:
      seen, pool = global_pool_query(model_state[d_name]['pool'], fake, rng, self.axis_name)
      new_state = {'pool': pool}
    d_loss, _ = self.loss_fn(real_logits, self._apply(d_name, params, seen))
    _, g_adv = self.loss_fn(real_logits, fake_logits)
    probs = d_probabilities(real_logits, fake_logits)
    metrics = {f'{d_name}_real': probs['d_real'], f'{d_name}_fake': probs['d_fake']}
    return d_loss, g_adv, new_state, metrics

  def judge(self, params, model_state, batch, samples, rng):
    a, b = batch['a'], batch['b']
    key_a, key_b = jax.random.split(rng)
    d_b_loss, adv_ab, state_b, metrics_b = self._side(params, model_state, 'd_b', b,
                                                      samples['fake_b'], key_b)
    d_a_loss, adv_ba, state_a, metrics_a = self._side(params, model_state, 'd_a', a,
                                                      samples['fake_a'], key_a)
    cycle = mean_l1(samples['rec_a'], a) + mean_l1(samples['rec_b'], b)
    lam = self.cycle_weight
    g_ab = adv_ab + lam * cycle
    g_ba = adv_ba + lam * cycle
    metrics = {**metrics_a, **metrics_b, 'cycle': cycle, 'adv_ab': adv_ab, 'adv_ba': adv_ba}
    if self.identity_weight:
      idt_ab, idt_ba = mean_l1(samples['idt_b'], b), mean_l1(samples['idt_a'], a)
      g_ab = g_ab + self.identity_weight * lam * idt_ab
      g_ba = g_ba + self.identity_weight * lam * idt_ba
      metrics.update(identity_ab=idt_ab, identity_ba=idt_ba)
    return ({'g_ab': g_ab, 'g_ba': g_ba, 'd_a': d_a_loss, 'd_b': d_b_loss},
            ({'d_a': state_a, 'd_b': state_b}, metrics))

  def sample(self, params, model_state, inputs):
    """One of {'a'}, {'b'}, {'cycle_a'}, {'cycle_b'}: see the module docstring."""
    del model_state
    (key, x), = inputs.items()
    first, second = {'a': ('g_ab', None), 'b': ('g_ba', None), 'cycle_a': ('g_ab', 'g_ba'),
                     'cycle_b': ('g_ba', 'g_ab')}[key]
    y = self._apply(first, params, x)
    return y if second is None else self._apply(second, params, y)


def validate_config(config) -> None:
  """The static rules of task='cyclegan' (before any data is read)."""
  t = config.train
  check_static(config, 'cyclegan', ('cyclegan',), paired=False)
  validation.at_least_zero('train.cycle_weight', t.get('cycle_weight', 10.0))
  validation.at_least_zero('train.identity_weight', t.get('identity_weight', 0.5))
  pool = t.get('pool_size', 50)
  if isinstance(pool, bool) or not isinstance(pool, numbers.Integral) or pool < 0:
    raise ConfigError(f'train.pool_size={pool!r}; must be an integer >= 0 (0 = no pool)')


def from_config(config, data, axis_name=None) -> CycleGAN:
  """Two translators and two PatchGANs of ``config.model`` for unpaired ``data``."""
  check_domains(data, 'cyclegan', paired=False)
  if data.source_shape != data.sample_shape or any(s % 4 for s in data.sample_shape[:2]):
    raise ConfigError(f'task=cyclegan translates between images of one shape, sides a '
                      f'multiple of 4; the domains are {data.source_shape} and '
                      f'{data.sample_shape}')
  validate_config(config)
  t = config.train
  pair = lambda: models.create_models(config.model, data.sample_shape, axis_name)
  (g_ab, d_b), (g_ba, d_a) = pair(), pair()
  return CycleGAN((g_ab, g_ba), (d_a, d_b), losses.get_loss(t.loss), data.test_a,
                  float(t.get('cycle_weight', 10.0)), float(t.get('identity_weight', 0.5)),
                  int(t.get('pool_size', 50)), axis_name)
