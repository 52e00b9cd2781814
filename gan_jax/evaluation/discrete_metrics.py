"""Evaluators of token generators against data whose distribution is known exactly.

  exact_distribution  (data 'bits' or 'grammar', autoregressive G) scores
      G's exact log p_G of every sequence in the data's table (every 2^L bit
      string; every sentence of the grammar), queried through the sampler
      (inputs {'score': tokens}, tasks/discrete.py). With p = p_data:
        kl          KL(p || p_G) = sum_x p log(p / p_G), nats (the data NLL minus
                    the data entropy; over the table, which holds all of p)
        tv          total variation 1/2 (sum_table |p - p_G| + mass of p_G off the table)
        reverse_kl  KL(p_G || p) (bits only: the table is the whole space; for
                    the grammar, mass off the language makes it infinite)
        valid_mass  sum_table p_G: the probability that G makes a sequence of the data's
                    support (1 for bits)
      No sampling error: these are exact. The floor is p scored against itself (0, 0, 0, 1).
  grammar  (data 'grammar') draws ``num_samples`` sentences and reports
        valid_percent   % that the grammar parses (a lookup: its language is a
                        finite table, see data/discrete.py)
        unique_percent  % of the valid ones that are distinct
        novel_percent   % of the distinct valid ones not in the training set
        grammar_nll     mean -log p_grammar of the valid ones (nats)
      (the validity / uniqueness / novelty convention of molecule generators,
      e.g. MOSES). Its floor: as many sentences drawn afresh from the grammar.

Both take ``temperatures`` (default (1.0,)): each metric is also reported at
every sampling temperature T != 1 as '<metric>_t<T>', G's conditionals
softmax(logits / T): the quality-diversity curve of Caccia et al. (arXiv
1811.02549).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data.discrete import GrammarStrings
from gan_jax.errors import ConfigError
from gan_jax.evaluation.base import REAL_SET_SEED, Evaluator, Results, floats


def temperature_suffix(t: float) -> str:
  """The metric-name suffix of sampling temperature T: '' for 1, else '_t<T>'."""
  return '' if t == 1.0 else f'_t{t:g}'


def _check_temperatures(name: str, temperatures) -> tuple[float, ...]:
  temperatures = tuple(float(t) for t in temperatures)
  if not temperatures or min(temperatures) <= 0:
    raise ConfigError(f'eval.{name}.temperatures={temperatures!r}; must be numbers > 0')
  return temperatures


def distribution_metrics(log_p: np.ndarray, log_q: np.ndarray, whole_space: bool) -> Results:
  """The exact metrics of the module docstring for p, p_G on one table: (S,), (S,) -> dict."""
  log_p, log_q = np.asarray(log_p, np.float64), np.asarray(log_q, np.float64)
  p, q = np.exp(log_p), np.exp(log_q)
  valid = q.sum()
  out = dict(kl=np.sum(p * (log_p - log_q)),
             tv=0.5 * (np.abs(p - q).sum() + max(0.0, 1.0 - valid)), valid_mass=valid)
  if whole_space:
    out['reverse_kl'] = np.sum(q * (log_q - log_p))
  return floats(**out)


class ExactDistribution(Evaluator):
  """Exact KL, TV, reverse KL and valid mass of p_G against p_data; see the module docstring.

  Options: ``temperatures``, ``batch_size`` (sequences scored per call).
  """

  def __init__(self, name, dataset, draw_inputs, seed, *, every, temperatures=(1.0,),
               batch_size=4096):
    if not hasattr(dataset, 'log_probs'):
      raise ConfigError(f"eval.{name}: type 'exact_distribution' needs data with a known "
                        f"distribution (data.name 'bits' or 'grammar'); the data is "
                        f'{dataset.description}')
    if 'z' in draw_inputs(jax.random.PRNGKey(0), 1):
      raise ConfigError(f"eval.{name}: type 'exact_distribution' needs G's exact p(x), but "
                        "this G takes z (p(x) is an integral over z); use "
                        "model.discrete_generator='autoregressive'")
    super().__init__(name, draw_inputs, seed, every=every, num_samples=len(dataset.sequences),
                     batch_size=batch_size)
    self.temperatures = _check_temperatures(name, temperatures)
    self.sequences, self.log_p = dataset.sequences, dataset.log_probs
    self.whole_space = len(self.sequences) == dataset.vocab ** self.sequences.shape[1]
    self.floor = {}
    for t in self.temperatures:
      self.floor.update({k + temperature_suffix(t): v for k, v in distribution_metrics(
          self.log_p, self.log_p, self.whole_space).items()})

  def log_q(self, sample_fn, state, temperature: float) -> np.ndarray:
    """(S,) log p_G of the table's sequences at sampling temperature T, in fixed-size calls."""
    out, n, size = [], len(self.sequences), self.batch_size
    for start in range(0, n, size):
      chunk = self.sequences[start:start + size]
      padded = np.concatenate([chunk, np.repeat(chunk[:1], size - len(chunk), 0)])
      out.append(np.asarray(sample_fn(state, {
          'score': jnp.asarray(padded), 'temperature': jnp.full((size,), temperature)
      }))[:len(chunk)])
    return np.concatenate(out)

  def run(self, sample_fn, state, rng=None) -> Results:
    del rng
    results = {}
    for t in self.temperatures:
      metrics = distribution_metrics(self.log_p, self.log_q(sample_fn, state, t),
                                     self.whole_space)
      results.update({k + temperature_suffix(t): v for k, v in metrics.items()})
    return results


class GrammarSamples(Evaluator):
  """Validity, uniqueness, novelty and grammar NLL of G's sentences; see the module docstring.

  Options: ``num_samples`` (default 2,000), ``temperatures``, ``batch_size``.
  """

  def __init__(self, name, dataset, draw_inputs, seed, *, every, num_samples=2000,
               temperatures=(1.0,), batch_size=1000):
    if not isinstance(dataset, GrammarStrings):
      raise ConfigError(f"eval.{name}: type 'grammar' needs data.name='grammar'; the data "
                        f'is {dataset.description}')
    super().__init__(name, draw_inputs, seed, every=every, num_samples=num_samples,
                     batch_size=batch_size)
    self.temperatures = _check_temperatures(name, temperatures)
    self.language = {tuple(s): lp for s, lp in zip(dataset.sequences.tolist(),
                                                    dataset.log_probs)}
    self.train = {tuple(s) for s in dataset.train.tolist()}
    rng = np.random.default_rng(REAL_SET_SEED)
    real = dataset.sequences[rng.choice(len(dataset.sequences), num_samples,
                                        p=np.exp(dataset.log_probs))]
    base = self.score(real)
    self.floor = {k + temperature_suffix(t): v for t in self.temperatures for k, v in base.items()}

  def score(self, samples) -> Results:
    sentences = [tuple(s) for s in np.asarray(samples).round().astype(int).tolist()]
    valid = [s for s in sentences if s in self.language]
    distinct = set(valid)
    pct = lambda a, b: 100.0 * a / b if b else 0.0
    return floats(
        valid_percent=pct(len(valid), len(sentences)),
        unique_percent=pct(len(distinct), len(valid)),
        novel_percent=pct(len(distinct - self.train), len(distinct)),
        grammar_nll=-np.mean([self.language[s] for s in valid]) if valid else np.nan)

  def run(self, sample_fn, state, rng=None) -> Results:
    results = {}
    for t in self.temperatures:
      def tempered(state, inputs, t=t):
        n = jax.tree.leaves(inputs)[0].shape[0]
        return sample_fn(state, {**inputs, 'temperature': jnp.full((n,), t)})
      results.update({k + temperature_suffix(t): v for k, v in
                      self.score(self.generate(tempered, state, rng)).items()})
    return results
