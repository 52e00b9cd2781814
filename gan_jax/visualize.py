"""Pictures of samples: image grids, scatter plots, histograms and token maps, as PNG."""

from __future__ import annotations

import io
import math
import os

import matplotlib
matplotlib.use('Agg')  # files only; no display on training machines
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, pad: int = 2, columns: int | None = None) -> np.ndarray:
  """Tiles (N, H, W, C) images in [-1, 1] into one (rows, cols) uint8 picture, row-major.

  numpy tiling, because PIL and matplotlib have no grid helper and this keeps
  the picture pixel-exact. ``columns`` K defaults to ceil(sqrt(N)).
  Returns (R*(H+pad)+pad, K*(W+pad)+pad, C) with R = ceil(N / K).
  """
  n, h, w, c = images.shape
  cols = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / cols)
  grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
  pixels = np.clip((np.asarray(images) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
  for i in range(n):
    r, k = divmod(i, cols)
    top, left = pad + r * (h + pad), pad + k * (w + pad)
    grid[top:top + h, left:left + w] = pixels[i]
  return grid


def scatter_plot(fake: np.ndarray, real: np.ndarray, title: str = '') -> np.ndarray:
  """A 2-D scatter of generated (red) over real (grey) points, as an RGB uint8 array."""
  fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
  ax.scatter(real[:, 0], real[:, 1], s=2, c='0.6', label='real')
  ax.scatter(fake[:, 0], fake[:, 1], s=2, c='tab:red', alpha=0.6, label='G(z)')
  lim = 1.3 * float(np.abs(real).max())
  ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect='equal', title=title)
  ax.legend(loc='upper right', fontsize=7, markerscale=4)
  return _to_array(fig)


def histogram_plot(fake: np.ndarray, real: np.ndarray, title: str = '') -> np.ndarray:
  """Histograms of 1-D generated (red) and real (grey) values, as an RGB uint8 array."""
  fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
  values = np.concatenate([fake[:, 0], real[:, 0]])
  bins = np.linspace(values.min() - 0.5, values.max() + 0.5, 41)
  ax.hist(real[:, 0], bins=bins, color='0.6', label='real')
  ax.hist(fake[:, 0], bins=bins, color='tab:red', alpha=0.6, label='G(z)')
  ax.set(title=title)
  ax.legend(loc='upper right', fontsize=7)
  return _to_array(fig)


def token_picture(fake: np.ndarray, real: np.ndarray | None, title: str = '') -> np.ndarray:
  """Token sequences (N, L) int as maps: row i = sample i, one colour per token id.

  Generated on the left, real (if given, as many rows) on the right, as an
  RGB uint8 array.
  """
  panels = [('G', fake)] + ([('real', real[:len(fake)])] if real is not None else [])
  vmax = max(int(np.max(p)) for _, p in panels)
  fig, axes = plt.subplots(1, len(panels), figsize=(2 + 2 * len(panels), 4), dpi=100,
                           squeeze=False)
  for ax, (name, tokens) in zip(axes[0], panels):
    ax.imshow(tokens, cmap='tab20' if vmax > 1 else 'gray_r', vmin=0, vmax=max(vmax, 1),
              aspect='auto', interpolation='nearest')
    ax.set(title=f'{name} {title}'.strip() if name == 'G' else 'real data',
           xlabel='position', ylabel='sample')
  fig.tight_layout()
  return _to_array(fig)


def _to_array(fig) -> np.ndarray:
  buf = io.BytesIO()
  fig.savefig(buf, format='png', bbox_inches='tight')
  plt.close(fig)
  return np.asarray(Image.open(buf).convert('RGB'))


def sample_picture(fake: np.ndarray, real: np.ndarray, title: str = '',
                   columns: int | None = None) -> np.ndarray:
  """(H, W, C) uint8: an image grid (``columns`` wide) for images, a token
  map for integer sequences, a scatter plot for 2-D points, a histogram for 1-D."""
  if fake.ndim == 2 and np.issubdtype(fake.dtype, np.integer):
    return token_picture(fake, real, title)
  if fake.ndim == 2 and fake.shape[1] == 2:
    return scatter_plot(fake, real, title)
  if fake.ndim == 2 and fake.shape[1] == 1:
    return histogram_plot(fake, real, title)
  return image_grid(fake, columns=columns)


def save_png(picture: np.ndarray, path: str) -> None:
  """Writes an (H, W, 1|3) uint8 picture as PNG, atomically (temp file, rename)."""
  tmp = path + '.tmp'
  Image.fromarray(picture.squeeze(-1) if picture.shape[-1] == 1 else picture).save(
      tmp, format='PNG')
  os.replace(tmp, path)


def image_rows_figure(rows: list[tuple[str, np.ndarray]], title: str = '') -> np.ndarray:
  """Rows of images with a label each, as an RGB uint8 array.

  ``rows`` is [(label, (K, H, W, C) images)]: images in [-1, 1] are drawn in
  grey; a label starting with '|' (an error map such as '|G(z) - x|') marks
  values in [0, 2] drawn with a heat map, so that small errors stay visible.
  """
  cols = max(len(images) for _, images in rows)
  fig, axes = plt.subplots(len(rows), cols, figsize=(0.8 * cols + 1.2, 0.85 * len(rows) + 0.3),
                           dpi=100, squeeze=False)
  for r, (label, images) in enumerate(rows):
    error = label.startswith('|')
    for k in range(cols):
      ax = axes[r, k]
      ax.set_xticks([])
      ax.set_yticks([])
      for spine in ax.spines.values():
        spine.set_visible(False)
      if k < len(images):
        picture = np.asarray(images[k])[..., 0] if images.shape[-1] == 1 else (images[k] + 1) / 2
        ax.imshow(picture, cmap='magma' if error else 'gray', vmin=0 if error else -1,
                  vmax=2 if error else 1, interpolation='nearest')
    axes[r, 0].set_ylabel(label, rotation=0, ha='right', va='center', fontsize=8)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.15)
  return _to_array(fig)
