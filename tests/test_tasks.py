"""Tasks beyond G(z) vs D(x): a conditional and a four-player game, and old checkpoints.

- toy_conditional: labels reach the step from the dataset (through seeds and
  d_steps chunks), and one SGD step equals updates computed from hand-written
  per-player losses with jax.grad.
- toy_cycle: each of the four players' one-pass gradients equals a separate
  jax.grad of its own hand-written loss; 8 fake devices (tests/
  tasks_parallel_check.py) equal one device.
- Checkpoints of the two-player layout restore into the task layout, or are
  refused with one line; nothing is moved aside.
"""

import json
import os
import subprocess
import sys

import chex
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from configs import dcgan, toy_tasks
from gan_jax import build, steps
from gan_jax.checkpoint import LEGACY_FIELDS, Checkpointer, state_digest
from gan_jax.data import create_dataset
from gan_jax.errors import CheckpointLayoutError
from gan_jax.modeling import sample_latent
from gan_jax.seeds import Seeds
from gan_jax.tasks.base import Task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LR = 0.1


def _setup(variant, d_steps=1, update='simultaneous'):
  config = toy_tasks.get_config(f'{variant},tiny')
  config.optim.name = 'sgd'
  config.optim.g_lr = config.optim.d_lr = LR
  config.train.d_steps, config.train.update_rule = d_steps, update
  dataset = create_dataset(config.data, config.seed, None)
  game = build.create_game(config, dataset)
  return config, dataset, game, build.init_state(config, game, dataset)


def _sgd(params, grads):
  return jax.tree.map(lambda p, g: p - LR * g, params, grads)


def _ns_losses(real_logits, fake_logits):
  """Non-saturating losses written out: -E log D(x) - E log(1 - D(G)), -E log D(G)."""
  d = -jnp.mean(jnp.log(jax.nn.sigmoid(real_logits))) - jnp.mean(
      jnp.log(1 - jax.nn.sigmoid(fake_logits)))
  return d, -jnp.mean(jnp.log(jax.nn.sigmoid(fake_logits)))


def _conditional_losses(game, g, d, x, y, key):
  """(L_D, L_G) of the conditional toy, by hand: one-hot codes concatenated to z and x."""
  task = game.task
  code = jax.nn.one_hot(y, task.num_classes)
  z = sample_latent(key, x.shape[0], task.z_dim, None)
  fake = task.module('generator').apply({'params': g}, jnp.concatenate([z, code], 1))
  critic = lambda v: task.module('discriminator').apply({'params': d},
                                                        jnp.concatenate([v, code], 1))
  return _ns_losses(critic(x), critic(fake))


def test_conditional_batches_carry_the_mode_labels():
  _, dataset, _, _ = _setup('conditional')
  batch = dataset.batch(3, 64)
  assert set(batch) == {'x', 'label'} and batch['label'].dtype == np.int32
  nearest = np.argmin(((batch['x'][:, None] - dataset.mixture.means[None]) ** 2).sum(-1), 1)
  np.testing.assert_array_equal(nearest, batch['label'])
  seeds = Seeds(0, 2)
  stacked = seeds.batch(seeds.datasets(dataset), 3, 64, 0, 1)
  assert stacked['x'].shape == (2, 64, 2) and stacked['label'].shape == (2, 64)
  np.testing.assert_array_equal(stacked['label'][0], batch['label'])


def test_conditional_step_equals_hand_written_gradients():
  config, dataset, game, state = _setup('conditional')
  batch = dataset.batch(0, config.train.batch_size)
  new, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, batch)
  g, d = state.params['generator'], state.params['discriminator']
  key = steps.step_key(state)
  x, y = jnp.asarray(batch['x']), jnp.asarray(batch['label'])
  d_grad = jax.grad(lambda d_: _conditional_losses(game, g, d_, x, y, key)[0])(d)
  g_grad = jax.grad(lambda g_: _conditional_losses(game, g_, d, x, y, key)[1])(g)
  chex.assert_trees_all_close(new.params['discriminator'], _sgd(d, d_grad), atol=1e-6)
  chex.assert_trees_all_close(new.params['generator'], _sgd(g, g_grad), atol=1e-6)
  d_ref, g_ref = _conditional_losses(game, g, d, x, y, key)
  np.testing.assert_allclose([metrics['d_loss'], metrics['g_loss']], [d_ref, g_ref],
                             rtol=1e-5)
  # The labels matter: the same points with other labels give another step.
  other = dict(batch, label=(batch['label'] + 1) % dataset.num_classes)
  moved, _ = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, other)
  assert not np.allclose(moved.params['generator']['Dense_0']['kernel'],
                         new.params['generator']['Dense_0']['kernel'])


def test_conditional_d_steps_chunks_keep_points_with_their_labels():
  # d_steps 2: D first steps on chunk 0 (rows 0, 2, 4, ...) with key 0, then
  # both players on chunk 1 (rows 1, 3, ...) with key 1.
  config, dataset, game, state = _setup('conditional', d_steps=2)
  batch = dataset.batch(0, 2 * config.train.batch_size)
  new, _ = jax.jit(steps.make_train_step(game, 'simultaneous', d_steps=2))(state, batch)
  x, y = jnp.asarray(batch['x']), jnp.asarray(batch['label'])
  g, d = state.params['generator'], state.params['discriminator']
  loss = lambda g_, d_, rows, k: _conditional_losses(
      game, g_, d_, x[rows::2], y[rows::2], steps.step_key(state, k))
  d1 = _sgd(d, jax.grad(lambda d_: loss(g, d_, 0, 0)[0])(d))
  d2 = _sgd(d1, jax.grad(lambda d_: loss(g, d_, 1, 1)[0])(d1))
  g1 = _sgd(g, jax.grad(lambda g_: loss(g_, d1, 1, 1)[1])(g))
  chex.assert_trees_all_close(new.params['discriminator'], d2, atol=1e-6)
  chex.assert_trees_all_close(new.params['generator'], g1, atol=1e-6)


def _cycle_losses(game, params, a, b):
  """The four players' losses of the cycle toy, written out with module.apply."""
  task = game.task
  f = lambda name, v: task.module(name).apply({'params': params[name]}, v)
  fake_b, fake_a = f('g_ab', a), f('g_ba', b)
  cycle = (jnp.mean(jnp.abs(f('g_ba', fake_b) - a).sum(1))
           + jnp.mean(jnp.abs(f('g_ab', fake_a) - b).sum(1)))
  d_b, g_ab = _ns_losses(f('d_b', b), f('d_b', fake_b))
  d_a, g_ba = _ns_losses(f('d_a', a), f('d_a', fake_a))
  w = task.cycle_weight
  return {'g_ab': g_ab + w * cycle, 'g_ba': g_ba + w * cycle, 'd_a': d_a, 'd_b': d_b}


def test_four_player_one_pass_gradients_equal_each_players_own_grad():
  config, dataset, game, state = _setup('cycle')
  assert set(state.params) == {'g_ab', 'g_ba', 'd_a', 'd_b'}
  assert game.task.phases == (('d_a', 'd_b'), ('g_ab', 'g_ba'))
  assert set(state.ema_params) == {'g_ab', 'g_ba'}
  batch = jax.tree.map(jnp.asarray, dataset.batch(0, config.train.batch_size))
  losses, grads, _ = jax.jit(lambda s, b: steps.player_gradients(
      game, s, b, steps.step_key(s)))(state, batch)
  ref = _cycle_losses(game, state.params, batch['a'], batch['b'])
  for player in state.params:
    own = jax.grad(lambda p, player=player: _cycle_losses(
        game, {**state.params, player: p}, batch['a'], batch['b'])[player])(
            state.params[player])
    chex.assert_trees_all_close(grads[player], own, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses[player], ref[player], rtol=1e-5)
    assert optax.tree.norm(own) > 0
  # Each player's gradient is of its own loss only: a generator's differs
  # from the gradient of the sum of all losses.
  total = jax.grad(lambda p: sum(_cycle_losses(game, {**state.params, 'g_ab': p},
                                               batch['a'], batch['b']).values()))(
                                                   state.params['g_ab'])
  assert not np.allclose(jax.tree.leaves(total)[0], jax.tree.leaves(grads['g_ab'])[0])


@pytest.mark.parametrize('update', ['alternating', 'extragradient', 'consensus'])
def test_four_player_rules_move_every_player(update):
  config, dataset, game, state = _setup('cycle', update=update)
  new, metrics = jax.jit(steps.make_train_step(game, update))(
      state, dataset.batch(0, config.train.batch_size))
  assert float(metrics['finite']) == 1.0
  for player in state.params:
    assert float(metrics[f'{player}_update_norm']) > 0, player


class _LossesOnly(Task):
  """A task that only has ``losses`` (no generate/judge split), wrapping another."""

  def __init__(self, inner):
    self.inner, self.players, self.axis_name = inner, inner.players, inner.axis_name

  def init(self, rng, example_batch):
    return self.inner.init(rng, example_batch)

  def losses(self, params, model_state, batch, rng):
    return self.inner.losses(params, model_state, batch, rng)


@pytest.mark.parametrize('variant', ['conditional', 'cycle'])
def test_alternating_reuse_of_samples_equals_recomputing_them(variant):
  # The two-stage rule runs the generators once; a task without the split
  # recomputes every forward pass per phase. Same update either way.
  config, dataset, game, state = _setup(variant, update='alternating')
  assert game.task.two_stage
  plain = steps.Game(_LossesOnly(game.task), game.txs)
  assert not plain.task.two_stage
  batch = dataset.batch(0, config.train.batch_size)
  ours, m1 = jax.jit(steps.make_train_step(game, 'alternating'))(state, batch)
  ref, m2 = jax.jit(steps.make_train_step(plain, 'alternating'))(state, batch)
  chex.assert_trees_all_close(ours.params, ref.params, atol=1e-6)
  np.testing.assert_allclose([m1[k] for k in sorted(m2)], [m2[k] for k in sorted(m2)],
                             rtol=1e-5, atol=1e-7)
  # Not the simultaneous step: the generators saw the updated discriminators.
  sim, _ = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, batch)
  generator = game.task.with_role('generator')[0]
  assert not np.allclose(jax.tree.leaves(sim.params[generator])[0],
                         jax.tree.leaves(ours.params[generator])[0])


def test_toy_tasks_on_8_fake_devices_equal_one_device():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8')
  env.pop('JAX_PLATFORMS', None)
  out = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'tasks_parallel_check.py')],
                       cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
  assert out.returncode == 0, out.stderr[-3000:]
  results = json.loads(out.stdout.strip().splitlines()[-1])
  assert sorted(results) == sorted(f'{task}/{update}/d_steps=2/{mode}'
                                   for task in ('conditional', 'cycle', 'cyclegan')
                                   for update in ('simultaneous', 'alternating')
                                   for mode in ('jit', 'pmap'))
  for name, error in results.items():
    assert error < 1e-4, (name, error)


def _legacy_save(workdir, state, step):
  """Writes ``state`` as the two-player layout did: fields g_params, d_state, ..."""
  tree = flax.serialization.to_state_dict(state)
  old = {'step': tree['step'], 'rng': tree['rng']}
  for field, (kind, player) in LEGACY_FIELDS.items():
    old[field] = tree[kind][player]
  manager = ocp.CheckpointManager(os.path.join(workdir, 'checkpoints'),
                                  options=ocp.CheckpointManagerOptions(create=True))
  manager.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(old),
      meta=ocp.args.JsonSave({'state_sha256': state_digest(old), 'config': {}})))
  manager.wait_until_finished()
  manager.close()


def test_two_player_checkpoint_restores_into_the_task_layout(tmp_path):
  config = dcgan.get_config('tiny')
  game = build.create_game(config, (28, 28, 1))
  state = build.init_state(config, game, (28, 28, 1))
  state = state.replace(step=jnp.asarray(3, jnp.int32), params=jax.tree.map(
      lambda p: p + 0.5, state.params))
  _legacy_save(str(tmp_path), state, 3)
  ckpt = Checkpointer(str(tmp_path))
  restored, _ = ckpt.restore_latest_good(build.init_state(config, game, (28, 28, 1)))
  chex.assert_trees_all_equal(restored, state)
  # Another run's shapes: one line, nothing moved aside as damaged.
  config.model.g_width = 8
  other = build.create_game(config, (28, 28, 1))
  with pytest.raises(CheckpointLayoutError, match='older two-player layout and does not '
                     "match this run's shapes"):
    ckpt.restore_latest_good(build.init_state(config, other, (28, 28, 1)))
  # A game of other players: one line naming them.
  cycle, dataset, cycle_game, _ = _setup('cycle')
  with pytest.raises(CheckpointLayoutError, match="only restores into task=unconditional"):
    ckpt.restore_latest_good(build.init_state(cycle, cycle_game, dataset))
  assert ckpt.all_steps() == [3] and not os.path.exists(str(tmp_path / 'checkpoints_damaged'))
  ckpt.close()
