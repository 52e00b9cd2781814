"""The periodic actions of the training loop: progress, sample grids, evaluation.

Each is built before the workdir is touched where it can fail on the config
(an unknown evaluator), opened with the workdir, and called by ``train.py``
between steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

import flax.linen as nn
import jax
import numpy as np
from absl import logging
from tensorboardX import summary as tensorboardX_summary

from gan_jax import jsonl, parallel, visualize
from gan_jax.errors import ConfigError
from gan_jax.evaluation import evaluators as evaluators_lib
from gan_jax.seeds import Seeds, mean_and_stderr, unstack_seeds
from gan_jax.workdir import write_json


def summarise(history: list[dict]) -> dict[str, np.ndarray]:
  """Means over the steps since the last log line: () per metric, or (N,) per seed."""
  stacked = parallel.to_host(history)
  return {k: np.mean([m[k] for m in stacked], axis=0) for k in stacked[0]}


def nonfinite_report(history: list[dict], first_step: int) -> str | None:
  """'step t: non-finite d_loss, ...' for the first step of ``history`` whose update was dropped."""
  for i, m in enumerate(parallel.to_host(history)):
    if not np.all(m['finite']):
      bad = [k[len('finite_'):] for k in m if k.startswith('finite_') and not np.all(m[k])]
      where = ''
      if np.ndim(m['finite']):
        where = f' (seed index {int(np.argmin(m["finite"]))})'
      return f'step {first_step + i + 1}: non-finite {", ".join(bad) or "metric"}{where}'
  return None


METRICS_LOG = jsonl.METRICS_LOG


def flat_config(config_json: dict) -> dict[str, str | float | int | bool]:
  """The config's leaf fields as {'optim.d_lr': 0.0002, ...}; lists and tuples as JSON text."""
  flat = {}

  def walk(prefix, node):
    for k, v in node.items():
      if isinstance(v, dict):
        walk(f'{prefix}{k}.', v)
      elif v is not None:
        flat[f'{prefix}{k}'] = v if isinstance(v, (str, bool, int, float)) else json.dumps(v)
  walk('', config_json)
  return flat


def log_hparams(writer, config_json: dict, metric_tags: list[str]) -> None:
  """Writes the config to TensorBoard's HParams view: one hyperparameter per field.

  The records go into the run's own event file (tensorboardX's
  ``add_hparams`` would start a second run in a subfolder), so the view
  shows this run's scalars ``metric_tags`` (e.g. 'train/d_loss') beside its
  config, and a sweep's runs can be sorted and filtered by any field.
  """
  experiment, session_start, session_end = tensorboardX_summary.hparams(
      flat_config(config_json), dict.fromkeys(metric_tags))
  for record in (experiment, session_start, session_end):
    writer.file_writer.add_summary(record)


class Progress:
  """Progress lines (each player's loss, D outputs, norms, steps/s, ETA), TensorBoard, metrics.jsonl.

  Every log step gives the same scalars three ways: the progress line, the
  TensorBoard scalars ``train/<key>`` (several seeds: the mean, plus
  ``train/<key>_stderr`` and ``seed<i>/<key>``), and one JSON line of
  ``<workdir>/metrics.jsonl`` holding each of those tags' values under the
  tag without ``train/``, plus 'step' and 'time' (Unix seconds)::

    {"d_loss": 0.69, "d_real": 0.5, ..., "skipped_steps": 0, "step": 50,
     "steps_per_sec": 3.5, "time": 1764590000.0}

  Readers need neither TensorFlow nor TensorBoard (experiments/run_summary.py,
  gan_jax/plot.py).

  Args:
    num_steps, start: the run's last and first step.
    writer: a tensorboardX SummaryWriter, or None (not process 0).
    prefixes: the players' metric prefixes in the order the line shows them.
    metrics_path: where to append the JSON lines, or None (not process 0).
  """

  def __init__(self, num_steps: int, start: int, writer, prefixes=('d', 'g'),
               verbose: bool = True, metrics_path: str | None = None):
    self.num_steps, self.writer, self.verbose = num_steps, writer, verbose
    self.metrics_path = metrics_path
    self.prefixes = tuple(prefixes)
    self.tick, self.tick_step = time.perf_counter(), start
    self.skipped = 0
    self.pending: list[dict] = []

  def add(self, history: list[dict]) -> None:
    """Takes the per-step metrics since the last call (already fetched or not)."""
    self.pending.extend(history)

  def log(self, done: int) -> None:
    summary = summarise(self.pending)
    # Skipped updates, summed over seeds.
    self.skipped += int(round(len(self.pending) * float(np.sum(1 - summary['finite']))))
    self.pending = []
    now = time.perf_counter()
    rate = (done - self.tick_step) / (now - self.tick)
    self.tick, self.tick_step = now, done
    eta = (self.num_steps - done) / max(rate, 1e-9)
    if self.verbose:  # only process 0 prints progress
      logging.info('%s', self.line(summary, done, rate, eta))
    scalars = self.scalars(summary, rate)
    if self.writer:
      for tag, value in scalars.items():
        self.writer.add_scalar(tag, value, done)
    if self.metrics_path:
      # One write of one line in append mode: a reader (or a crash) sees whole
      # lines, at most a torn last one, which readers skip.
      jsonl.append(self.metrics_path, {
          'step': done, 'time': time.time(),
          **{tag.removeprefix('train/'): value for tag, value in scalars.items()}})

  def line(self, summary, done: int, rate: float, eta: float) -> str:
    stats = {k: mean_and_stderr(v) for k, v in summary.items()}

    def show(k, fmt):  # "0.6931" for one seed, "0.6931+-0.0123" for several
      mean, se = stats[k]
      return fmt % mean + (('+-' + fmt % se) if np.ndim(summary[k]) else '')

    parts = [f'step {done}/{self.num_steps}']
    parts += [f'{p}_loss {show(f"{p}_loss", "%.4f")}' for p in self.prefixes]
    for key, label in (('d_real', 'D(x)'), ('d_fake', 'D(G(z))')):
      if key in summary:
        parts.append(f'{label} {show(key, "%.3f")}')
    for kind in ('grad', 'update'):
      parts.append(f'|{kind}| ' + ' '.join(
          f'{p.upper() if len(p) == 1 else p} {show(f"{p}_{kind}_norm", "%.3g")}'
          for p in sorted(self.prefixes, reverse=True)))
    parts.append(f'{rate:.2f} steps/s')
    parts.append('ETA ' + time.strftime('%H:%M:%S', time.gmtime(eta)))
    if self.skipped:
      parts.append(f'skipped {self.skipped}')
    return '  '.join(parts)

  def scalars(self, summary, rate: float) -> dict[str, float]:
    """{TensorBoard tag: value} of one log step (the finite flags left out)."""
    out = {}
    for k, values in summary.items():
      if k.startswith('finite'):
        continue
      mean, stderr = mean_and_stderr(values)
      out[f'train/{k}'] = mean
      if np.ndim(values):  # several seeds: each one, and the standard error
        out[f'train/{k}_stderr'] = stderr
        for i, v in enumerate(values):
          out[f'seed{i}/{k}'] = float(v)
    out['train/steps_per_sec'] = float(rate)
    out['train/skipped_steps'] = self.skipped
    return out


MODEL_SUMMARY = 'model_summary.txt'


def model_summary(task, example: dict) -> str:
  """flax's ``tabulate`` of every player: each layer's inputs, outputs and parameters.

  ``tabulate`` needs each module's call arguments; they are the ones
  ``task.init(rng, example)`` gives each player, recorded by a flax method
  interceptor during a shape-only ``jax.eval_shape`` of it, so any task works.
  """
  calls = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if context.method_name == '__call__' and module.scope is not None and not module.scope.path:
      for name, player in task.players.items():  # a top-level call: one of the players
        if type(module) is type(player.module) and name not in calls:
          calls[name] = (args, kwargs)
          break
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda rng: task.init(rng, example), jax.random.PRNGKey(0))
  tables = []
  for name, (args, kwargs) in calls.items():
    table = nn.tabulate(task.players[name].module, jax.random.PRNGKey(0), depth=1,
                        console_kwargs={'width': 120, 'no_color': True,
                                        'force_terminal': False})(*args, **kwargs)
    tables.append(f'player {name}:\n{table}')
  return '\n'.join(tables)


PROFILE_DIR = 'profile'


class Profile:
  """A ``jax.profiler`` trace of ``num_steps`` train steps into <workdir>/profile/ (log.profile_steps).

  The trace starts after the run's first step, which compiles, and each
  traced step is a ``StepTraceAnnotation('train', step_num=<step>)``. It is
  written in TensorBoard's profile layout (plugins/profile/<time>/*.xplane.pb,
  for the profile plugin or XProf) and as perfetto_trace.json.gz (open it at
  ui.perfetto.dev). Process 0 only; a no-op when ``num_steps`` is 0.
  """

  def __init__(self, workdir: str, start: int, num_steps: int, lead: bool):
    self.dir = os.path.join(workdir, PROFILE_DIR)
    # Steps are numbered by their result (``done``): start + 1 compiles.
    self.first, self.last = start + 2, start + 1 + num_steps
    self.on = lead and num_steps > 0
    self.tracing = False

  def covers(self, done: int) -> bool:
    """Whether the step that makes ``done`` is traced (it then runs alone, dispatch.py)."""
    return self.on and self.first <= done <= self.last

  def step(self, done: int):
    """Context manager around the train step that makes step ``done``."""
    if not self.covers(done):
      return contextlib.nullcontext()
    if not self.tracing:
      jax.profiler.start_trace(self.dir, create_perfetto_trace=True)
      self.tracing = True
    return jax.profiler.StepTraceAnnotation('train', step_num=done)

  def after(self, done: int, state) -> None:
    """Ends the trace after its last step (waiting for the device work it launched)."""
    if self.tracing and done >= self.last:
      jax.block_until_ready(state)
      self.stop()

  def stop(self) -> None:
    if self.tracing:
      jax.profiler.stop_trace()
      self.tracing = False
      logging.info('Profile of steps %d-%d written to %s.', self.first, self.last, self.dir)


class SampleGrids:
  """PNG sample grids (or 2-D scatter plots, 1-D histograms) from one fixed batch of inputs.

  Args:
    sample: the jitted (state, inputs) -> samples.
    inputs: the fixed inputs (``build.fixed_inputs``).
    real_preview: real points drawn under generated ones (point data), or None.
    seeds: the run's ``Seeds`` (a file per seed at the end of a multi-seed run).
    columns: the image grid's width (``Task.grid_columns``); None = square.
    tag: the TensorBoard image tag.
  """

  def __init__(self, sample, inputs, real_preview, seeds: Seeds,
               columns: int | None = None, tag: str = 'samples'):
    self.sample, self.inputs, self.real_preview = sample, inputs, real_preview
    self.seeds, self.columns, self.tag = seeds, columns, tag

  def save(self, state, workdir: str, writer, step: int, name: str, lead: bool,
           all_seeds: bool = False) -> None:
    """Seed 0's grid (or, with all_seeds, one file per seed: name_seed{i}.png).

    Call on every process (the sampler may span devices); process 0 writes.
    """
    drawn = unstack_seeds(state) if all_seeds else [self.seeds.first(state)]
    fakes = [parallel.to_host(self.sample(one, self.inputs)) for one in drawn]
    if not lead:
      return
    picture = None
    for i, fake in enumerate(fakes):
      picture = visualize.sample_picture(fake, self.real_preview, f'step {step}',
                                         self.columns)
      suffix = f'_seed{self.seeds.seeds[i]}' if all_seeds and self.seeds.many else ''
      visualize.save_png(picture, os.path.join(workdir, name.replace('.png', f'{suffix}.png')))
    writer.add_image(self.tag, picture, step, dataformats='HWC')


class Evaluation:
  """The evaluators of ``config.eval`` in the loop: eval.jsonl, TensorBoard, best checkpoint.

  Built before the workdir is touched, so that an unknown evaluator or metric
  fails first. ``maybe_run(done, state, meta)`` runs the evaluators due at
  step ``done`` (on every process: the sampler may span devices), appends
  {'step', '<name>/<metric>': value, ...} to <workdir>/eval.jsonl, writes
  TensorBoard eval/<name>/<metric>, and if ``log.best_metric`` improved saves
  the state to <workdir>/best/checkpoints/<step> (one kept). The real-vs-real
  floor of every metric is written once to <workdir>/eval_floor.json and
  TensorBoard eval_floor/*.

  Args:
    config: the run's config (eval, log.best_metric, log.best_mode, seed).
    dataset: the training data, the evaluators' real reference.
    draw_inputs: the task's (rng, n) -> sampler inputs.
    sample: the jitted (state, inputs) -> samples.
    num_steps: the run's last step (every evaluator runs there).
  """

  def __init__(self, config, dataset, draw_inputs, sample, num_steps: int):
    self.evaluators = evaluators_lib.create_evaluators(
        config.get('eval'), dataset, draw_inputs, config.seed)
    self.floor = {f'{ev.name}/{k}': v for ev in self.evaluators for k, v in ev.floor.items()}
    self.best_metric = config.log.get('best_metric', '')
    self.best_mode = config.log.get('best_mode', 'min')
    if self.best_metric and self.best_metric not in self.floor:
      raise ConfigError(
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
      write_json(os.path.join(workdir, 'eval_floor.json'), self.floor)
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
      jsonl.append(os.path.join(self.workdir, jsonl.EVAL_LOG),
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
