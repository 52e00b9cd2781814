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
