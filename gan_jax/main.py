"""Entry point: ``python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan``.

Kept short on purpose: it parses flags, says where it runs, and hands over to
``train.train_and_evaluate``. Bad input ends with one line naming the field
and a non-zero exit.
"""

import logging as py_logging
import os
import re
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow (used by tfds) is chatty

import jax  # pylint: disable=g-import-not-at-top
from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax import train
from gan_jax.errors import USER_ERRORS

FLAGS = flags.FLAGS
# JAX's own options as flags: --jax_debug_nans, --jax_platforms=cpu, ...
jax.config.config_with_absl()
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, samples and logs.')
config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with variants: configs/dcgan.py:digit7',
    lock_config=True)
flags.DEFINE_bool('allow_config_change', False,
                  'Resume even if the workdir was written with a config that '
                  'differs in a field that changes the run.')
flags.DEFINE_bool('distributed', False,
                  'Join a multi-process job (jax.distributed). Without the three '
                  'flags below JAX reads the cluster launcher\'s environment '
                  '(Slurm, Open MPI, TPU pods, Kubernetes).')
flags.DEFINE_string('coordinator_address', None, 'host:port of process 0.')
flags.DEFINE_integer('num_processes', None, 'Number of processes in the job.')
flags.DEFINE_integer('process_id', None, 'This process\'s index in the job.')
flags.mark_flags_as_required(['config', 'workdir'])


def _one_line(error: BaseException, argv: list[str]) -> str:
  """One line for a flag, override or config file that does not parse.

  absl's own errors are one line already. ml_collections reports an override
  of a field that does not exist as a KeyError (possibly inside an
  AttributeError) whose text spans lines, and a config file that fails to
  load with its traceback: keep what names the problem.
  """
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]
  text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
  unknown = re.search(r'Did you mean "(\w+)" instead of "(\w+)"', text)
  if unknown or isinstance(error, KeyError):
    field = unknown.group(2) if unknown else text.strip('\'"')
    override = next((a.split('=')[0] for a in argv[1:] if a.startswith('--config.')
                     and f'.{field}' in a.split('=')[0]), '--config')
    return (f'{override}: the config has no field {field!r}'
            + (f' (did you mean {unknown.group(1)!r}?)' if unknown else ''))
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if 'Traceback' in text:
    return lines[-1]
  return ' '.join(lines)


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with every malformed flag or override as one line and exit 1."""
  try:
    return FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    print(f'error: {_one_line(e, argv)}', file=sys.stderr)
    sys.exit(1)


class _QuietLibraries(py_logging.Filter):
  """Drops INFO lines of orbax and JAX internals, so the progress lines stand out."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or not any(
        part in record.pathname for part in ('/orbax/', '/jax/_src/'))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if FLAGS.distributed or FLAGS.coordinator_address:
    # CPU processes exchange all-reduces through gloo; accelerators use their
    # own interconnect and ignore this setting.
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes,
                               process_id=FLAGS.process_id)
  try:
    FLAGS.config.keys()  # a config file that failed to load raises when first read
  except (OSError, AttributeError, KeyError, TypeError, ValueError) as e:
    print(f'error: --config: {_one_line(e, sys.argv)}', file=sys.stderr)
    sys.exit(1)
  logging.info('JAX process %d/%d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  try:
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                             allow_config_change=FLAGS.allow_config_change)
  except USER_ERRORS as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
