"""The same DCGANs in PyTorch, for side-by-side timing (optional dependency).

Architectures match gan_jax's `dcgan_mnist` and `dcgan64` layer for layer:
BatchNorm everywhere except G's output and D's input, ReLU in G, LeakyReLU(0.2)
in D, tanh output, no biases where BatchNorm follows, D gives one logit.
`make_step` builds one full training step on a fixed synthetic batch with Adam
(lr 2e-4, betas (0.5, 0.999)) per player and the non-saturating loss; with
dtype='bfloat16' the forward and backward passes run under
``torch.autocast(dtype=torch.bfloat16)`` (params and Adam stay float32), the
counterpart of gan_jax's model.dtype='bfloat16'.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

LRELU = 0.2


def _up(c_in, c_out, k, s, p, op=0, last=False):
  layers = [nn.ConvTranspose2d(c_in, c_out, k, s, p, output_padding=op, bias=last)]
  return layers + ([nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.ReLU(True)])


def _down(c_in, c_out, k, s, p, bn=True, bias=False):
  layers = [nn.Conv2d(c_in, c_out, k, s, p, bias=bias)]
  return layers + ([nn.BatchNorm2d(c_out)] if bn else []) + [nn.LeakyReLU(LRELU, True)]


class _Reshape(nn.Module):
  def __init__(self, *shape):
    super().__init__()
    self.shape = shape

  def forward(self, x):
    return x.reshape(x.shape[0], *self.shape)


def build(name: str, channels: int = 1):
  """(G, D, z_dim, image shape CHW) for 'mnist' or 'dcgan64'."""
  if name == 'mnist':  # z -> 7x7x256 -> 7x7x128 -> 14x14x64 -> 28x28xC
    g = nn.Sequential(nn.Linear(100, 7 * 7 * 256, bias=False), _Reshape(256, 7, 7),
                      nn.BatchNorm2d(256), nn.ReLU(True), *_up(256, 128, 5, 1, 2),
                      *_up(128, 64, 5, 2, 2, 1), *_up(64, channels, 5, 2, 2, 1, last=True))
    d = nn.Sequential(*_down(channels, 64, 5, 2, 2, bn=False, bias=True), *_down(64, 128, 5, 2, 2),
                      nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    return g, d, 100, (channels, 28, 28)
  if name == 'dcgan64':  # the classic 64x64 geometry, ngf = ndf = 64
    up = [_up(100, 512, 4, 1, 0), _up(512, 256, 4, 2, 1), _up(256, 128, 4, 2, 1),
          _up(128, 64, 4, 2, 1)]
    g = nn.Sequential(_Reshape(100, 1, 1), *[l for u in up for l in u],
                      nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(*_down(channels, 64, 4, 2, 1, bn=False), *_down(64, 128, 4, 2, 1),
                      *_down(128, 256, 4, 2, 1), *_down(256, 512, 4, 2, 1),
                      nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Flatten())
    return g, d, 100, (channels, 64, 64)
  raise ValueError(f'unknown net {name!r}; allowed: mnist, dcgan64')


def param_count(module: nn.Module) -> int:
  return sum(p.numel() for p in module.parameters())


def make_step(name: str, batch: int, update: str = 'alternating', channels: int = 1,
              device: str = 'cpu', seed: int = 0, dtype: str = 'float32'):
  """One training step of the pair (a closure); 'alternating' or 'simultaneous'."""
  torch.manual_seed(seed)
  g, d, z_dim, shape = build(name, channels)
  g, d = g.to(device), d.to(device)
  for m in list(g.modules()) + list(d.modules()):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
      nn.init.normal_(m.weight, 0.0, 0.02)
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  real = torch.rand(batch, *shape, device=device) * 2 - 1
  ones = torch.ones(batch, device=device)
  zeros = torch.zeros(batch, device=device)

  def alternating():
    z = torch.randn(batch, z_dim, device=device)
    fake = g(z)
    opt_d.zero_grad()
    d_loss = bce(d(real).view(-1), ones) + bce(d(fake.detach()).view(-1), zeros)
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = bce(d(fake).view(-1), ones)  # through the updated D
    g_loss.backward()
    opt_g.step()

  def simultaneous():
    z = torch.randn(batch, z_dim, device=device)
    fake = g(z)
    real_logits, fake_logits = d(real).view(-1), d(fake).view(-1)
    d_loss = bce(real_logits, ones) + bce(fake_logits, zeros)
    g_loss = bce(fake_logits, ones)
    d_grads = torch.autograd.grad(d_loss, list(d.parameters()), retain_graph=True)
    g_grads = torch.autograd.grad(g_loss, list(g.parameters()))
    for p, gr in zip(d.parameters(), d_grads):
      p.grad = gr
    for p, gr in zip(g.parameters(), g_grads):
      p.grad = gr
    opt_d.step()
    opt_g.step()

  run = {'alternating': alternating, 'simultaneous': simultaneous}[update]

  def step():
    with (torch.autocast(device_type=device.split(':')[0], dtype=torch.bfloat16)
          if dtype == 'bfloat16' else contextlib.nullcontext()):
      run()
    if device != 'cpu':
      torch.cuda.synchronize()
  step.modules = (g, d)  # for tests
  return step
