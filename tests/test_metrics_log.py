"""metrics.jsonl: the training scalars of every log step, equal to TensorBoard's; resume; run_summary.

TensorBoard's values are read back with tensorboard's own event reader (no
TensorFlow), independently of the code that writes metrics.jsonl.
"""

import json
import os
import shutil

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from configs import dcgan, toy2d
from experiments import run_summary
from gan_jax import train


def _records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def _events(workdir):
  """{tag: {step: (wall_time, value)}} of every scalar in the workdir's event files."""
  acc = event_accumulator.EventAccumulator(workdir, size_guidance={'scalars': 0})
  acc.Reload()
  return {tag: {e.step: (e.wall_time, e.value) for e in acc.Scalars(tag)}
          for tag in acc.Tags()['scalars']}


def _tiny(name, seeds=1):
  if name == 'dcgan':
    config = dcgan.get_config('tiny')
    config.data.source = 'embedded'
  else:
    config = toy2d.get_config('tiny')
  config.train.num_seeds = seeds
  return config


@pytest.mark.parametrize('name,seeds', [('dcgan', 1), ('toy2d', 2)])
def test_records_equal_the_tensorboard_scalars(tmp_path, name, seeds):
  workdir = str(tmp_path)
  train.train_and_evaluate(_tiny(name, seeds), workdir)
  records, events = _records(workdir), _events(workdir)
  assert [r['step'] for r in records] == [2, 4]  # log_every 2, 4 steps
  training = {tag: v for tag, v in events.items()
              if tag.startswith(('train/', 'seed'))}
  # The same keys: every TensorBoard training tag is a key (without 'train/').
  assert {tag.removeprefix('train/') for tag in training} == set(records[0]) - {'step', 'time'}
  for r in records:
    for tag, by_step in training.items():
      # TensorBoard keeps float32; the JSON line the float64 it came from.
      assert by_step[r['step']][1] == np.float32(r[tag.removeprefix('train/')]), (tag, r)
  assert {'d_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm',
          'steps_per_sec', 'skipped_steps'} <= set(records[0])
  if seeds > 1:
    for r in records:
      per_seed = [r['seed0/d_loss'], r['seed1/d_loss']]
      assert r['d_loss'] == pytest.approx(np.mean(per_seed), rel=1e-12)
      assert r['d_loss_stderr'] == pytest.approx(
          np.std(per_seed, ddof=1) / np.sqrt(2), rel=1e-9)
      assert r['seed0/d_loss'] != r['seed1/d_loss']
  else:
    assert not any(k.startswith('seed') or k.endswith('_stderr') for k in records[0])


def test_resume_does_not_duplicate_steps(tmp_path):
  # Logged every step, checkpointed every 2: the run ends at 6. Removing
  # checkpoint 6 is the run killed after logging step 6 but before saving it;
  # a torn last line is a kill in the middle of a write.
  config = toy2d.get_config('tiny')
  config.train.num_steps = 6
  config.log.log_every = 1
  workdir = str(tmp_path)
  train.train_and_evaluate(config, workdir)
  first = _records(workdir)
  assert [r['step'] for r in first] == [1, 2, 3, 4, 5, 6]
  shutil.rmtree(os.path.join(workdir, 'checkpoints', '6'))
  with open(os.path.join(workdir, 'metrics.jsonl'), 'a') as f:
    f.write('{"step": 7, "d_lo')
  with open(os.path.join(workdir, 'eval.jsonl'), 'w') as f:
    f.write('{"step": 2, "m": 1}\n{"step": 5, "m": 2}\n{"step": 6, "m": 3}\n')

  train.train_and_evaluate(config, workdir)  # resumes at 4, repeats 5 and 6
  again = _records(workdir)
  assert [r['step'] for r in again] == [1, 2, 3, 4, 5, 6]
  # Steps 5 and 6 come from the resumed run (later), with the same values:
  # resume is exact.
  for old, new in zip(first[4:], again[4:]):
    assert new['time'] > first[-1]['time']
    assert {k: v for k, v in new.items() if k not in ('time', 'steps_per_sec')} == {
        k: v for k, v in old.items() if k not in ('time', 'steps_per_sec')}
  assert again[:4] == first[:4]  # the lines up to the checkpoint are untouched
  with open(os.path.join(workdir, 'eval.jsonl')) as f:
    assert f.read() == '{"step": 2, "m": 1}\n'
  assert not os.path.exists(os.path.join(workdir, 'metrics.jsonl.tmp'))


def _summary_from_events(workdir):
  """run_summary.summarise as it was, on TensorBoard events (the reference)."""
  s = {tag: [(step, wall, value) for step, (wall, value) in sorted(by_step.items())]
       for tag, by_step in _events(workdir).items()}
  rates = [v for _, _, v in s['train/steps_per_sec'][1:]] or [s['train/steps_per_sec'][0][2]]
  walls = [w for _, w, _ in s['train/d_loss']]
  last = {k: v[-1][2] for k, v in s.items()}
  return {'steps': s['train/d_loss'][-1][0], 'steps_per_sec': float(np.median(rates)),
          'minutes': (max(walls) - min(walls)) / 60,
          'd_loss': last['train/d_loss'], 'g_loss': last['train/g_loss'],
          'd_real': last['train/d_real'], 'd_fake': last['train/d_fake']}


def test_run_summary_reads_metrics_jsonl_with_the_old_numbers(tmp_path):
  config = _tiny('dcgan')
  config.train.num_steps = 6
  workdir = str(tmp_path)
  train.train_and_evaluate(config, workdir)
  new, old = run_summary.summarise(workdir), _summary_from_events(workdir)
  assert new['steps'] == old['steps'] == 6
  for k in ('steps_per_sec', 'd_loss', 'g_loss', 'd_real', 'd_fake'):
    assert new[k] == pytest.approx(old[k], rel=1e-6), k  # float32 in the events
  # Wall times: metrics.jsonl's clock is read beside tensorboardX's.
  assert new['minutes'] == pytest.approx(old['minutes'], abs=0.01 / 60)
  assert new['model'] == 'dcgan_mnist' and new['data'].startswith('embedded')
  # The sweep's reader needs only metrics.jsonl: without the events it still works.
  for path in os.listdir(workdir):
    if path.startswith('events.out.tfevents.'):
      os.remove(os.path.join(workdir, path))
  assert run_summary.summarise(workdir) == new
