"""Scores a finished run's checkpoint without training.

    python -m gan_jax.evaluate --workdir=runs/dcgan
    python -m gan_jax.evaluate --workdir=runs/dcgan --which=best
    python -m gan_jax.evaluate --workdir=runs/ring --eval_config=my_eval.py \
        --eval_config.modes.num_samples=10000

Reads ``<workdir>/config.json``, rebuilds the data, models and state as the
trainer did, restores the newest intact checkpoint (``--which=latest``, from
``checkpoints/``) or the best one (``--which=best``, from ``best/checkpoints/``
written during training), and runs the evaluators of ``--eval_config`` (a
config file whose ``get_config()`` returns the ``config.eval`` ConfigDict),
else of the run's own ``eval`` section, else those that suit the data
(``evaluators.default_eval_config``); entries with every=-1 are off. Prints a Markdown table with the
real-vs-real floor beside each metric and writes ``<workdir>/evaluation.json``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import ml_collections  # pylint: disable=g-import-not-at-top
from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax.errors import USER_ERRORS, ConfigError
from gan_jax.evaluation import evaluators as evaluators_lib
from gan_jax.trained import load_dataset, load_run_config, restore

WHICH = ('latest', 'best')
RESULT_FILE = 'evaluation.json'

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A training run\'s workdir (holds config.json).')
flags.DEFINE_enum('which', 'latest', WHICH, 'latest: the newest intact checkpoint; '
                  'best: the best one kept during training.')
config_flags.DEFINE_config_file(
    'eval_config', None, 'Config file whose get_config() returns the evaluators '
    '(a config.eval ConfigDict); default: the run\'s eval section, else those '
    'that suit the data.', lock_config=False)
# --workdir is checked in main, not marked required: other scripts import
# this module's functions, and absl would demand the flag of them too.


def evaluate(workdir: str, which: str = 'latest', eval_config=None) -> dict:
  """Scores the checkpoint; returns (and writes to evaluation.json) the record.

  Returns:
    {'workdir', 'which', 'step', 'data', 'results': {'<name>/<metric>': mean
    over seeds}, 'stderr': {...} (several seeds only), 'floor':
    {'<name>/<metric>': real-vs-real value}, 'per_seed': [{...}, ...]}.
  """
  config = load_run_config(workdir)
  dataset = load_dataset(config)
  state, sample, game = restore(workdir, config, dataset, which)
  evaluators = []
  for candidate in (eval_config, config.get('eval'),
                    evaluators_lib.default_eval_config(dataset)):
    # The first of: --eval_config, the run's own evaluators that were on, the default.
    evaluators = evaluators_lib.create_evaluators(candidate, dataset,
                                                  game.task.sample_inputs, config.seed)
    if evaluators:
      break
  if not evaluators:
    raise ConfigError(f'no evaluator suits the data ({dataset.description}); pass '
                      '--eval_config')
  record = {'workdir': os.path.abspath(workdir), 'which': which,
            'step': int(state.step.max()), 'data': dataset.description,
            'results': {}, 'stderr': {}, 'floor': {}, 'per_seed': []}
  for ev in evaluators:
    per_seed = evaluators_lib.evaluate_seeds(ev, sample, state)
    prefix = f'{ev.name}/'
    for k, v in evaluators_lib.summarise_seeds(per_seed).items():
      target = 'stderr' if k.endswith('_stderr') else 'results'
      record[target][prefix + k.removesuffix('_stderr')] = v
    record['floor'].update({prefix + k: v for k, v in ev.floor.items()})
    for i, r in enumerate(per_seed):
      if len(record['per_seed']) <= i:
        record['per_seed'].append({})
      record['per_seed'][i].update({prefix + k: v for k, v in r.items()})
  if len(record['per_seed']) < 2:
    del record['stderr'], record['per_seed']
  path = os.path.join(workdir, RESULT_FILE)
  with open(path + '.tmp', 'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
  os.replace(path + '.tmp', path)
  return record


def markdown_table(record: dict) -> str:
  """One row per metric: value (+- standard error over seeds) and the floor."""
  stderr = record.get('stderr', {})
  lines = ['| metric | value | real-vs-real floor |', '|---|---|---|']
  for k, v in record['results'].items():
    value = f'{v:.4g}' + (f' +- {stderr[k]:.2g}' if k in stderr else '')
    lines.append(f'| {k} | {value} | {record["floor"][k]:.4g} |')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not FLAGS.workdir:
    raise app.UsageError('--workdir is required: a training run\'s workdir')
  # orbax logs every restore at length; warnings (e.g. a damaged checkpoint
  # skipped) still show, and the results are printed.
  logging.set_verbosity(logging.WARNING)
  try:
    record = evaluate(FLAGS.workdir, FLAGS.which, FLAGS.eval_config)
  except USER_ERRORS as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  seeds = len(record.get('per_seed', [])) or 1
  print(f'{record["workdir"]}, {record["which"]} checkpoint (step {record["step"]}), '
        f'{seeds} seed{"s" if seeds > 1 else ""}; data: {record["data"]}\n')
  print(markdown_table(record))
  print(f'\nWrote {os.path.join(FLAGS.workdir, RESULT_FILE)}')


if __name__ == '__main__':
  app.run(main)
