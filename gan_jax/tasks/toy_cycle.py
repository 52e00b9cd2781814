"""Four players between two 2-D mixtures with a cycle loss (``task = 'toy_cycle'``).

The layout a CycleGAN needs, on points: batch {'a': (B, 2) from mixture A,
'b': (B, 2) from mixture B} (``data.name = 'ring_grid'``: A the 8-mode ring,
B the 25-mode grid, drawn independently: unpaired). Players G_ab: A -> B,
G_ba: B -> A, D_a on A, D_b on B (MLPs of ``model.g_hidden`` /
``model.d_hidden``). With (L_D, L_G) = loss(real logits, fake logits) of
``train.loss`` and the cycle loss
    C = E |G_ba(G_ab(a)) - a|_1 + E |G_ab(G_ba(b)) - b|_1,
the players minimise
    L_{G_ab} = L_G(D_b(b), D_b(G_ab(a))) + lambda C,
    L_{G_ba} = L_G(D_a(a), D_a(G_ba(b))) + lambda C,
    L_{D_b} = L_D(D_b(b), D_b(G_ab(a))),   L_{D_a} = L_D(D_a(a), D_a(G_ba(b))),
lambda = ``train.cycle_weight`` (CycleGAN's 10 by default). Samples are
G_ab(a) for points a drawn from mixture A.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses
from gan_jax.errors import ConfigError
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.state import split_variables
from gan_jax.tasks.base import Player, Task


def l1(a, b) -> jax.Array:
  """E |a - b|_1 over the batch: (B, ...) x (B, ...) -> ()."""
  return jnp.mean(jnp.sum(jnp.abs(a - b).reshape(a.shape[0], -1), axis=1))


class ToyCycle(Task):
  """Players 'g_ab', 'g_ba' (generators) and 'd_a', 'd_b' (discriminators)."""
  sample_key = 'b'

  def __init__(self, g_ab, g_ba, d_a, d_b, loss_fn, cycle_weight: float,
               source_means: np.ndarray, source_std: float, axis_name=None):
    self.players = {'g_ab': Player(g_ab, 'generator', 'g_ab'),
                    'g_ba': Player(g_ba, 'generator', 'g_ba'),
                    'd_a': Player(d_a, 'discriminator', 'd_a'),
                    'd_b': Player(d_b, 'discriminator', 'd_b')}
    self.loss_fn, self.cycle_weight = loss_fn, cycle_weight
    self.source_means, self.source_std = np.asarray(source_means, np.float32), source_std
    self.axis_name = axis_name

  def _apply(self, name, params, x):
    return self.module(name).apply({'params': params[name]}, x)

  def init(self, rng, example_batch):
    keys = self.player_keys(rng)
    point = jnp.zeros((1, example_batch['a'].shape[-1]))
    params = {name: split_variables(self.module(name).init(keys[name], point))[0]
              for name in self.players}
    return params, {name: {} for name in self.players}

  def generate(self, params, model_state, batch, rng):
    """The translations and their round trips: fake_b = G_ab(a), fake_a = G_ba(b),
    rec_a = G_ba(fake_b), rec_b = G_ab(fake_a); no model state."""
    del rng  # a deterministic game given the batch
    fake_b = self._apply('g_ab', params, batch['a'])
    fake_a = self._apply('g_ba', params, batch['b'])
    return {'fake_b': fake_b, 'fake_a': fake_a, 'rec_a': self._apply('g_ba', params, fake_b),
            'rec_b': self._apply('g_ab', params, fake_a)}, {}

  def judge(self, params, model_state, batch, samples, rng):
    a, b = batch['a'], batch['b']
    cycle = l1(samples['rec_a'], a) + l1(samples['rec_b'], b)
    d_b_loss, g_ab_adv = self.loss_fn(self._apply('d_b', params, b),
                                      self._apply('d_b', params, samples['fake_b']))
    d_a_loss, g_ba_adv = self.loss_fn(self._apply('d_a', params, a),
                                      self._apply('d_a', params, samples['fake_a']))
    losses_ = {'g_ab': g_ab_adv + self.cycle_weight * cycle,
               'g_ba': g_ba_adv + self.cycle_weight * cycle,
               'd_a': d_a_loss, 'd_b': d_b_loss}
    return losses_, ({}, {'cycle': cycle})

  def sample_inputs(self, rng, num):
    mode_key, noise_key = jax.random.split(rng)
    modes = jax.random.randint(mode_key, (num,), 0, len(self.source_means))
    noise = self.source_std * jax.random.normal(noise_key, (num, self.source_means.shape[1]))
    return {'a': jnp.asarray(self.source_means)[modes] + noise}

  def sample(self, params, model_state, inputs):
    del model_state
    return self._apply('g_ab', params, inputs['a'])


def from_config(config, data, axis_name=None) -> ToyCycle:
  """MLPs of ``config.model`` between the two mixtures of ``data`` ('ring_grid')."""
  if not hasattr(data, 'mixtures'):
    raise ConfigError("task='toy_cycle' needs two point domains: data.name='ring_grid'")
  m, t = config.model, config.train
  dim = data.sample_shape[-1]
  gen = lambda: MLPGenerator(hidden=tuple(m.g_hidden), out_shape=(dim,),
                             output_activation='none')
  disc = lambda: MLPDiscriminator(hidden=tuple(m.d_hidden))
  source = data.mixtures[0]
  return ToyCycle(gen(), gen(), disc(), disc(), losses.get_loss(t.loss),
                  float(t.get('cycle_weight', 10.0)), source.means, source.std, axis_name)
