"""Shared test setup: quiet TensorFlow, CPU only, repo root importable."""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tempfile  # pylint: disable=g-import-not-at-top

import jax  # pylint: disable=g-import-not-at-top

# Many tests compile the same small programs; a persistent compilation cache
# shared by the test session (and its subprocesses) avoids compiling twice.
_CACHE = os.path.join(tempfile.gettempdir(), 'gan_jax_test_jax_cache')
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', _CACHE)
jax.config.update('jax_compilation_cache_dir', os.environ['JAX_COMPILATION_CACHE_DIR'])
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)

import pytest  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope='session')
def tiny_dcgan_run(tmp_path_factory):
  """A 4-step tiny DCGAN on the embedded digits: a trained workdir for the tools
  that use one (invert, inpaint). Trained once per test session."""
  from configs import dcgan  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('tiny_dcgan'))
  config = dcgan.get_config('tiny')
  config.data.source = 'embedded'
  train.train_and_evaluate(config, workdir)
  return workdir
