"""BiGAN / ALI (task 'bigan', configs/bigan.py): three players, one flipped-label loss.

- Shapes: E (N, ...) -> (N, z_dim), D(x, z) -> (N,), G (N, z_dim) -> (N, ...),
  for each model family.
- One SGD step of the jitted train step equals, for each of G, E and D,
  params - lr * jax.grad of that player's loss written out here with
  log-sigmoids (non_saturating, minimax; label smoothing on D only); the
  alternating rule gives G and E the gradient at the updated D; the flipped
  least-squares loss equals its formula.
- Learning: on the 8-mode ring E and G become each other's inverse:
  |G(E(x)) - x| falls from ~1 to a small fraction of it.
- Bad input is one line and no workdir; the CLI trains the tiny config end
  to end.
"""

import json
import os
import subprocess
import sys

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import bigan as bigan_config
from gan_jax import build, losses, models, steps
from gan_jax.data import create_dataset
from gan_jax.errors import ConfigError
from gan_jax.models import bigan as bigan_models
from gan_jax.tasks import bigan as bigan_task
from gan_jax.train import train_and_evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LR = 0.1


class _NormedTrunk(nn.Module):
  """Dense -> BatchNorm -> LeakyReLU: the conv trunk's BatchNorm plumbing at an MLP's cost."""

  @nn.compact
  def __call__(self, x, train=True):
    x = nn.Dense(8)(x.reshape(x.shape[0], -1))
    return nn.leaky_relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x), 0.2)


def _setup(variant='ring,tiny', loss='non_saturating', smoothing=0.0, batch_norm=False,
           **train):
  """Config, data, game and state of SGD(lr LR) on ``variant``; with ``batch_norm``
  E and D's x-branch are ``_NormedTrunk``s (model states to carry)."""
  config = bigan_config.get_config(variant)
  config.optim.name = 'sgd'
  config.optim.g_lr = config.optim.d_lr = LR
  config.train.loss, config.train.label_smoothing = loss, smoothing
  for k, v in train.items():
    config.train[k] = v
  dataset = create_dataset(config.data, config.seed,
                           models.native_image_size(config.model.name))
  game = build.create_game(config, dataset)
  if batch_norm:
    task = game.task
    task = bigan_task.BiGAN(
        task.module('generator'), bigan_models.Encoder(_NormedTrunk(), task.z_dim),
        bigan_models.JointDiscriminator(_NormedTrunk(), 16), task.d_loss_fn,
        task.ge_loss_fn, task.z_dim, task.sample_key)
    game = steps.Game(task, game.txs)
  return config, dataset, game, build.init_state(config, game, dataset)


def _sgd(params, grads):
  return jax.tree.map(lambda p, g: p - LR * g, params, grads)


def _log_sigmoid(logits):
  """log D = log 1 / (1 + exp(-l)), written as -log(1 + exp(-l))."""
  return -jnp.logaddexp(0.0, -logits)


def _run(task, params, model_state, name, *inputs):
  """One player in training mode: (output, its new model state)."""
  state = model_state[name]
  variables = {'params': params[name], **state}
  if not state:
    return task.module(name).apply(variables, *inputs, train=True), {}
  out, new = task.module(name).apply(variables, *inputs, train=True, mutable=list(state))
  return out, dict(new)


def _hand_losses(task, params, model_state, x, z, loss, s):
  """Each player's loss of the BiGAN game written out, and what else the step reports.

  l_r = D(x, E(x)), l_f = D(G(z), z); D's target 1 - s on real pairs;
  G and E share one loss with the labels flipped and hard targets.
  """
  code, e_state = _run(task, params, model_state, 'encoder', x)
  fake, g_state = _run(task, params, model_state, 'generator', z)
  # D in training mode normalises each batch by its own statistics, so its
  # outputs do not depend on the running averages the first pass updates.
  lr, d_state = _run(task, params, model_state, 'discriminator', x, code)
  lf, d_state = _run(task, params, {**model_state, 'discriminator': d_state},
                     'discriminator', fake, z)
  if loss == 'least_squares':
    d = 0.5 * jnp.mean((lr - (1 - s)) ** 2) + 0.5 * jnp.mean(lf ** 2)
    ge = 0.5 * jnp.mean((lf - 1) ** 2) + 0.5 * jnp.mean(lr ** 2)
  else:
    d = (-jnp.mean((1 - s) * _log_sigmoid(lr) + s * _log_sigmoid(-lr))
         - jnp.mean(_log_sigmoid(-lf)))
    if loss == 'non_saturating':  # G: D(G(z), z) -> 1; E: D(x, E(x)) -> 0
      ge = -jnp.mean(_log_sigmoid(lf)) - jnp.mean(_log_sigmoid(-lr))
    else:  # minimax: V = E log D(x, E(x)) + E log(1 - D(G(z), z))
      ge = jnp.mean(_log_sigmoid(lr)) + jnp.mean(_log_sigmoid(-lf))
  recoded, _ = _run(task, params, model_state, 'encoder', fake)
  aux = {'latent_mse': jnp.mean(jnp.sum((recoded - z) ** 2, 1)) / z.shape[1],
         'd_real': jnp.mean(jax.nn.sigmoid(lr)), 'd_fake': jnp.mean(jax.nn.sigmoid(lf)),
         'model_state': {'generator': g_state, 'encoder': e_state,
                         'discriminator': d_state}}
  return {'discriminator': d, 'generator': ge, 'encoder': ge}, aux


def _own_grads(task, params, model_state, x, z, loss, s, players):
  """{player: d(its own hand-written loss) / d(its params)}, one jax.grad each."""
  def own(player):
    return jax.grad(lambda p: _hand_losses(task, {**params, player: p}, model_state, x, z,
                                           loss, s)[0][player])(params[player])
  return {player: own(player) for player in players}


def _hand_step(task, params, model_state, x, z, loss, s):
  """(each player's own gradient, the losses, aux), jitted (compiling costs
  less than running it op by op)."""
  @jax.jit
  def run(params, model_state, x, z):
    return (_own_grads(task, params, model_state, x, z, loss, s, tuple(params)),
            *_hand_losses(task, params, model_state, x, z, loss, s))
  return run(params, model_state, x, z)


def test_players_and_shapes_of_each_model_family():
  # Shapes only (jax.eval_shape): nothing is compiled.
  for variant, shape in (('tiny', (28, 28, 1)), ('ring,tiny', (2,))):
    config = bigan_config.get_config(variant)
    game = build.create_game(config, shape)
    assert list(game.task.players) == ['generator', 'encoder', 'discriminator']
    assert game.task.phases == (('discriminator',), ('generator', 'encoder'))
    assert set(jax.eval_shape(lambda: build.init_state(config, game, shape)).ema_params) == {
        'generator', 'encoder'}
    _check_shapes(config, game, shape)
  config = bigan_config.get_config('tiny')
  config.model.name = 'dcgan64'  # the DCGAN-64 trunk
  _check_shapes(config, build.create_game(config, (64, 64, 3)), (64, 64, 3))


def _check_shapes(config, game, shape, n=3):
  state = jax.eval_shape(lambda: build.init_state(config, game, shape))
  task, z_dim = game.task, config.model.z_dim
  x, z = jnp.zeros((n, *shape)), jnp.zeros((n, z_dim))
  assert jax.eval_shape(task.encode, state.params, state.model_state, x).shape == (n, z_dim)
  assert jax.eval_shape(task.discriminate_pairs, state.params, state.model_state, x,
                        z).shape == (n,)
  assert jax.eval_shape(task.sample, state.params, state.model_state, {'z': z}).shape == (
      n, *shape)


@pytest.mark.parametrize('loss,smoothing,batch_norm', [
    # s in D's loss only: G and E keep hard targets. With BatchNorm in E and
    # D, the step must also carry their model states.
    ('non_saturating', 0.2, True),
    ('minimax', 0.2, False),
])
def test_sgd_step_equals_each_players_hand_written_gradient(loss, smoothing, batch_norm):
  config, dataset, game, state = _setup('ring,tiny', loss, smoothing, batch_norm)
  task = game.task
  batch = dataset.batch(0, config.train.batch_size)
  new, metrics = jax.jit(steps.make_train_step(game, 'simultaneous'))(state, batch)
  x = jnp.asarray(batch[task.sample_key])
  # The task's z: N(0, I) from the step's key (one device: the whole draw).
  z = jax.random.normal(steps.step_key(state), (x.shape[0], config.model.z_dim))
  grads, ref, aux = _hand_step(task, state.params, state.model_state, x, z, loss, smoothing)
  for player, grad in grads.items():
    assert optax.tree.norm(grad) > 0, player
    chex.assert_trees_all_close(new.params[player], _sgd(state.params[player], grad),
                                rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics[f'{task.players[player].prefix}_loss'], ref[player],
                               rtol=1e-5)
  for key in ('latent_mse', 'd_real', 'd_fake'):
    np.testing.assert_allclose(metrics[key], aux[key], rtol=1e-5)
  # BatchNorm statistics: E's from its pass on the real batch (not the
  # metric's pass on G(z)), D's after its real and then its fake pass.
  chex.assert_trees_all_close(new.model_state, aux['model_state'], rtol=1e-5, atol=1e-6)
  assert bool(jax.tree.leaves(new.model_state['encoder'])) == batch_norm


def test_flipped_losses_swap_the_labels_without_smoothing():
  real, fake = jnp.array([0.3, -1.2, 2.0]), jnp.array([-0.5, 0.7, 0.1])
  ns = bigan_task.flipped_loss('non_saturating', losses.get_loss('non_saturating'))
  np.testing.assert_allclose(ns(real, fake), -jnp.mean(_log_sigmoid(fake))
                             - jnp.mean(_log_sigmoid(-real)), rtol=1e-6)
  ls = bigan_task.flipped_loss('least_squares', losses.get_loss('least_squares'))
  np.testing.assert_allclose(ls(real, fake), 0.5 * jnp.mean((fake - 1) ** 2)
                             + 0.5 * jnp.mean(real ** 2), rtol=1e-6)
  mm = bigan_task.flipped_loss('minimax', losses.get_loss('minimax'))
  np.testing.assert_allclose(mm(real, fake), -losses.get_loss('minimax')(real, fake)[0],
                             rtol=1e-6)


def test_alternating_step_moves_g_and_e_at_the_updated_discriminator():
  loss, s = 'non_saturating', 0.2
  config, dataset, game, state = _setup('ring,tiny', loss, s, update_rule='alternating')
  task = game.task
  batch = dataset.batch(0, config.train.batch_size)
  new, metrics = jax.jit(steps.make_train_step(game, 'alternating'))(state, batch)
  x = jnp.asarray(batch['x'])
  z = jax.random.normal(steps.step_key(state), (x.shape[0], config.model.z_dim))
  grads, ref, _ = _hand_step(task, state.params, state.model_state, x, z, loss, s)
  d1 = _sgd(state.params['discriminator'], grads['discriminator'])
  chex.assert_trees_all_close(new.params['discriminator'], d1, rtol=1e-5, atol=1e-6)
  moved_grads, moved_ref, _ = _hand_step(task, {**state.params, 'discriminator': d1},
                                         state.model_state, x, z, loss, s)
  for player in ('generator', 'encoder'):
    chex.assert_trees_all_close(new.params[player],
                                _sgd(state.params[player], moved_grads[player]),
                                rtol=1e-5, atol=1e-6)
  # Each loss as its own phase saw it: D's at the old D, G's and E's at d1.
  np.testing.assert_allclose(
      [metrics['d_loss'], metrics['g_loss'], metrics['e_loss']],
      [ref['discriminator'], moved_ref['generator'], moved_ref['encoder']], rtol=1e-5)
  # Not the simultaneous step: G's and E's gradients at d1 differ from those at d.
  for player in ('generator', 'encoder'):
    assert optax.tree.norm(jax.tree.map(jnp.subtract, moved_grads[player],
                                        grads[player])) > 1e-3 * optax.tree.norm(grads[player])


def test_encoder_and_generator_become_inverses_on_the_ring():
  # configs/bigan.py:ring (MLPs, z_dim 2, Adam 2e-3, EMA 0.99), 1,600 steps.
  # Over seeds 0-9 the mean |G(E(x)) - x| on 2,048 real points fell from
  # 0.89-1.15 at step 0 to 0.017-0.067, with every G(E(x)) in the mode of its
  # x; E(G(z)) - z stays at ~0.25 per dimension, because the modes are
  # nearly points (std 0.01): where inside its mode z went is lost.
  config = bigan_config.get_config('ring')
  dataset = create_dataset(config.data, config.seed, None)
  game = build.create_game(config, dataset)
  state = build.init_state(config, game, dataset)
  step = steps.make_train_step(game, config.train.update_rule)
  run = jax.jit(lambda s, xs: jax.lax.scan(lambda s, x: step(s, {'x': x}), s, xs))
  x = jnp.asarray(dataset.batch(10 ** 6, 2048)['x'])  # held apart from the training draws
  z = jax.random.normal(jax.random.PRNGKey(1), (2048, config.model.z_dim))
  means = jnp.asarray(dataset.mixture.means)
  mode = lambda v: jnp.argmin(jnp.sum((v[:, None] - means[None]) ** 2, -1), 1)

  @jax.jit
  def measure(s):
    params = build.sampling_params(game, s)  # the EMA of G and E
    recon = game.task.sample(params, s.model_state, {'z': game.task.encode(
        params, s.model_state, x)})
    recoded = game.task.encode(params, s.model_state,
                               game.task.sample(params, s.model_state, {'z': z}))
    return (jnp.mean(jnp.linalg.norm(recon - x, axis=1)),
            jnp.mean(jnp.sum((recoded - z) ** 2, 1)) / z.shape[1],
            jnp.mean(mode(recon) == mode(x)))

  num_steps, batch = 1600, config.train.batch_size
  before = [float(v) for v in measure(state)]
  xs = np.stack([dataset.batch(t, batch)['x'] for t in range(num_steps)])
  state, metrics = run(state, xs)
  after = [float(v) for v in measure(state)]
  print(f'|G(E(x)) - x| {before[0]:.3f} -> {after[0]:.3f}, |E(G(z)) - z|^2 / z_dim '
        f'{before[1]:.3f} -> {after[1]:.3f}, same mode {before[2]:.2f} -> {after[2]:.2f}')
  assert bool(jnp.all(metrics['finite']))
  assert before[0] > 0.8 and after[0] < 0.2 * before[0]
  assert after[2] > 0.95
  assert after[1] < 0.6 * before[1]


def test_cli_refuses_an_unsupported_loss_in_one_line_without_a_workdir(tmp_path):
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/bigan.py:tiny',
       '--config.train.loss=hinge', f'--workdir={workdir}'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: train.loss='hinge' has no flipped-label loss for task='bigan'; allowed: "
      "'minimax', 'non_saturating', 'least_squares'")
  assert not workdir.exists()


@pytest.mark.parametrize('field,value,message', [
    ('train.regularizers', ('r1',), r"train.regularizers=\('r1',\): task='bigan' has no "
     r"penalties .* allowed: \(\)"),
    ('train.loss', 'wasserstein', "train.loss='wasserstein' has no flipped-label loss"),
    ('model.pack', 2, "model.pack=2: task='bigan' judges single"),
    ('model.d_spectral_norm', True, 'model.d_spectral_norm=True'),
    ('model.name', 'scalar_dirac', "task='bigan' has an encoder for model.name in"),
    ('model.joint_hidden', 0, 'model.joint_hidden=0; must be a positive integer'),
])
def test_bad_configs_are_one_config_error_before_the_workdir(tmp_path, field, value, message):
  config = bigan_config.get_config('ring,tiny')
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(ConfigError, match=message):
    train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_cli_trains_the_tiny_config_end_to_end(tmp_path):
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/bigan.py:tiny',
       f'--workdir={workdir}', '--config.log.plots=False'],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']
  for name in ('samples_final.png', 'interpolation_final.png', 'model_summary.txt'):
    assert (workdir / name).exists(), name
  with open(workdir / 'metrics.jsonl') as f:
    last = json.loads(f.read().splitlines()[-1])
  assert last['step'] == 4 and last['g_loss'] == last['e_loss']
  assert all(np.isfinite(last[k]) for k in ('d_loss', 'g_loss', 'latent_mse'))
