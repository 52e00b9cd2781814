"""The tasks redesign changed no number: the recorded runs of the two-player layout.

tests/fixtures/layout_baseline.npz holds the final states and every step's
metrics of 16 short runs (DCGAN tiny simultaneous / alternating with d_steps
1 and 2, WGAN-GP, the 2-D MLP with 2 vmapped seeds, every Dirac-GAN rule, the
tiny DCGAN on 8 fake devices under jit and pmap), recorded on the commit
before the redesign by tests/fixtures/record_layout_baseline.py. This test
reruns the same script on today's code and compares.

What must hold, and why it may not be more:
- step, rng and every integer: bit-identical.
- params, EMA params, optimizer states and every metric: equal to float32
  rounding, within 1e-4 relative for a state array and 1e-5 for a metric
  (each relative to the array's largest magnitude). On the CPU that recorded
  the fixture they were bit-identical, but for the consensus rule's
  1/2 |v|^2 (the field is now one dict of players instead of a tuple). XLA
  compiles CPU code for the host's vector instructions, so another CPU sums
  in another order: on an AMD EPYC (2026-12-02) every DCGAN, WGAN-GP and 2-D
  MLP run differed from the fixture, by at most 2.1e-6 in a metric and
  2.0e-5 in a state array (G's Dense_0 kernel after 4 Adam steps: Adam
  divides by sqrt(nu), so rounding noise in a near-zero gradient moves a
  weight by a fraction of lr). The Dirac-GAN runs stay bit-identical there.
  A change to the arithmetic moves these numbers by far more: scaling the
  discriminator's loss by 1 + 1e-4 fails this test.
- model states: as params, except the discriminator's BatchNorm running
  statistics under the alternating rule. The old alternating step ran D(G(z))
  a third time at G's turn and kept its statistics; now a network's model
  state advances on the first forward pass of an update only. D's running
  statistics are never read (D always runs in training mode), so no param,
  loss or sample depends on them: the assertions on params and metrics above
  cover that.
- optimizer states: the optimistic rule's state is optax's
  ``scale_by_optimistic_gradient`` now, whose previous_gradient must equal the
  old transform's previous update.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO, 'tests', 'fixtures', 'layout_baseline.npz')
SCRIPT = os.path.join(REPO, 'tests', 'fixtures', 'record_layout_baseline.py')
ALTERNATING = ('dcgan_alt', 'dcgan_alt_d2', 'dcgan_8dev_alt_jit', 'dcgan_8dev_alt_pmap')


@pytest.fixture(scope='module')
def rerun(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('layout') / 'now.npz')
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)
  done = subprocess.run([sys.executable, SCRIPT, f'--out={out}'], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=1500)
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
  with np.load(FIXTURE) as old, np.load(out) as new:
    return {k: old[k] for k in old.files}, {k: new[k] for k in new.files}


def _rel(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)) if a.size else 0.0


# Largest relative difference allowed for float32 rounding on another CPU
# (module docstring): measured at most 2.1e-6 (metrics), 2.0e-5 (states).
METRIC_RTOL, STATE_RTOL = 1e-5, 1e-4


def test_every_recorded_run_is_reproduced(rerun):
  old, new = rerun
  optimistic = {k for k in old if k.startswith('dirac_optimistic/state/opt_state/')}
  assert set(old) - optimistic == set(new) - {
      k for k in new if k.startswith('dirac_optimistic/state/opt_state/')}
  exact, rounded, inert = 0, [], []
  for key in sorted(set(old) - optimistic):
    run, section, rest = key.split('/', 2)
    a, b = old[key], new[key]
    assert a.shape == b.shape and a.dtype == b.dtype, key
    if np.array_equal(a, b):
      exact += 1
    elif run in ALTERNATING and rest.startswith('model_state/discriminator/'):
      inert.append(key)
    elif np.issubdtype(a.dtype, np.floating):
      tolerance = METRIC_RTOL if section == 'metrics' else STATE_RTOL
      assert _rel(a, b) < tolerance, f'{key} changed: max relative difference {_rel(a, b):.3g}'
      rounded.append(key)
    else:
      raise AssertionError(f'{key} changed (dtype {a.dtype}, which has no rounding)')
  print(f'{exact} arrays bit-identical, {len(rounded)} within rounding, '
        f'{len(inert)} inert BatchNorm statistics')
  # Every run's step and rng at least, whatever the CPU.
  assert exact >= 2 * len({k.split('/')[0] for k in old}), exact
  # The only other differences are D's BatchNorm statistics in the 4
  # alternating runs (mean and var of its one BatchNorm layer).
  assert len(inert) == 8 and all('batch_stats' in k for k in inert), inert


def test_optimistic_state_is_optax_with_the_same_previous_update(rerun):
  old, new = rerun
  for player, param in (('generator', 'theta'), ('discriminator', 'psi')):
    base = f'dirac_optimistic/state/opt_state/{player}/1/'
    np.testing.assert_array_equal(old[base + f'previous/{param}'],
                                  new[base + f'previous_gradient/{param}'])
    assert int(old[base + 'count']) == 20 and not bool(new[base + 'is_initial_step'])
