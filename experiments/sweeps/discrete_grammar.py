"""Every estimator of configs/discrete.py on the grammar's sentences, at its bits rate.

    python experiments/sweep.py --sweep=experiments/sweeps/discrete_grammar.py \
      --sweep_dir=runs/sweeps/discrete_grammar
    python experiments/discrete.py

Run after experiments/sweeps/discrete_bits.py: each estimator uses the rate
(for G and D) with which it reached the lower final KL on the bit strings
(``discrete_bits.selected_rates``), so the rate is never chosen on
this data. 3 seeds per run (train.num_seeds, vmapped).
"""

from configs.discrete import ESTIMATORS
from experiments.sweeps.discrete_bits import NUM_SEEDS, selected_rates

CONFIG = 'configs/discrete.py:grammar'


def sweep():
  rates = selected_rates()
  for estimator in ESTIMATORS:
    yield {'train.estimator': estimator, 'optim.g_lr': rates[estimator],
           'optim.d_lr': rates[estimator], 'train.num_seeds': NUM_SEEDS}
