"""Every convolution of both DCGANs, timed alone: our formulations vs PyTorch.

    python experiments/conv_layers.py --out=docs/conv_layers.md \
        --xla_flags=--xla_cpu_experimental_xnn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION
    python experiments/conv_layers.py --quick --nets=mnist          # smoke test
    python experiments/conv_layers.py --quick --nets=dcgan64 --layers=D1

The layers are those gan_jax/models/__init__.py builds with the default
widths (configs/dcgan.py: g_width = d_width = 64): G's transposed convolutions
and D's strided convolutions of `mnist` (dcgan_mnist) and `dcgan64`, at batch
``--batch``. For each layer and formulation three functions are jitted and
timed on their own (block_until_ready, warm-up, median and min-max of
``--repeats`` calls): the forward pass y = conv(x, W), the input gradient
g -> dL/dx and the weight gradient g -> dL/dW for a fixed cotangent g = dL/dy.
Formulations: D layers, each ``model.conv_impl`` of gan_jax/models/conv.py;
G layers, our 'subpixel' ConvTranspose and XLA's ``lax.conv_transpose``
('xla'). PyTorch runs ``torch.nn.functional.conv2d`` / ``conv_transpose2d`` on
NCHW tensors with ``torch.set_num_threads(--torch_threads)``: the forward
under ``torch.no_grad()``, each gradient by ``torch.autograd.grad`` wrt that
one tensor on a graph built once (``retain_graph``), so that only the backward
kernel is timed, as XLA drops the unused forward from our gradient functions.

FLOPs are counted analytically, the same for each of the three passes:
2 B H_o W_o k_h k_w C_in C_out for a convolution, and 2 B H W k_h k_w C_in
C_out (H, W of the input: no multiply by an inserted zero counted) for a
transposed one. GFLOP/s is over the three passes; % of peak is against a
4096 x 4096 float32 matmul (jnp, median) measured in the same run.

``--xla_flags`` re-runs the JAX rows in a fresh process per entry with
XLA_FLAGS set to it (XLA reads its flags when the backend starts), as rows
labelled ``+flags N`` in the same tables.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from typing import Callable, NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import jaxlib  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from absl import app, flags  # pylint: disable=g-import-not-at-top
from jax import lax  # pylint: disable=g-import-not-at-top

from timing import cpu_name, timed  # pylint: disable=g-import-not-at-top
from gan_jax.models import conv as conv_lib  # pylint: disable=g-import-not-at-top
from gan_jax.models import layers  # pylint: disable=g-import-not-at-top

flags.DEFINE_list('nets', ['mnist', 'dcgan64'], 'Nets whose layers to time: mnist, dcgan64.')
flags.DEFINE_list('layers', [], "Only these layers (e.g. D1,G3); empty = all.")
flags.DEFINE_integer('batch', 64, 'Batch size B.')
flags.DEFINE_integer('repeats', 8, 'Timed calls per measurement (median, min-max).')
flags.DEFINE_integer('warmup', 1, 'Untimed calls after compilation.')
flags.DEFINE_bool('quick', False, 'Smoke test: repeats=2.')
flags.DEFINE_bool('torch', True, 'Also time PyTorch (if installed).')
flags.DEFINE_integer('torch_threads', 2, 'torch.set_num_threads.')
flags.DEFINE_list('xla_flags', [], 'XLA_FLAGS strings; each re-runs the JAX rows in a '
                  'subprocess with XLA_FLAGS set to it.')
flags.DEFINE_string('out', '', 'Also write the Markdown report here.')
flags.DEFINE_string('rows_json', '', 'Internal: write the JAX rows here as JSON and exit '
                    '(the --xla_flags subprocesses).')
FLAGS = flags.FLAGS

PASSES = ('fwd', 'dx', 'dw')


class Layer(NamedTuple):
  """One convolution: x (B, h, h, c_in) -> (B, h_out, h_out, c_out)."""
  net: str
  name: str
  transposed: bool
  h: int
  c_in: int
  h_out: int
  c_out: int
  k: int
  s: int
  padding: object          # as our layer gets it ('SAME' or pairs)
  torch_padding: int       # PyTorch's p (and output_padding s - 1 when transposed and s > 1)

  def describe(self) -> str:
    kind = 'convT' if self.transposed else 'conv'
    return (f'{self.h}x{self.h}x{self.c_in} -> {self.h_out}x{self.h_out}x{self.c_out}, '
            f'{kind} k{self.k} s{self.s}')

  def flops(self, batch: int) -> float:
    """2 B H_o W_o k^2 C_in C_out (conv) or 2 B H W k^2 C_in C_out (transposed)."""
    positions = self.h if self.transposed else self.h_out
    return 2.0 * batch * positions**2 * self.k**2 * self.c_in * self.c_out


def dcgan_layers(width: int = 64) -> list[Layer]:
  """The convolutions of models/__init__.py's _dcgan_mnist and _dcgan64 (g_width = d_width)."""
  w, p1 = width, ((1, 1), (1, 1))
  mnist = [  # G: 7x7x4w -> 7x7x2w (s1) -> 14x14xw -> 28x28x1, k5 'SAME'; D: k5 s2 'SAME'
      Layer('mnist', 'G1', True, 7, 4 * w, 7, 2 * w, 5, 1, 'SAME', 2),
      Layer('mnist', 'G2', True, 7, 2 * w, 14, w, 5, 2, 'SAME', 2),
      Layer('mnist', 'G3', True, 14, w, 28, 1, 5, 2, 'SAME', 2),
      Layer('mnist', 'D1', False, 28, 1, 14, w, 5, 2, 'SAME', 2),
      Layer('mnist', 'D2', False, 14, w, 7, 2 * w, 5, 2, 'SAME', 2)]
  g64 = [Layer('dcgan64', f'G{i + 1}', True, 4 * 2**i, 8 * w // 2**i, 8 * 2**i,
               (8 * w // 2**(i + 1)) if i < 3 else 3, 4, 2, 'SAME', 1) for i in range(4)]
  d64 = [Layer('dcgan64', f'D{i + 1}', False, 64 // 2**i, 3 if i == 0 else w * 2**(i - 1),
               32 // 2**i, w * 2**i, 4, 2, p1, 1) for i in range(4)]
  return mnist + g64 + d64


def matmul_peak(repeats: int, n: int = 4096) -> float:
  """GFLOP/s of a float32 n x n jnp matmul, from the median of ``repeats`` calls."""
  a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)), jnp.float32)
  mm = jax.jit(lambda a: a @ a)
  mm(a).block_until_ready()
  return 2 * n**3 / timed(lambda: mm(a).block_until_ready(), repeats, 1)[0] / 1e9


def _jax_formulations(layer: Layer) -> dict[str, Callable]:
  """name -> f(x, W) for every formulation of ``layer`` we have."""
  s = (layer.s, layer.s)
  if layer.transposed:
    dn = conv_lib.DIMENSION_NUMBERS
    return {
        'subpixel': lambda x, w: layers.subpixel_conv_transpose(x, w, s, layer.padding),
        'xla': lambda x, w: lax.conv_transpose(x, w, s, layer.padding, dimension_numbers=dn)}
  out = {}
  for impl in conv_lib.CONV_IMPLS:
    if impl == 'auto' or (impl == 'space_to_depth' and layer.k % layer.s):
      continue  # 'auto' is one of the others, marked in the table
    out[impl] = lambda x, w, impl=impl: conv_lib.conv2d(x, w, s, layer.padding, impl)
  return out


def auto_choice(layer: Layer) -> str:
  """What 'auto' resolves to for ``layer`` on this backend."""
  if layer.transposed:
    return layers.resolve_conv_transpose_impl('auto', (layer.s, layer.s), layer.c_out)
  return conv_lib.resolve_conv_impl('auto', (layer.k,) * 2, (layer.s,) * 2, layer.c_in,
                                    (layer.h, layer.h))


def _inputs(layer: Layer, batch: int):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(batch, layer.h, layer.h, layer.c_in)).astype(np.float32)
  w = (rng.normal(size=(layer.k, layer.k, layer.c_in, layer.c_out)) * 0.05).astype(np.float32)
  g = rng.normal(size=(batch, layer.h_out, layer.h_out, layer.c_out)).astype(np.float32)
  return x, w, g


def time_jax(layer: Layer, batch: int, repeats: int, warmup: int) -> list[dict]:
  """One row per formulation: {'what', 'fwd'/'dx'/'dw': (median, min, max) s}."""
  x, w, g = (jnp.asarray(a) for a in _inputs(layer, batch))
  rows = []
  for name, f in _jax_formulations(layer).items():
    fns = {'fwd': jax.jit(f),
           'dx': jax.jit(lambda x, w, g, f=f: jax.vjp(lambda x: f(x, w), x)[1](g)[0]),
           'dw': jax.jit(lambda x, w, g, f=f: jax.vjp(lambda w: f(x, w), w)[1](g)[0])}
    y = fns['fwd'](x, w)
    assert y.shape == g.shape, (layer, name, y.shape, g.shape)
    args = {'fwd': (x, w), 'dx': (x, w, g), 'dw': (x, w, g)}
    row = {'what': name}
    for p in PASSES:
      fn, a = fns[p], args[p]
      jax.block_until_ready(fn(*a))  # compile
      row[p] = timed(lambda fn=fn, a=a: jax.block_until_ready(fn(*a)), repeats, warmup)
    rows.append(row)
  return rows


def time_torch(layer: Layer, batch: int, repeats: int, warmup: int) -> dict:
  """PyTorch's forward, input-gradient and weight-gradient times on NCHW tensors."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(FLAGS.torch_threads)
  x, w, g = _inputs(layer, batch)
  x = torch.tensor(x.transpose(0, 3, 1, 2).copy())
  g = torch.tensor(g.transpose(0, 3, 1, 2).copy())
  # conv2d weights are (C_out, C_in, k, k); conv_transpose2d's (C_in, C_out, k, k).
  w = torch.tensor(w.transpose(3, 2, 0, 1).copy() if not layer.transposed
                   else w.transpose(2, 3, 0, 1).copy())
  if layer.transposed:
    # H_out = (H - 1) s - 2 p + k + output_padding: the extra row(s) 'SAME' makes.
    extra = layer.h_out - ((layer.h - 1) * layer.s - 2 * layer.torch_padding + layer.k)
    op = lambda x, w: torch.nn.functional.conv_transpose2d(
        x, w, stride=layer.s, padding=layer.torch_padding, output_padding=extra)
  else:
    op = lambda x, w: torch.nn.functional.conv2d(x, w, stride=layer.s,
                                                 padding=layer.torch_padding)

  def forward():
    with torch.no_grad():
      return op(x, w)
  assert tuple(forward().shape) == tuple(g.shape), (layer, forward().shape, g.shape)
  x_req, w_req = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
  y_dx, y_dw = op(x_req, w), op(x, w_req)  # graphs built once; only backward is timed
  row = {'what': 'torch',
         'fwd': timed(forward, repeats, warmup),
         'dx': timed(lambda: torch.autograd.grad(y_dx, x_req, g, retain_graph=True),
                     repeats, warmup),
         'dw': timed(lambda: torch.autograd.grad(y_dw, w_req, g, retain_graph=True),
                     repeats, warmup)}
  return row


def selected_layers() -> list[Layer]:
  for net in FLAGS.nets:
    if net not in ('mnist', 'dcgan64'):
      raise app.UsageError(f"--nets: {net!r}; allowed: 'mnist', 'dcgan64'")
  chosen = [l for l in dcgan_layers() if l.net in FLAGS.nets
            and (not FLAGS.layers or l.name in FLAGS.layers)]
  if not chosen:
    names = sorted({l.name for l in dcgan_layers() if l.net in FLAGS.nets})
    raise app.UsageError(f'--layers={",".join(FLAGS.layers)} matches no layer of '
                         f'{FLAGS.nets}; allowed: {names}')
  return chosen


def jax_rows(chosen: list[Layer], repeats: int) -> list[dict]:
  rows = []
  for layer in chosen:
    print(f'timing {layer.net} {layer.name} ({layer.describe()}) ...', flush=True)
    for row in time_jax(layer, FLAGS.batch, repeats, FLAGS.warmup):
      rows.append({**row, 'net': layer.net, 'layer': layer.name})
  return rows


def flagged_rows(flag: str, tag: str, repeats: int) -> list[dict]:
  """The JAX rows again, in a fresh process with XLA_FLAGS=``flag``."""
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'rows.json')
    cmd = [sys.executable, os.path.abspath(__file__), f'--nets={",".join(FLAGS.nets)}',
           f'--layers={",".join(FLAGS.layers)}', f'--batch={FLAGS.batch}',
           f'--repeats={repeats}', f'--warmup={FLAGS.warmup}', '--notorch',
           f'--rows_json={path}']
    env = {**os.environ, 'XLA_FLAGS': f'{os.environ.get("XLA_FLAGS", "")} {flag}'.strip()}
    print(f'XLA_FLAGS={env["XLA_FLAGS"]}: timing the JAX rows in a subprocess ...', flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
      raise SystemExit(f'error: the subprocess with XLA_FLAGS={flag!r} failed '
                       f'(exit {proc.returncode}):\n{proc.stderr[-3000:]}')
    with open(path) as f:
      rows = json.load(f)
  for row in rows:
    row['what'] = f"{row['what']} +{tag}"
  return rows


def _ms(t) -> str:
  med, lo, hi = (1e3 * v for v in t)
  return f'{med:.1f} ({lo:.1f}-{hi:.1f})'


def report(chosen, rows, peak, flag_tags, repeats) -> str:
  versions = f'jax {jax.__version__}, jaxlib {jaxlib.__version__}'
  versions += ''.join(f', {m} {sys.modules[m].__version__}' for m in ('flax', 'torch')
                      if m in sys.modules)
  cpu = cpu_name()
  lines = [
      '# Convolution layers of the DCGANs: our formulations vs PyTorch', '',
      f'Machine: {cpu}, {os.cpu_count()} CPU cores, {jax.default_backend()} backend; {versions}'
      + (f' (torch {FLAGS.torch_threads} threads)' if FLAGS.torch else '') + '. '
      f'Float32 matmul peak measured in this run (4096^3, jnp, median): {peak:.0f} GFLOP/s.',
      '', 'Made by `python experiments/conv_layers.py '
      + ' '.join(a for a in sys.argv[1:]) + '`'
      + f' (batch {FLAGS.batch}, median (min-max) ms of {repeats} calls after warm-up).', '',
      'Passes: fwd y = conv(x, W); dx the input gradient; dw the weight gradient, each its '
      'own jitted function. FLOPs per pass: 2 B H_o W_o k^2 C_in C_out (conv), 2 B H W k^2 '
      'C_in C_out with the input H, W (transposed conv); GFLOP/s and % of peak over the '
      'three passes. "= auto": what `model.conv_impl` / `model.conv_transpose_impl` = '
      "'auto' runs on this backend. / torch: our time over PyTorch's (below 1 is faster).", '']
  for tag, flag in flag_tags:
    lines.append(f'+{tag}: XLA_FLAGS=`{flag}` (a separate process).')
  if flag_tags:
    lines.append('')
  lines += ['| net | layer | shape | formulation | fwd ms | dx ms | dw ms | total ms | GFLOP/s '
            '| % of peak | / torch (fwd, dx, dw, total) |',
            '|---|---|---|---|---|---|---|---|---|---|---|']
  by_layer = {(l.net, l.name): [r for r in rows if (r['net'], r['layer']) == (l.net, l.name)]
              for l in chosen}
  summary = []
  for layer in chosen:
    layer_rows = by_layer[(layer.net, layer.name)]
    torch_row = next((r for r in layer_rows if r['what'] == 'torch'), None)
    auto = auto_choice(layer)
    gflop = 3 * layer.flops(FLAGS.batch) / 1e9
    for r in layer_rows:
      total = sum(r[p][0] for p in PASSES)
      label = r['what'] + (' (= auto)' if r['what'] == auto else '')
      ratio = '-'
      if torch_row is not None and r is not torch_row:
        ratio = ', '.join(f'{r[p][0] / torch_row[p][0]:.2f}' for p in PASSES)
        ratio += f'; {total / sum(torch_row[p][0] for p in PASSES):.2f}'
      lines.append(f'| {layer.net} | {layer.name} | {layer.describe()} | {label} | '
                   + ' | '.join(_ms(r[p]) for p in PASSES)
                   + f' | {1e3 * total:.1f} | {gflop / total:.0f} | '
                   f'{100 * gflop / total / peak:.0f} | {ratio} |')
    ours = [r for r in layer_rows if r['what'] != 'torch']
    best = min(ours, key=lambda r: sum(r[p][0] for p in PASSES))
    default = next(r for r in ours if r['what'] == auto)
    summary.append((layer, default, best, torch_row))
  lines += ['', '## Summary: per layer, total of the three passes (median ms)', '',
            '| net | layer | shape | ours, auto | best of ours | PyTorch | auto / torch | '
            'best / torch |', '|---|---|---|---|---|---|---|---|']
  for layer, default, best, torch_row in summary:
    tot = lambda r: sum(r[p][0] for p in PASSES)
    t = tot(torch_row) if torch_row else float('nan')
    fmt = lambda v: '-' if np.isnan(v) else f'{v:.2f}'
    lines.append(f"| {layer.net} | {layer.name} | {layer.describe()} | "
                 f"{1e3 * tot(default):.1f} ({default['what']}) | "
                 f"{1e3 * tot(best):.1f} ({best['what']}) | "
                 + ('-' if torch_row is None else f'{1e3 * t:.1f}')
                 + f' | {fmt(tot(default) / t)} | {fmt(tot(best) / t)} |')
  return '\n'.join(lines)


def main(_):
  repeats = 2 if FLAGS.quick else FLAGS.repeats
  chosen = selected_layers()
  if FLAGS.rows_json:  # a --xla_flags subprocess: JAX rows only
    with open(FLAGS.rows_json, 'w') as f:
      json.dump(jax_rows(chosen, repeats), f)
    return
  peak = matmul_peak(repeats=3 if FLAGS.quick else 5)
  rows = jax_rows(chosen, repeats)
  flag_tags = [(f'flags {i + 1}', flag) for i, flag in enumerate(FLAGS.xla_flags)]
  for tag, flag in flag_tags:
    rows += flagged_rows(flag, tag, repeats)
  if FLAGS.torch:
    if importlib.util.find_spec('torch') is None:
      print('PyTorch not installed: skipping its rows (pip install torch).')
    else:
      for layer in chosen:
        print(f'timing torch {layer.net} {layer.name} ...', flush=True)
        rows.append({**time_torch(layer, FLAGS.batch, repeats, FLAGS.warmup),
                     'net': layer.net, 'layer': layer.name})
  text = report(chosen, rows, peak, flag_tags, repeats)
  print(text)
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  app.run(main)
