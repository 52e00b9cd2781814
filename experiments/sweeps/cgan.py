"""The three conditionings of configs/cgan.py, one run each (the docs/cgan.md table).

    python experiments/sweep.py --sweep=experiments/sweeps/cgan.py --sweep_dir=runs/sweeps/cgan
    python experiments/cgan_table.py --sweep_dir=runs/sweeps/cgan

Each run is configs/cgan.py's default budget (2,000 steps at batch 64, DCGANs
of width 32, the held-out evaluators and CAS at the end): about 10 minutes on
2 CPU cores.
"""

from experiments.sweep import zip_

CONFIG = 'configs/cgan.py'
# (G, D) conditionings: configs/cgan.py's variants projection, acgan, concat.
CONDITIONINGS = (('cbn', 'projection'), ('concat', 'acgan'), ('concat', 'concat'))


def sweep():
  return zip_({'model.g_conditioning': [g for g, _ in CONDITIONINGS],
               'model.d_conditioning': [d for _, d in CONDITIONINGS]})
