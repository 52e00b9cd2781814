"""Benchmark harness: train-step speed side by side with PyTorch, in one process.

    python experiments/benchmark.py                     # CPU: both DCGANs, batch 64
    python experiments/benchmark.py --nets=dcgan64 --batches=256,1024 \
        --dtypes=float32,bfloat16                       # on a GPU
    python experiments/benchmark.py --out=docs/benchmark_cpu.md

For each net (`mnist`: the MNIST DCGAN; `dcgan64`: the classic 64x64 DCGAN
with 3 channels) and batch size it times, after compilation and warm-up, the
median and spread of repeated steps of:
  ours simultaneous   the one-pass simultaneous step (train.update_rule default)
  ours alternating    the classic schedule, same as PyTorch's example
  two-pass            the simultaneous update with each player's gradient in
                      its own separately compiled function (XLA would merge the
                      shared forward pass inside one jit, so they are apart)
  straightforward     the alternating step with plain `nn.ConvTranspose`
                      (model.conv_transpose_impl='xla'), with --straightforward
  torch alternating / simultaneous   the same nets, batch and dtype in PyTorch
and reports images/s, the step's FLOPs from XLA's cost analysis, achieved
GFLOP/s, the fraction of a float32 matmul peak measured in the same run, XLA's
memory estimate, and the ratios ours / PyTorch and one-pass / two-pass. For
the MLP GAN on the 2-D ring it runs the training loop itself with
train.steps_per_dispatch = 1 and K (--scan_steps). ``--dtypes`` adds bfloat16 rows (``model.dtype``:
bfloat16 compute, float32 params; PyTorch under ``torch.autocast`` to
bfloat16), whose % of peak is against a bfloat16 matmul measured in the same
run; FLOPs are counted on the float32 program.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import ml_collections  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top

from configs import dcgan, toy2d  # pylint: disable=g-import-not-at-top
from gan_jax import modeling, steps, train  # pylint: disable=g-import-not-at-top
from timing import loop_steps_per_sec, timed  # pylint: disable=g-import-not-at-top

flags.DEFINE_list('nets', ['mnist', 'dcgan64'], 'Nets to time.')
flags.DEFINE_list('batches', ['64'], 'Batch sizes.')
flags.DEFINE_integer('repeats', 10, 'Timed steps per measurement.')
flags.DEFINE_integer('warmup', 2, 'Untimed steps after compilation.')
flags.DEFINE_bool('torch', True, 'Also time PyTorch (if installed).')
flags.DEFINE_bool('straightforward', False,
                  'Also time plain nn.ConvTranspose (slow on CPU: ~10 s/step at 64x64).')
flags.DEFINE_list('dtypes', ['float32'], 'model.dtype values: float32, bfloat16.')
flags.DEFINE_list('impls', ['auto'], 'model.conv_transpose_impl values to time the '
                  'simultaneous step with (the first is also used for the rest).')
flags.DEFINE_integer('scan_steps', 100, 'train.steps_per_dispatch for the training-loop '
                     'comparison on the ring MLP (0 skips it).')
flags.DEFINE_string('out', '', 'Also write the Markdown report here.')
FLAGS = flags.FLAGS

NETS = {'mnist': ('dcgan_mnist', (28, 28, 1)), 'dcgan64': ('dcgan64', (64, 64, 3))}


def cost(jitted, *args) -> tuple[float, float]:
  """(FLOPs, bytes of temporaries + arguments + outputs) from XLA's analyses."""
  lowered = jitted.lower(*args)
  compiled = lowered.compile()
  # FLOPs of the program as written, counted on the CPU lowering: a GPU's
  # compiled analysis counts cuDNN convolutions (custom calls) as zero.
  cpu = jax.devices('cpu')[0]
  analysis = jitted.lower(*jax.device_put(args, cpu)).cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  memory = compiled.memory_analysis()
  mem = (memory.temp_size_in_bytes + memory.argument_size_in_bytes
         + memory.output_size_in_bytes) if memory is not None else float('nan')
  return float(analysis.get('flops', float('nan'))), float(mem)


def matmul_peak(dtype: str = 'float32', n: int = 4096) -> float:
  """Best GFLOP/s of an n x n matmul in ``dtype``, with XLA and (on CPU, float32) numpy."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n)).astype(dtype)
  mm = jax.jit(lambda a: a @ a)
  best = 2 * n**3 / timed(lambda: jax.block_until_ready(mm(a)), 5, 2)[1] / 1e9
  if jax.default_backend() == 'cpu' and dtype == 'float32':
    an = np.asarray(a)
    best = max(best, 2 * n**3 / timed(lambda: an @ an, 5, 1)[1] / 1e9)
  return best


def two_pass_step(game: steps.Game):
  """The simultaneous update with each player's gradient compiled on its own."""
  task = game.task

  def losses(g_params, d_params, state, real, z):
    fake, _ = modeling.apply_model(task.generator, g_params, state.model_state['generator'], z)
    real_logits, fake_logits, _ = task.discriminate(
        d_params, state.model_state['discriminator'], real, fake)
    return task.loss_fn(real_logits, fake_logits)
  d_grad = jax.jit(jax.grad(lambda d, s, r, z: losses(s.params['generator'], d, s, r, z)[0]))
  g_grad = jax.jit(jax.grad(lambda g, s, r, z: losses(g, s.params['discriminator'], s, r, z)[1]))

  @jax.jit
  def apply(state, g_grads, d_grads):
    # Both optax updates; the model states stay as they were.
    return game.apply(state, {'generator': g_grads, 'discriminator': d_grads})
  return d_grad, g_grad, apply


def bench_net(net: str, batch: int, peak: float, dtype: str = 'float32') -> list[dict]:
  name, shape = NETS[net]
  config = dcgan.get_config()
  config.model.name = name
  config.model.dtype = dtype
  rows = []
  real = jax.random.uniform(jax.random.PRNGKey(1), (batch, *shape), minval=-1, maxval=1)
  images = {'image': real}
  impls = FLAGS.impls
  variants = [('ours simultaneous' + (f' [{impl}]' if len(impls) > 1 else ''),
               'simultaneous', impl) for impl in impls]
  variants.append(('ours alternating', 'alternating', impls[0]))
  if FLAGS.straightforward and dtype == 'float32':
    variants.append(('straightforward (plain ConvTranspose)', 'alternating', 'xla'))
  for label, update, impl in variants:
    config.model.conv_transpose_impl = impl
    game = train.create_game(config, shape)
    state = train.init_state(config, game, shape)
    step = jax.jit(steps.make_train_step(game, update))
    flops, mem = cost(step, state, images)
    holder = [state]
    def run():
      holder[0] = jax.block_until_ready(step(holder[0], images)[0])
    repeats = FLAGS.repeats if impl != 'xla' or jax.default_backend() != 'cpu' else 2
    rows.append(dict(what=label, t=timed(run, repeats, FLAGS.warmup), flops=flops, mem=mem))

  config.model.conv_transpose_impl = FLAGS.impls[0]
  config.model.dtype = 'float32'  # the one-pass / two-pass comparison is float32
  game = train.create_game(config, shape)
  state = train.init_state(config, game, shape)
  d_grad, g_grad, apply = two_pass_step(game)
  z = jax.random.normal(jax.random.PRNGKey(2), (batch, config.model.z_dim))
  flops = sum(cost(f, state.params['discriminator' if f is d_grad else 'generator'],
                   state, real, z)[0]
              for f in (d_grad, g_grad))
  two_pass = dtype == 'float32'
  holder = [state]
  def run_two_pass():
    s = holder[0]
    dg = d_grad(s.params['discriminator'], s, real, z)
    gg = g_grad(s.params['generator'], s, real, z)
    holder[0] = jax.block_until_ready(apply(s, gg, dg))
  if two_pass:
    rows.append(dict(what='two-pass (separately compiled gradients)',
                     t=timed(run_two_pass, FLAGS.repeats, FLAGS.warmup), flops=flops,
                     mem=float('nan')))

  if FLAGS.torch:
    try:
      import bench_torch  # pylint: disable=g-import-not-at-top
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError:
      print('PyTorch not installed: skipping its rows (pip install torch==2.13.0).')
    else:
      device = 'cuda' if jax.default_backend() == 'gpu' and torch.cuda.is_available() else 'cpu'
      for update in ('alternating', 'simultaneous'):
        step = bench_torch.make_step(net, batch, update, channels=shape[-1], device=device,
                                     dtype=dtype)
        rows.append(dict(what=f'torch {update}', t=timed(step, FLAGS.repeats, FLAGS.warmup),
                         flops=float('nan'), mem=float('nan')))
  for r in rows:
    r.update(net=net, batch=batch, peak=peak, dtype=dtype)
  return rows


def bench_dispatch(k: int, num_steps: int = 3000, interval: int = 500) -> tuple[float, float]:
  """Steps/s of the training loop on the ring MLP GAN: train.steps_per_dispatch 1 vs k.

  The real loop (train.train_and_evaluate) on configs/toy2d.py:ring with its
  evaluators, grids and plots off; the median of the progress lines' steps/s
  after the first, which includes compilation.
  """
  rates = []
  for steps_per_dispatch in (1, k):
    config = toy2d.get_config('ring')
    config.train.num_steps, config.train.steps_per_dispatch = num_steps, steps_per_dispatch
    config.eval = ml_collections.ConfigDict()
    config.log.best_metric, config.log.plots = '', False
    config.log.log_every = interval
    config.log.sample_every = config.log.checkpoint_every = num_steps
    with tempfile.TemporaryDirectory() as workdir:
      train.train_and_evaluate(config, workdir)
      rates.append(loop_steps_per_sec(workdir))
  return rates[0], rates[1]


def report(rows, peaks, scan) -> str:
  dev = jax.devices()[0]
  lines = [f'Machine: {dev.device_kind} ({jax.default_backend()}), {os.cpu_count()} CPU cores, '
           f'{platform.machine()}; jax {jax.__version__}'
           + (f', torch {__import__("torch").__version__} ({__import__("torch").get_num_threads()} threads)'
              if 'torch' in sys.modules else '')
           + '. Matmul peak measured in this run: '
           + ', '.join(f'{d} {p:.0f} GFLOP/s' for d, p in peaks.items()) + '.', '',
           '| net | batch | dtype | step | median s (min-max) | images/s | GFLOP/step (XLA) | '
           'GFLOP/s | % of matmul peak | XLA memory MB |',
           '|---|---|---|---|---|---|---|---|---|---|']
  fmt = lambda v, spec: '-' if np.isnan(v) else format(v, spec)
  for r in rows:
    med, lo, hi = r['t']
    gf = r['flops'] / 1e9
    lines.append(
        f"| {r['net']} | {r['batch']} | {r['dtype']} | {r['what']} | {med:.3f} ({lo:.3f}-{hi:.3f}) | "
        f"{r['batch'] / med:.0f} | {fmt(gf, '.1f')} | {fmt(gf / med, '.0f')} | "
        f"{fmt(100 * gf / med / r['peak'], '.0f')} | {fmt(r['mem'] / 2**20, '.0f')} |")
  lines += ['', '| net | batch | dtype | ratio | value |', '|---|---|---|---|---|']
  by = {}
  for r in rows:
    by[(r['net'], r['batch'], r['dtype'], r['what'])] = r
  for net, batch, dtype in sorted({(r['net'], r['batch'], r['dtype']) for r in rows}):
    get = lambda w: (by.get((net, batch, dtype, w))
                     or by.get((net, batch, dtype, f'{w} [{FLAGS.impls[0]}]')))
    pairs = [('ours alternating / torch alternating', 'ours alternating', 'torch alternating'),
             ('ours simultaneous / torch simultaneous', 'ours simultaneous', 'torch simultaneous'),
             ('one-pass / two-pass (time)', 'ours simultaneous',
              'two-pass (separately compiled gradients)')]
    for label, a, b in pairs:
      if get(a) and get(b):
        lines.append(f"| {net} | {batch} | {dtype} | {label} | "
                     f"{get(a)['t'][0] / get(b)['t'][0]:.2f} |")
    a, b = get('ours simultaneous'), get('two-pass (separately compiled gradients)')
    if a and b:
      lines.append(f"| {net} | {batch} | {dtype} | one-pass / two-pass (XLA FLOPs) | "
                   f"{a['flops'] / b['flops']:.2f} |")
  if scan:
    lines += ['', f'Training loop, MLP GAN on the 2-D ring (configs/toy2d.py:ring, batch 256, '
              f'evaluations off): {scan[0]:.0f} steps/s with train.steps_per_dispatch=1, '
              f'{scan[1]:.0f} steps/s with {FLAGS.scan_steps} '
              f'({scan[1] / scan[0]:.1f}x).']
  return '\n'.join(lines)


def main(_):
  for dtype in FLAGS.dtypes:
    if dtype not in ('float32', 'bfloat16'):
      raise app.UsageError(f"--dtypes: {dtype!r}; allowed: 'float32', 'bfloat16'")
  peaks = {dtype: matmul_peak(dtype) for dtype in FLAGS.dtypes}
  rows = []
  for net in FLAGS.nets:
    for batch in map(int, FLAGS.batches):
      for dtype in FLAGS.dtypes:
        print(f'timing {net} at batch {batch} in {dtype} ...', flush=True)
        rows += bench_net(net, batch, peaks[dtype], dtype)
  scan = bench_dispatch(FLAGS.scan_steps) if FLAGS.scan_steps else None
  text = report(rows, peaks, scan)
  print(text)
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  app.run(main)
