"""Pre-emption of a 2-process job: SIGTERM reaches one process; both stop at the same step.

Each process sees a signal at its own step. If each stopped where it saw one,
the collective checkpoint would wait forever for the other (the bug of issue
17 #6). The job here is two CPU processes of 2 fake devices each, joined
through jax.distributed on 127.0.0.1, as in tests/test_parallel.py.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS = 150


def _env():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  env.pop('JAX_PLATFORMS', None)
  return env


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _job(workdir):
  port = _free_port()
  return [subprocess.Popen(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py:tiny',
       f'--workdir={workdir}', '--config.data.source=embedded',
       f'--config.train.num_steps={NUM_STEPS}', '--config.log.log_every=5',
       '--config.log.checkpoint_every=1000', '--config.log.sample_every=1000',
       f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2', f'--process_id={i}'],
      cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(2)]


def _collect(proc, lines, seen, pattern):
  for line in proc.stdout:
    lines.append(line)
    if re.search(pattern, line):
      seen.set()


def _wait(procs, threads, timeout):
  """Exit statuses; a process still running ``timeout`` s from now is killed (None)."""
  deadline = time.monotonic() + timeout
  statuses = []
  for proc in procs:
    try:
      statuses.append(proc.wait(timeout=max(deadline - time.monotonic(), 0.1)))
    except subprocess.TimeoutExpired:
      statuses.append(None)
  _kill(procs)
  for t in threads:
    t.join(timeout=10)
  return statuses


def _kill(procs):
  for proc in procs:
    if proc.poll() is None:
      proc.kill()
      proc.wait()


def test_sigterm_to_one_process_stops_both_at_the_same_step(tmp_path):
  workdir = tmp_path / 'job'
  procs = _job(workdir)
  logs, seen = [[], []], threading.Event()
  threads = [threading.Thread(target=_collect, args=(p, log, seen, r'step 20/'), daemon=True)
             for p, log in zip(procs, logs)]
  for t in threads:
    t.start()
  if not seen.wait(timeout=300):  # process 0 logged step 20
    _kill(procs)
    raise AssertionError(''.join(logs[0][-30:]))
  procs[1].send_signal(signal.SIGTERM)  # only process 1 is pre-empted
  # Before the fix the job hung here: process 0 stepped on, process 1 waited
  # in the checkpoint's collective.
  statuses = _wait(procs, threads, timeout=180)
  text = [''.join(log) for log in logs]
  assert statuses == [0, 0], text[0][-3000:] + text[1][-3000:]
  stopped = [re.findall(r'Stopped at step (\d+)', t) for t in text]
  assert len(stopped[0]) == len(stopped[1]) == 1, stopped
  step = int(stopped[0][0])
  assert stopped[1] == [str(step)] and 20 <= step < NUM_STEPS, stopped
  assert sorted(os.listdir(workdir / 'checkpoints')) == [str(step)]
  ends = [re.findall(r'ends at step (\d+), state sha256 (\w+)', t) for t in text]
  assert ends[0] == ends[1] and ends[0][0][0] == str(step), ends  # same state on both

  # The same command resumes from the agreed step on both processes and finishes.
  procs = _job(workdir)
  logs = [[], []]
  threads = [threading.Thread(target=_collect, args=(p, log, threading.Event(), '^$'),
                              daemon=True) for p, log in zip(procs, logs)]
  for t in threads:
    t.start()
  statuses = _wait(procs, threads, timeout=400)
  text = [''.join(log) for log in logs]
  assert statuses == [0, 0], text[0][-3000:] + text[1][-3000:]
  assert all(f'at step {step}.' in t for t in text), [t[-2000:] for t in text]
  ends = [re.findall(r'ends at step (\d+), state sha256 (\w+)', t) for t in text]
  assert ends[0] == ends[1] and ends[0][0][0] == str(NUM_STEPS), ends
