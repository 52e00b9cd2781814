"""The errors a user can cause, in one small module that imports nothing of ours.

Each is raised with a one-line message that names the field or file and what
is allowed; ``gan_jax.main`` turns them into that line on stderr and exit 1.
"""


class ConfigError(ValueError):
  """A config field has a value the run cannot use."""


class DataError(ValueError):
  """A dataset cannot be found, prepared or used as configured."""


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (disk full, permissions, ...)."""


class CheckpointLayoutError(ValueError):
  """A checkpoint was written by a state layout this code cannot restore."""


class NonFiniteError(RuntimeError):
  """A loss or gradient became NaN/inf and train.on_nonfinite = 'stop'."""


USER_ERRORS = (ConfigError, DataError, CheckpointWriteError, CheckpointLayoutError,
               NonFiniteError)
