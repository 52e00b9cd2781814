"""Resume refuses what does not fit, and bad command lines end in one line.

Regression tests of issue 17's findings 1, 2 and 7: a resume whose config
changes array shapes used to report both good checkpoints as damaged, move
them aside and start over with exit status 0; an unknown config field on the
command line printed a 55-line traceback; JAX's own flags were rejected.
"""

import os
import subprocess
import sys

import pytest

from configs import toy2d
from gan_jax import train
from gan_jax.errors import CheckpointLayoutError, ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _checkpoints(workdir):
  return sorted(os.listdir(os.path.join(workdir, 'checkpoints')))


def test_resume_with_other_shapes_is_refused_and_nothing_is_moved(tmp_path):
  workdir = str(tmp_path)
  train.train_and_evaluate(toy2d.get_config('tiny'), workdir)
  assert _checkpoints(workdir) == ['2', '4']
  wider = toy2d.get_config('tiny')
  wider.model.g_hidden = (16, 16)
  with pytest.raises(ConfigError, match=r'differing fields: model.g_hidden \(saved \[32, 32\], '
                                        r'now \[16, 16\]\)'):
    train.train_and_evaluate(wider, workdir)
  # Even when told to resume anyway: one error naming arrays and shapes.
  with pytest.raises(CheckpointLayoutError, match=r'step 4 .* holds other arrays than this '
                     r'run: .*generator/Dense_0/bias \(saved \(32,\), now \(16,\)\)'):
    train.train_and_evaluate(wider, workdir, allow_config_change=True)
  assert _checkpoints(workdir) == ['2', '4']
  assert not os.path.exists(os.path.join(workdir, 'checkpoints_damaged'))
  # The run itself still resumes where it was.
  config = toy2d.get_config('tiny')
  config.train.num_steps = 6
  assert int(train.train_and_evaluate(config, workdir).step) == 6


def _cli(workdir, *args):
  return subprocess.run([sys.executable, '-m', 'gan_jax.main', f'--workdir={workdir}', *args],
                        cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('args,expected', [
    (['--config=configs/toy2d.py:tiny', '--config.train.lossx=1'],
     "error: --config.train.lossx: the config has no field 'lossx' (did you mean 'loss'?)"),
    (['--config=configs/toy2d.py:tiny', '--config.trainx.loss=1'],
     "error: --config.trainx.loss: the config has no field 'trainx' (did you mean 'train'?)"),
    (['--config=configs/toy2d.py:tiny', '--config.train.batch_size=abc'],
     'error: flag --config.train.batch_size=abc: invalid literal'),
    (['--config=configs/toy2d.py:tiny', '--bogus_flag=1'],
     "error: Unknown command line flag 'bogus_flag'"),
    (['--config=configs/nope.py'], "error: --config: "),
    (['--config=configs/toy2d.py:nope'],
     "unknown variant 'nope'; allowed: 'ring', 'grid', 'pacgan', 'gdpp', 'r3gan', "
     "'unbalanced', 'tiny'"),
])
def test_malformed_flags_and_overrides_are_one_line(tmp_path, args, expected):
  workdir = tmp_path / 'run'
  out = _cli(workdir, *args)
  assert out.returncode == 1, out.stderr[-2000:]
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), out.stderr[-2000:]
  assert expected in lines[0]
  assert not workdir.exists()


def test_jax_flags_are_accepted(tmp_path):
  out = _cli(tmp_path, '--config=configs/toy2d.py:tiny', '--config.train.num_steps=2',
             '--jax_debug_nans', '--jax_platforms=cpu')
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'step 2/2' in out.stderr
