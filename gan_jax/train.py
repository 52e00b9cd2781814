"""The training loop: ``train_and_evaluate(config, workdir)``.

Order of work: validate the config, load the data and build the task (so bad
input fails before the workdir is touched), then create or resume the state,
then run the jitted step, calling the periodic actions between steps:
progress lines, TensorBoard scalars and metrics.jsonl, sample grids from one
fixed batch of sampler inputs, orbax checkpoints, and the evaluators of
``config.eval`` (with the best checkpoint by ``log.best_metric``). At start-up
process 0 also writes the players' tables (flax tabulate) and the config to
TensorBoard's HParams view; at the end, the latent interpolation grid and
the plots (plot.py). Building lives in build.py, workdir policy in
workdir.py, the actions in actions.py.
"""

from __future__ import annotations

import json
import os
import signal
import time

import flax.serialization
import jax
import ml_collections
import numpy as np
from absl import logging
from tensorboardX import SummaryWriter

from gan_jax import config_checks, dispatch, models, parallel, steps, workdir as workdir_lib
from gan_jax import init_from as init_from_lib
from gan_jax import plot as plot_lib
from gan_jax.actions import (METRICS_LOG, MODEL_SUMMARY, Evaluation, Profile, Progress,
                             SampleGrids, log_hparams, model_summary, nonfinite_report)
from gan_jax.build import (create_game, example_batch, fixed_inputs, init_state,
                           interpolation_inputs, make_sampler)
from gan_jax.checkpoint import Checkpointer, state_digest
from gan_jax.data import create_dataset
from gan_jax.errors import ConfigError, DataError, NonFiniteError
from gan_jax.evaluation.evaluators import EVAL_LOG
from gan_jax.seeds import Seeds
from gan_jax.state import TrainState

# The latent interpolation grid at the end of a run (build.interpolation_inputs).
INTERPOLATION_ROWS, INTERPOLATION_COLS = 10, 10

__all__ = ['train_and_evaluate', 'create_game', 'init_state', 'make_sampler',
           'fixed_inputs', 'NonFiniteError']


def _load_data(config, seeds: Seeds):
  native = models.native_image_size(config.model.name)
  dataset = create_dataset(config.data, config.seed, config.data.image_size or native)
  per_step = config.train.batch_size * config.train.d_steps
  if hasattr(dataset, '__len__') and len(dataset) < per_step:
    raise DataError(f'data: {len(dataset)} examples are fewer than train.batch_size '
                    f'x train.d_steps = {per_step}; lower train.batch_size')
  return dataset, seeds.datasets(dataset), per_step


def _model_summary(game, dataset, workdir: str) -> None:
  """Logs flax's table of each player's layers and parameters; also <workdir>/model_summary.txt."""
  try:
    summary = model_summary(game.task, example_batch(dataset))
  except Exception as e:  # pylint: disable=broad-except
    # An overview for people to read: a task whose modules it cannot trace
    # still trains.
    logging.warning('No model summary: %s: %s', type(e).__name__, e)
    return
  with open(os.path.join(workdir, MODEL_SUMMARY), 'w') as f:
    f.write(summary + '\n')
  logging.info('Players (flax tabulate; also in %s):\n%s', MODEL_SUMMARY, summary)


def _plot(workdir: str) -> None:
  """<workdir>/plots/: curves of metrics.jsonl and eval.jsonl, and the grids as a GIF."""
  tick = time.perf_counter()
  try:
    written = plot_lib.plot_workdir(workdir)
  except Exception as e:  # pylint: disable=broad-except
    # The run itself is done and saved; a figure that cannot be drawn must not
    # turn it into a failure (python -m gan_jax.plot redraws them).
    logging.warning('Plots not written: %s: %s', type(e).__name__, e)
    return
  logging.info('Plots (%.1f s): %s', time.perf_counter() - tick,
               ', '.join(os.path.relpath(p, workdir) for p in written))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       allow_config_change: bool = False) -> TrainState:
  """Trains the game described by ``config``, writing everything into ``workdir``.

  Re-running with the same workdir resumes from its newest intact checkpoint;
  a config that differs from the saved one in a field that changes the run is
  refused unless ``allow_config_change``. SIGTERM/SIGINT save a checkpoint and
  return early. Returns the final state.
  """
  config_checks.validate(config, num_devices=jax.device_count())
  par = parallel.Parallel(config.parallel)
  t = config.train
  if t.num_seeds > 1 and par.num_devices > 1:
    raise ConfigError(
        f'train.num_seeds={t.num_seeds} runs its seeds on one device, but there are '
        f'{par.num_devices}; use train.num_seeds=1, or one device '
        '(e.g. CUDA_VISIBLE_DEVICES=0)')
  seeds = Seeds(config.seed, t.num_seeds)
  dataset, datasets, per_step = _load_data(config, seeds)
  game = create_game(config, dataset, axis_name=par.axis_name)
  if t.get('init_from'):
    init_from_lib.check(config, tuple(game.task.players))
  state = par.put_state(init_state(config, game, dataset, t.num_seeds))
  step_fn = seeds.map(steps.make_train_step(game, t.update_rule, t.d_steps))
  train_step = par.compile(step_fn)
  sample = make_sampler(game)
  evaluation = Evaluation(config, dataset, game.task.sample_inputs, sample, t.num_steps)
  # Fake CPU devices can deadlock in back-to-back all-reduces unless each step
  # is waited for (see shared/JAX_NOTES.md); real accelerators run ahead.
  block_each_step = par.num_devices > 1 and jax.default_backend() == 'cpu'
  process, num_processes = jax.process_index(), jax.process_count()
  lead = process == 0

  workdir_lib.prepare(workdir)
  ckpt = Checkpointer(workdir, config.log.keep_checkpoints)
  saved = ckpt.newest_meta()
  if saved is not None and not allow_config_change:
    # From the saved config alone, before any array is read: a run with other
    # shapes is refused here, not mistaken for a damaged checkpoint.
    workdir_lib.check_same_run(saved[1].get('config', {}), config)
  restored = ckpt.restore_latest_good(par.get_state(state))
  if restored is not None:
    state = par.put_state(restored[0])
    logging.info('Resumed from %s at step %d.', ckpt.directory,
                 int(np.max(restored[0].step)))
    if t.get('init_from'):
      logging.info('train.init_from is not used: the run resumes from its own checkpoint.')
  elif t.get('init_from'):
    state = par.put_state(init_from_lib.initialise_from(par.get_state(state), config, game))
  config_json = json.loads(config.to_json_best_effort())
  if lead:
    workdir_lib.write_json(os.path.join(workdir, 'config.json'), config_json)
    workdir_lib.write_json(os.path.join(workdir, 'data.json'),
                           {'description': dataset.description})
  logging.info('Data: %s', dataset.description)
  one = seeds.first(par.get_state(state))
  logging.info('Task %s; params: %s%s', type(game.task).__name__, ', '.join(
      f'{name} {sum(x.size for x in jax.tree.leaves(p))}' for name, p in one.params.items()),
               f' (x {t.num_seeds} seeds)' if seeds.many else '')
  logging.info('Parallel: %s over %d devices in %d processes; global batch %d.',
               par.mode, par.num_devices, num_processes, t.batch_size)
  if lead:
    _model_summary(game, dataset, workdir)

  writer = SummaryWriter(workdir) if lead else None
  if writer:
    log_hparams(writer, config_json, [f'train/{game.prefix(p)}_loss' for p in game.task.order]
                + ['train/d_real', 'train/d_fake']
                + [f'eval/{k}' for k in evaluation.floor])
  start = int(np.max(parallel.to_host(par.get_state(state).step)))
  metrics_path = os.path.join(workdir, METRICS_LOG)
  if lead:
    # Steps after the checkpoint run again: their old lines would be doubled.
    for name in (METRICS_LOG, EVAL_LOG):
      if dropped := workdir_lib.drop_records_after(os.path.join(workdir, name), start):
        logging.info('Dropped %d lines of %s beyond step %d (they run again).',
                     dropped, name, start)
  evaluation.start(workdir, writer, lead, start)
  # Real points drawn under the generated ones in 2-D scatter plots and 1-D
  # histograms, or beside token sequences; at most the dataset's size.
  preview_size = min(2048, len(dataset)) if hasattr(dataset, '__len__') else 2048
  real_preview = (dataset.batch(0, preview_size)[dataset.sample_key]
                  if len(dataset.sample_shape) == 1 else None)
  grids = SampleGrids(sample, fixed_inputs(config, game), real_preview, seeds,
                      game.task.grid_columns(config.log.num_samples))
  meta = {'config': config_json, 'data': dataset.description}
  history, last_saved = [], (ckpt.all_steps() or [None])[-1]
  progress = Progress(t.num_steps, start, writer,
                      prefixes=[game.prefix(p) for p in game.task.order], verbose=lead,
                      metrics_path=metrics_path if lead else None)
  profile = Profile(workdir, start, config.log.get('profile_steps', 0), lead)
  multiprocess = num_processes > 1

  def acts_at(done: int) -> bool:
    # Where the loop does something after the step: a dispatch group ends there.
    return (done % config.log.log_every == 0 or done % config.log.checkpoint_every == 0
            or done % config.log.sample_every == 0 or evaluation.due(done)
            or profile.covers(done) or profile.covers(done + 1))

  groups = dispatch.Groups(t.get('steps_per_dispatch', 1), t.num_steps, acts_at)
  train_steps = None
  if groups.k > 1:
    train_steps = par.compile(dispatch.scan_steps(step_fn), stacked=True)
    caveat = dispatch.cpu_convolution_caveat(
        step_fn, par.get_state(state),
        seeds.batch(datasets, start, per_step, process, num_processes), par.axis_name)
    if caveat:
      logging.warning('%s', caveat)
  dispatches = 0
  with workdir_lib.stop_requests(multiprocess) as stop:
    step = start
    while step < t.num_steps:
      n = groups.length(step)
      local = [seeds.batch(datasets, s, per_step, process, num_processes)
               for s in range(step, step + n)]
      with profile.step(step + n):  # profiled steps are groups of one
        if n == 1:
          state, metrics = train_step(state, par.put_batch(local[0]))
        else:
          state, metrics = train_steps(state, par.put_batch(
              dispatch.stack_batches(local), stacked=True))
      if block_each_step:
        jax.block_until_ready(state)
      history.append((n, par.get_metrics(metrics)))
      step = done = step + n
      dispatches += 1
      profile.after(done, state)
      # The preemption service counts calls: the same dispatches on every process.
      if multiprocess and workdir_lib.agreed_stop(dispatches):
        stop.append(signal.SIGTERM)  # the same step on every process
      log_now = done % config.log.log_every == 0 or done == t.num_steps
      ckpt_now = done % config.log.checkpoint_every == 0 or done == t.num_steps or stop
      eval_now = evaluation.due(done) and not stop
      if not (log_now or ckpt_now or eval_now):
        continue
      history = dispatch.per_step(history)
      report = nonfinite_report(history, done - len(history))
      if report and t.on_nonfinite == 'stop':
        raise NonFiniteError(f'{report}; stopped (train.on_nonfinite=stop). The last '
                             f'good checkpoint is step {last_saved} in {ckpt.directory}.')
      progress.add(history)
      history = []
      if log_now:
        progress.log(done)
      if done % config.log.sample_every == 0:
        grids.save(par.get_state(state), workdir, writer, done,
                   f'samples_{done:06d}.png', lead)
      if ckpt_now:
        ckpt.save(par.get_state(state), meta)
        last_saved = done
      if eval_now:
        evaluation.maybe_run(done, par.get_state(state), meta)
      if stop:
        logging.warning('Stopped at step %d; the same command resumes from here.', done)
        break
  profile.stop()  # a run that ended inside the traced steps
  final = par.get_state(state)
  end = int(np.max(parallel.to_host(final.step)))
  logging.info('Process %d ends at step %d, state sha256 %s.', process, end,
               state_digest(flax.serialization.to_state_dict(final)))
  if end == t.num_steps and (end > start or not os.path.exists(
      os.path.join(workdir, 'samples_final.png'))):
    grids.save(final, workdir, writer, end, 'samples_final.png', lead, all_seeds=True)
    if len(dataset.sample_shape) == 3 and game.task.latent_inputs:
      # images: a row per pair of z, walked in 10 steps
      SampleGrids(sample, interpolation_inputs(config, game, INTERPOLATION_ROWS,
                                               INTERPOLATION_COLS),
                  None, seeds, columns=INTERPOLATION_COLS, tag='interpolation').save(
                      final, workdir, writer, end, 'interpolation_final.png', lead)
  if writer:
    writer.close()
  if lead and not stop and config.log.get('plots', True):
    _plot(workdir)
  evaluation.close()
  ckpt.close()
  return final
