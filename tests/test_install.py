"""Install: pyproject declares what the code imports, the wheel holds the package and its data,
training needs no TensorFlow, TensorBoard's own tools read the run, CI runs the README's command.
"""

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile

import pytest
from tensorboard.backend.event_processing import event_accumulator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_MODULES = ('tensorflow', 'tensorflow_datasets')


def _pyproject():
  with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)['project']


def _dist_name(requirement: str) -> str:
  return re.split(r'[<>=!~;\[ ]', requirement, maxsplit=1)[0].lower().replace('_', '-')


def _imported_modules(folder: str) -> set[str]:
  """Top-level names of every module the .py files under ``folder`` import (in functions too)."""
  names = set()
  for root, _, files in os.walk(os.path.join(REPO, folder)):
    for name in files:
      if name.endswith('.py'):
        with open(os.path.join(root, name)) as f:
          tree = ast.parse(f.read())
        for node in ast.walk(tree):
          if isinstance(node, ast.Import):
            names.update(a.name.split('.')[0] for a in node.names)
          elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split('.')[0])
  local = {n.removesuffix('.py') for d in ('.', 'tests', 'experiments') for n in
           os.listdir(os.path.join(REPO, d))}
  return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def _distributions(module: str) -> set[str]:
  dists = importlib.metadata.packages_distributions().get(module, [])
  return {d.lower().replace('_', '-') for d in dists}


def test_pyproject_declares_every_import():
  project = _pyproject()
  core = {_dist_name(r) for r in project['dependencies']}
  extras = {k: {_dist_name(r) for r in v} for k, v in project['optional-dependencies'].items()}
  package = _imported_modules('gan_jax')
  assert {'jax', 'flax', 'scipy', 'mlxtend', 'tensorboardX', 'PIL'} <= package  # the scan works
  for module in sorted(package):
    wanted = extras['tfds'] if module in TF_MODULES else core
    assert _distributions(module) & wanted, (
        f'gan_jax imports {module} (from {_distributions(module)}), not declared')
  # The tests need the core, the [test] extra and, for some, [tfds]; torch is
  # an optional benchmark dependency they skip without.
  for module in sorted(_imported_modules('tests') - {'torch'}):
    assert _distributions(module) & (core | extras['test'] | extras['tfds']), module
  assert 'tensorboard' in core  # `tensorboard --logdir runs`, as the README says
  assert not core & {'tensorflow', 'tensorflow-cpu', 'tensorflow-datasets'}


def test_requirements_pin_every_declared_package_at_its_minimum():
  project = _pyproject()
  declared = {_dist_name(r): r for r in project['dependencies']}
  for extra in project['optional-dependencies'].values():
    declared.update({_dist_name(r): r for r in extra})
  with open(os.path.join(REPO, 'requirements.txt')) as f:
    pins = dict(line.strip().split('==') for line in f if '==' in line and
                not line.startswith('#'))
  pins = {k.lower().replace('_', '-'): v for k, v in pins.items()}
  assert set(pins) == set(declared)
  for name, requirement in declared.items():
    minimum = requirement.split('>=')[1]
    assert tuple(map(int, pins[name].split('.'))) >= tuple(map(int, minimum.split('.'))), name


def test_wheel_holds_every_module_and_the_classifier_weights(tmp_path):
  src = tmp_path / 'src'
  src.mkdir()
  for name in ('pyproject.toml', 'README.md'):
    shutil.copy(os.path.join(REPO, name), src)
  shutil.copytree(os.path.join(REPO, 'gan_jax'), src / 'gan_jax',
                  ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                  '-q', '-w', str(tmp_path / 'dist'), str(src)], check=True,
                 capture_output=True, timeout=300)
  [wheel] = os.listdir(tmp_path / 'dist')
  names = set(zipfile.ZipFile(tmp_path / 'dist' / wheel).namelist())
  expected = {os.path.relpath(os.path.join(root, f), src) for root, _, files in
              os.walk(src / 'gan_jax') for f in files}
  assert 'gan_jax/evaluation/weights/digit_cnn.npz' in expected
  assert 'gan_jax/evaluation/weights/digit_cnn.json' in expected
  assert expected <= names, sorted(expected - names)
  metadata = next(n for n in names if n.endswith('.dist-info/METADATA'))
  requires = [l for l in zipfile.ZipFile(tmp_path / 'dist' / wheel).read(metadata).decode()
              .splitlines() if l.startswith('Requires-Dist:')]
  tf = [l for l in requires if 'tensorflow' in l]
  assert tf and all('extra == "tfds"' in l for l in tf), tf


# The CLI of the README's first command, on a tiny config and the embedded
# digits; afterwards, which TensorFlow modules were ever imported.
_TRAIN = textwrap.dedent('''
  import json, sys
  from absl import app
  import gan_jax.main as main
  after_import = sorted(m for m in sys.modules if m.split('.')[0] in {tf})
  sys.argv = ['gan_jax.main', '--config=configs/dcgan.py:tiny', '--workdir=' + sys.argv[1],
              '--config.data.source=embedded']
  try:
    app.run(main.main, flags_parser=main._parse_flags)
  except SystemExit as e:
    status = e.code
  print('MODULES ' + json.dumps({{'status': status, 'after_import': after_import,
      'after_training': sorted(m for m in sys.modules if m.split('.')[0] in {tf})}}))
''').format(tf=repr(set(TF_MODULES)))


@pytest.fixture(scope='module')
def cli_run(tmp_path_factory):
  """(workdir, the subprocess's result) of one tiny training run from the CLI."""
  workdir = str(tmp_path_factory.mktemp('runs') / 'tiny')
  result = subprocess.run([sys.executable, '-c', _TRAIN, workdir], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
  return workdir, result


def test_training_on_embedded_data_never_imports_tensorflow(cli_run):
  _, result = cli_run
  [line] = [l for l in result.stdout.splitlines() if l.startswith('MODULES ')]
  modules = json.loads(line.removeprefix('MODULES '))
  assert modules['status'] in (None, 0), result.stderr[-3000:]
  assert modules['after_import'] == [] and modules['after_training'] == [], modules
  assert 'step 4/4' in result.stderr


def test_tensorboard_reads_the_training_scalars(cli_run):
  workdir, result = cli_run
  assert [f for f in os.listdir(workdir) if f.startswith('events.out.tfevents.')]
  acc = event_accumulator.EventAccumulator(workdir, size_guidance={'scalars': 0})
  acc.Reload()
  tags = set(acc.Tags()['scalars'])
  assert {'train/d_loss', 'train/g_loss', 'train/d_real', 'train/d_fake',
          'train/d_grad_norm', 'train/g_grad_norm', 'train/steps_per_sec'} <= tags
  assert sorted(acc.Tags()['images']) == ['interpolation', 'samples']
  # The values equal the progress lines' (printed to 4 decimals), step by step.
  printed = {int(m.group(1)): (float(m.group(2)), float(m.group(3)))
             for m in re.finditer(r'step (\d+)/4  d_loss ([\d.]+)  g_loss ([\d.]+)',
                                  result.stderr)}
  assert sorted(printed) == [2, 4]
  for tag, i in (('train/d_loss', 0), ('train/g_loss', 1)):
    events = acc.Scalars(tag)
    assert [e.step for e in events] == [2, 4]
    for e in events:
      assert round(e.value, 4) == pytest.approx(printed[e.step][i], abs=1.5e-4), (tag, e)
  # The viewer the README names, on the parent of the run (as `--logdir runs`).
  viewer = shutil.which('tensorboard', path=os.path.dirname(sys.executable)) or shutil.which(
      'tensorboard')
  assert viewer, 'the tensorboard command is not installed'
  out = subprocess.run([viewer, '--inspect', f'--logdir={os.path.dirname(workdir)}'],
                       capture_output=True, text=True, timeout=120).stdout
  assert 'train/d_loss' in out and re.search(r'scalars\s+first_step\s+2\s+last_step\s+4', out)


def _readme_commands():
  with open(os.path.join(REPO, 'README.md')) as f:
    readme = f.read()
  section = readme.split('## Two commands', 1)[1].split('\n## ', 1)[0]
  return re.findall(r'```bash\n(.*?)\n```', section, re.S)


def test_ci_runs_exactly_the_readme_test_command():
  train_cmd, test_cmd = _readme_commands()
  assert train_cmd.startswith('pip install -c requirements.txt -e . && python -m gan_jax.main ')
  assert test_cmd == "pip install -c requirements.txt -e '.[tfds,test]' && python -m pytest -q -n 2 --dist loadfile tests"
  with open(os.path.join(REPO, '.ci', 'run')) as f:
    commands = [l for l in f.read().splitlines() if l.strip() and not l.startswith('#')]
  assert commands == ['set -euo pipefail', 'cd "$(dirname "$0")/.."', test_cmd]


def test_tfds_tests_skip_with_a_reason_without_the_extra():
  # TensorFlow and tfds made unimportable, as in a core install.
  blocked = ('import sys, pytest\n'
             'sys.modules.update(tensorflow=None, tensorflow_datasets=None)\n'
             'sys.exit(pytest.main(sys.argv[1:]))')
  result = subprocess.run(
      [sys.executable, '-c', blocked, '-q', '-rs', '-p', 'no:cacheprovider',
       'tests/test_data.py', 'tests/test_train.py',
       '-k', 'tfds_path or unknown_dataset or unknown_tfds or auto_falls or unprepared'],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  out = result.stdout
  assert result.returncode == 0, out[-3000:]
  summary = out.strip().splitlines()[-1]
  assert re.match(r'6 skipped, \d+ deselected in ', summary), out[-3000:]
  # -rs folds the skips of one place and reason into one line with a count.
  reasons = re.findall(r'SKIPPED \[(\d+)\] tests/test_(?:data|train)\.py:\d+: (.*)', out)
  assert sum(int(n) for n, _ in reasons) == 6, out
  assert {why for _, why in reasons} == {'needs the [tfds] extra: pip install -e ".[tfds]"'}


def test_the_config_is_in_tensorboards_hparams_view(cli_run):
  workdir, _ = cli_run
  from tensorboard.plugins.hparams import plugin_data_pb2  # pylint: disable=g-import-not-at-top
  acc = event_accumulator.EventAccumulator(workdir)
  acc.Reload()
  content = acc.PluginTagToContent('hparams')
  experiment = plugin_data_pb2.HParamsPluginData.FromString(
      content['_hparams_/experiment']).experiment
  start = plugin_data_pb2.HParamsPluginData.FromString(
      content['_hparams_/session_start_info']).session_start_info
  with open(os.path.join(workdir, 'config.json')) as f:
    config = json.load(f)
  leaves = {}
  def walk(prefix, node):
    for k, v in node.items():
      walk(f'{prefix}{k}.', v) if isinstance(v, dict) else leaves.setdefault(prefix + k, v)
  walk('', config)
  assert {h.name for h in experiment.hparam_infos} == set(start.hparams) == set(leaves)
  assert start.hparams['optim.d_lr'].number_value == leaves['optim.d_lr'] == 2e-4
  assert start.hparams['train.batch_size'].number_value == 8
  assert start.hparams['train.loss'].string_value == 'non_saturating'
  assert start.hparams['data.source'].string_value == 'embedded'
  assert start.hparams['model.g_hidden'].string_value == '[256, 256]'
  assert start.hparams['log.plots'].bool_value is True
  assert [m.name.tag for m in experiment.metric_infos] == [
      'train/d_loss', 'train/g_loss', 'train/d_real', 'train/d_fake']


def test_the_readme_train_command_works_without_the_tfds_extra(tmp_path):
  # The README's first command on a core install (tfds unimportable), shrunk by :tiny.
  blocked = ('import sys, runpy\n'
             'sys.modules.update(tensorflow=None, tensorflow_datasets=None)\n'
             "sys.argv = ['gan_jax.main'] + sys.argv[1:]\n"
             "runpy.run_module('gan_jax.main', run_name='__main__')")
  result = subprocess.run(
      [sys.executable, '-c', blocked, '--config=configs/dcgan.py:tiny',
       f'--workdir={tmp_path / "run"}'], cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(tmp_path / 'run' / 'data.json') as f:
    assert json.load(f)['description'].startswith('embedded')
