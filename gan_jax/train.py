"""The training loop: ``train_and_evaluate(config, workdir)``.

Order of work: validate the config, load the data and build the models (so bad
input fails before the workdir is touched), then create or resume the state,
then run the jitted step with periodic progress lines, TensorBoard scalars,
sample grids from one fixed batch of z, orbax checkpoints and the evaluators
of ``config.eval`` (with the best checkpoint by ``log.best_metric``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from tensorboardX import SummaryWriter

from gan_jax import (config_checks, losses, models, optimizers, parallel,
                     regularizers, steps, visualize)
from gan_jax.checkpoint import Checkpointer, state_digest
from gan_jax.data import create_dataset
from gan_jax.data.images import DataError
from gan_jax.evaluation import evaluators as evaluators_lib
from gan_jax.seeds import Seeds, mean_and_stderr, unstack_seeds
from gan_jax.state import GANState, adam, create_state

# Fields whose change does not change the steps already taken (a run may be
# extended by raising train.num_steps, or get other evaluators).
_OBSERVATION_ONLY = ('log.', 'eval.', 'train.num_steps')


class NonFiniteError(RuntimeError):
  """A loss or gradient became NaN/inf and train.on_nonfinite = 'stop'."""


def create_game(config, sample_shape, axis_name=None):
  """Builds the models, loss, D's penalties and optimizers: the fixed parts of a step."""
  generator, discriminator = models.create_models(config.model, sample_shape,
                                                  axis_name=axis_name)
  t = config.train

  def optimizer(learning_rate):  # one per player: TTUR is g_lr != d_lr
    return steps.player_optimizer(
        t.update_rule, optimizers.create_optimizer(config.optim, learning_rate))

  return steps.Game(
      generator, discriminator, losses.get_loss(t.loss, t.label_smoothing),
      g_tx=optimizer(config.optim.g_lr), d_tx=optimizer(config.optim.d_lr),
      z_dim=config.model.z_dim, axis_name=axis_name,
      penalties=regularizers.create_penalties(t), g_ema_decay=t.g_ema_decay,
      consensus_gamma=t.consensus_gamma)


def init_state(config, game: steps.Game, sample_shape, num_seeds: int = 1) -> GANState:
  """The step-0 state, from PRNGKey(config.seed + i) for each of ``num_seeds``.

  With several seeds every leaf gets a leading seed axis (see seeds.py).
  """
  return Seeds(config.seed, num_seeds).init(lambda rng: create_state(
      rng, game.generator, game.discriminator, game.g_tx, game.d_tx,
      config.model.z_dim, sample_shape))


def make_sampler(game: steps.Game):
  """state, z (N, z_dim) -> G(z) with BatchNorm's running statistics.

  With the generator EMA on (train.g_ema_decay > 0) G uses the EMA params.
  """
  use_ema = game.g_ema_decay > 0

  @jax.jit
  def sample(state: GANState, z):
    params = state.g_ema_params if use_ema else state.g_params
    return game.generator.apply({'params': params, **state.g_state}, z, train=False)
  return sample


def fixed_latents(config) -> jax.Array:
  """The one batch of z that every sample grid of a run is drawn from."""
  return jax.random.normal(jax.random.PRNGKey(config.seed + 1_000_003),
                           (config.log.num_samples, config.model.z_dim))


def _prepare_workdir(workdir: str) -> None:
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, '.write_test')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise config_checks.ConfigError(
        f'--workdir={workdir!r} is not a writable directory ({e.strerror})') from None


def _write_json(path: str, obj) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def _run_defining(config_dict: dict) -> dict:
  """The config fields that change the run's numbers (all but logging)."""
  flat = {}

  def walk(prefix, node):
    for k, v in node.items():
      key = f'{prefix}{k}'
      if isinstance(v, dict):
        walk(key + '.', v)
      elif not key.startswith(_OBSERVATION_ONLY):
        flat[key] = list(v) if isinstance(v, (list, tuple)) else v
  walk('', config_dict)
  return flat


@contextlib.contextmanager
def _stop_requests():
  """Turns SIGTERM and SIGINT into a flag the loop checks between steps.

  Pre-emption arrives as SIGTERM: the loop then saves a checkpoint and
  returns normally, so no step is lost and nothing is half-written.
  """
  requested = []
  def handler(signum, frame):
    del frame
    logging.warning('Received %s: saving a checkpoint and stopping.',
                    signal.Signals(signum).name)
    requested.append(signum)
  previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield requested
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def _check_same_run(saved: dict, config) -> None:
  now = _run_defining(json.loads(config.to_json_best_effort()))
  before = _run_defining(saved)
  diff = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
  if diff:
    raise config_checks.ConfigError(
        'the workdir holds a checkpoint of a different run; differing fields: '
        + ', '.join(f'{k} (saved {before.get(k)!r}, now {now.get(k)!r})' for k in diff)
        + '. Use another --workdir, or pass --allow_config_change to resume anyway.')


class _Evaluation:
  """The evaluators of ``config.eval`` in the loop: eval.jsonl, TensorBoard, best checkpoint.

  Built before the workdir is touched, so that an unknown evaluator or metric
  fails first. ``maybe_run(done, state, meta)`` runs the evaluators due at
  step ``done`` (on every process: the sampler may span devices), appends
  {'step', '<name>/<metric>': value, ...} to <workdir>/eval.jsonl, writes
  TensorBoard eval/<name>/<metric>, and if ``log.best_metric`` improved saves
  the state to <workdir>/best/checkpoints/<step> (one kept). The real-vs-real
  floor of every metric is written once to <workdir>/eval_floor.json and
  TensorBoard eval_floor/*.
  """

  def __init__(self, config, dataset, sample, num_steps: int):
    self.evaluators = evaluators_lib.create_evaluators(
        config.get('eval'), dataset, config.model.z_dim, config.seed)
    self.floor = {f'{ev.name}/{k}': v for ev in self.evaluators for k, v in ev.floor.items()}
    self.best_metric = config.log.get('best_metric', '')
    self.best_mode = config.log.get('best_mode', 'min')
    if self.best_metric and self.best_metric not in self.floor:
      raise config_checks.ConfigError(
          f'log.best_metric={self.best_metric!r} is not a metric of the evaluators that '
          f'are on; allowed: {sorted(self.floor)} or \'\' (off)')
    self.sample, self.num_steps = sample, num_steps
    self.tracker = self.best_ckpt = self.writer = None

  def start(self, workdir: str, writer, lead: bool, start_step: int) -> None:
    """Opens the outputs in ``workdir`` (after it is known to be writable)."""
    self.workdir, self.writer, self.lead = workdir, writer, lead
    if not self.evaluators:
      return
    if lead:
      _write_json(os.path.join(workdir, 'eval_floor.json'), self.floor)
      for k, v in self.floor.items():
        writer.add_scalar(f'eval_floor/{k}', v, start_step)
    if self.best_metric:
      self.tracker = evaluators_lib.BestTracker(workdir, self.best_metric, self.best_mode,
                                                persist=lead)
      self.best_ckpt = evaluators_lib.best_checkpointer(workdir)

  def due(self, done: int) -> bool:
    final = done == self.num_steps
    return any(ev.due(done, final) for ev in self.evaluators)

  def maybe_run(self, done: int, state, meta: dict) -> None:
    final = done == self.num_steps
    tick = time.perf_counter()
    results = evaluators_lib.run_due(self.evaluators, done, self.sample, state, final)
    if not results:
      return
    logging.info('eval step %d (%.1f s): %s', done, time.perf_counter() - tick, '  '.join(
        f'{k} {v:.4g}' + (f' (real {self.floor[k]:.4g})' if k in self.floor else '')
        for k, v in results.items()))
    if self.lead:
      evaluators_lib.append_jsonl(os.path.join(self.workdir, evaluators_lib.EVAL_LOG),
                                  {'step': done, **results})
      for k, v in results.items():
        self.writer.add_scalar(f'eval/{k}', v, done)
    if self.tracker and self.tracker.is_best(results, done):
      logging.info('New best %s %.4g at step %d: saved to %s.', self.best_metric,
                   self.tracker.value, done, self.best_ckpt.directory)
      self.best_ckpt.save(state, meta)

  def close(self) -> None:
    if self.best_ckpt:
      self.best_ckpt.close()


def _summarise(history: list[dict]) -> dict[str, np.ndarray]:
  """Means over the steps since the last log line: () per metric, or (N,) per seed."""
  stacked = parallel.to_host(history)
  return {k: np.mean([m[k] for m in stacked], axis=0) for k in stacked[0]}


def _nonfinite_report(history: list[dict], first_step: int) -> str | None:
  for i, m in enumerate(parallel.to_host(history)):
    if not np.all(m['finite']):
      bad = [k[len('finite_'):] for k in m if k.startswith('finite_') and not np.all(m[k])]
      where = ''
      if np.ndim(m['finite']):
        where = f' (seed index {int(np.argmin(m["finite"]))})'
      return f'step {first_step + i + 1}: non-finite {", ".join(bad) or "metric"}{where}'
  return None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       allow_config_change: bool = False) -> GANState:
  """Trains the GAN described by ``config``, writing everything into ``workdir``.

  Re-running with the same workdir resumes from its newest intact checkpoint;
  a config that differs from the saved one in a field that changes the run is
  refused unless ``allow_config_change``. SIGTERM/SIGINT save a checkpoint and
  return early. Returns the final state.
  """
  config_checks.validate(config, num_devices=jax.device_count())
  par = parallel.Parallel(config.parallel)
  t = config.train
  if t.num_seeds > 1 and par.num_devices > 1:
    raise config_checks.ConfigError(
        f'train.num_seeds={t.num_seeds} runs its seeds on one device, but there are '
        f'{par.num_devices}; use train.num_seeds=1, or one device '
        '(e.g. CUDA_VISIBLE_DEVICES=0)')
  seeds = Seeds(config.seed, t.num_seeds)
  native = models.native_image_size(config.model.name)
  dataset = create_dataset(config.data, config.seed, config.data.image_size or native)
  per_step = t.batch_size * t.d_steps
  if hasattr(dataset, '__len__') and len(dataset) < per_step:
    raise DataError(f'data: {len(dataset)} examples are fewer than train.batch_size '
                    f'x train.d_steps = {per_step}; lower train.batch_size')
  datasets = seeds.datasets(dataset)
  game = create_game(config, dataset.sample_shape, axis_name=par.axis_name)
  state = par.put_state(init_state(config, game, dataset.sample_shape, t.num_seeds))
  train_step = par.compile(seeds.map(steps.make_train_step(game, t.update_rule, t.d_steps)))
  sample = make_sampler(game)
  evaluation = _Evaluation(config, dataset, sample, t.num_steps)
  # Fake CPU devices can deadlock in back-to-back all-reduces unless each step
  # is waited for (see shared/JAX_NOTES.md); real accelerators run ahead.
  block_each_step = par.num_devices > 1 and jax.default_backend() == 'cpu'
  process, num_processes = jax.process_index(), jax.process_count()

  lead = jax.process_index() == 0
  _prepare_workdir(workdir)
  ckpt = Checkpointer(workdir, config.log.keep_checkpoints)
  restored = ckpt.restore_latest_good(par.get_state(state))
  if restored is not None:
    state, meta = par.put_state(restored[0]), restored[1]
    if not allow_config_change:
      _check_same_run(meta.get('config', {}), config)
    logging.info('Resumed from %s at step %d.', ckpt.directory,
                 int(np.max(restored[0].step)))
  config_json = json.loads(config.to_json_best_effort())
  if lead:
    _write_json(os.path.join(workdir, 'config.json'), config_json)
    _write_json(os.path.join(workdir, 'data.json'), {'description': dataset.description})
  logging.info('Data: %s', dataset.description)
  one = seeds.first(par.get_state(state))
  logging.info('Params: G %d, D %d%s', *(sum(x.size for x in jax.tree.leaves(p))
                                         for p in (one.g_params, one.d_params)),
               f' (x {t.num_seeds} seeds)' if seeds.many else '')
  logging.info('Parallel: %s over %d devices in %d processes; global batch %d.',
               par.mode, par.num_devices, num_processes, t.batch_size)

  writer = SummaryWriter(workdir) if lead else None
  start = int(np.max(parallel.to_host(par.get_state(state).step)))
  evaluation.start(workdir, writer, lead, start)
  z_fixed = fixed_latents(config)
  # Real points drawn under the generated ones in 2-D scatter plots / 1-D histograms.
  real_preview = dataset.batch(0, 2048) if len(dataset.sample_shape) == 1 else None

  def save_samples(step: int, name: str, all_seeds: bool = False):
    """Seed 0's grid (or, with all_seeds, one file per seed: name_seed{i}.png)."""
    current = par.get_state(state)
    drawn = unstack_seeds(current) if all_seeds else [seeds.first(current)]
    fakes = [parallel.to_host(sample(one, z_fixed)) for one in drawn]  # on every process
    if not lead:
      return
    for i, fake in enumerate(fakes):
      picture = visualize.sample_picture(fake, real_preview, f'step {step}')
      suffix = f'_seed{seeds.seeds[i]}' if all_seeds and seeds.many else ''
      visualize.save_png(picture, os.path.join(workdir, name.replace('.png', f'{suffix}.png')))
    writer.add_image('samples', picture, step, dataformats='HWC')

  meta = {'config': config_json, 'data': dataset.description}

  def save_checkpoint():
    ckpt.save(par.get_state(state), meta)

  history, last_saved = [], (ckpt.all_steps() or [None])[-1]
  progress = _Progress(t.num_steps, start, writer, verbose=lead)
  with _stop_requests() as stop:
    for step in range(start, t.num_steps):
      local = seeds.batch(datasets, step, per_step, process, num_processes)
      state, metrics = train_step(state, par.put_batch(local))
      if block_each_step:
        jax.block_until_ready(state)
      history.append(par.get_metrics(metrics))
      done = step + 1
      log_now = done % config.log.log_every == 0 or done == t.num_steps
      ckpt_now = done % config.log.checkpoint_every == 0 or done == t.num_steps or stop
      eval_now = evaluation.due(done) and not stop
      if not (log_now or ckpt_now or eval_now):
        continue
      report = _nonfinite_report(history, done - len(history))
      if report and t.on_nonfinite == 'stop':
        raise NonFiniteError(f'{report}; stopped (train.on_nonfinite=stop). The last '
                             f'good checkpoint is step {last_saved} in {ckpt.directory}.')
      progress.add(history)
      history = []
      if log_now:
        progress.log(done)
      if done % config.log.sample_every == 0:
        save_samples(done, f'samples_{done:06d}.png')
      if ckpt_now:
        save_checkpoint()
        last_saved = done
      if eval_now:
        evaluation.maybe_run(done, par.get_state(state), meta)
      if stop:
        logging.warning('Stopped at step %d; the same command resumes from here.', done)
        break
  final = par.get_state(state)
  end = int(np.max(parallel.to_host(final.step)))
  logging.info('Process %d ends at step %d, state sha256 %s.', process, end,
               state_digest(flax.serialization.to_state_dict(final)))
  if end == t.num_steps and (end > start or not os.path.exists(
      os.path.join(workdir, 'samples_final.png'))):
    save_samples(end, 'samples_final.png', all_seeds=True)
  if writer:
    writer.close()
  evaluation.close()
  ckpt.close()
  return final


class _Progress:
  """Progress lines (losses, D outputs, steps/s, ETA) and TensorBoard scalars."""

  def __init__(self, num_steps: int, start: int, writer, verbose: bool = True):
    self.num_steps, self.writer, self.verbose = num_steps, writer, verbose
    self.tick, self.tick_step = time.perf_counter(), start
    self.skipped = 0
    self.pending: list[dict] = []

  def add(self, history: list[dict]) -> None:
    """Takes the per-step metrics since the last call (already fetched or not)."""
    self.pending.extend(history)

  def log(self, done: int) -> None:
    summary = _summarise(self.pending)
    # Skipped updates, summed over seeds.
    self.skipped += int(round(len(self.pending) * float(np.sum(1 - summary['finite']))))
    self.pending = []
    now = time.perf_counter()
    rate = (done - self.tick_step) / (now - self.tick)
    self.tick, self.tick_step = now, done
    eta = (self.num_steps - done) / max(rate, 1e-9)
    if not self.verbose:  # only process 0 prints progress
      return
    stats = {k: mean_and_stderr(v) for k, v in summary.items()}
    def show(k, fmt):  # "0.6931" for one seed, "0.6931+-0.0123" for several
      mean, se = stats[k]
      return fmt % mean + (('+-' + fmt % se) if np.ndim(summary[k]) else '')
    logging.info(
        'step %d/%d  d_loss %s  g_loss %s  D(x) %s  D(G(z)) %s  |grad| G %s D %s  '
        '|update| G %s D %s  %.2f steps/s  ETA %s%s',
        done, self.num_steps, show('d_loss', '%.4f'), show('g_loss', '%.4f'),
        show('d_real', '%.3f'), show('d_fake', '%.3f'),
        *(show(f'{p}_{kind}_norm', '%.3g') for kind in ('grad', 'update') for p in 'gd'),
        rate,
        time.strftime('%H:%M:%S', time.gmtime(eta)),
        f'  skipped {self.skipped}' if self.skipped else '')
    if self.writer:
      for k, values in summary.items():
        if k.startswith('finite'):
          continue
        self.writer.add_scalar(f'train/{k}', stats[k][0], done)
        if np.ndim(values):  # several seeds: each one, and the standard error
          self.writer.add_scalar(f'train/{k}_stderr', stats[k][1], done)
          for i, v in enumerate(values):
            self.writer.add_scalar(f'seed{i}/{k}', float(v), done)
      self.writer.add_scalar('train/steps_per_sec', rate, done)
      self.writer.add_scalar('train/skipped_steps', self.skipped, done)
