"""Evaluators: metrics of a generator, run during training or on a finished run.

An evaluator is chosen by name from ``config.eval``, one entry each (the
big_vision pattern: new metrics never touch the trainer)::

    config.eval = ml_collections.ConfigDict()
    config.eval.features = dict(type='image_features', every=500)
    config.eval.modes = dict(type='mixture_modes', every=1000, num_samples=2500)

``type`` picks the class in ``EVALUATORS``; ``every`` is the period in steps
(0 = only at the end of training, -1 = never: the entry is off); any other field is a keyword option of that
class. ``create_evaluators`` builds them all, each with a fixed real reference
set drawn from the training data and with the *real-vs-real floor*: the same
metrics computed for a second, disjoint real set of the same size, i.e. the
best a perfect generator could score with that many samples.

Each evaluator gets the task's ``draw_inputs(rng, n)`` (what its sampler
needs: z, labels, a source image) and owns its real reference data. Its
``run(sample_fn, state, rng=None)`` draws ``num_samples`` samples
``sample_fn(state, inputs)`` from inputs of a fixed key (the same inputs at
every step, so that successive evaluations differ only by the generator), and
returns ``{metric: float}``; ``run_due`` runs those due at a step and prefixes
each metric with the evaluator's name: ``{'features/fid': 12.3, ...}``.

Around them: ``BestTracker`` remembers the best value of one metric in a JSON
file in the workdir (so that a resumed run keeps it), ``best_checkpointer``
saves the state whenever it improves, and ``append_jsonl`` appends each
result to ``<workdir>/eval.jsonl``.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import os

import jax
import ml_collections
import numpy as np
from absl import logging

from gan_jax import jsonl, validation
from gan_jax.checkpoint import Checkpointer
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import conditional_metrics as cm
from gan_jax.evaluation import discrete_metrics as dm
from gan_jax.evaluation import feature_metrics as fm
from gan_jax.evaluation import mode_metrics as mm
from gan_jax.evaluation import translation_metrics as tm
from gan_jax.evaluation.base import (REAL_SET_SEED, DrawInputs, Evaluator, Results, SampleFn,
                                     as_images, check_shape, fixed_real_split, floats,
                                     shipped_classifier)
from gan_jax.seeds import mean_and_stderr, unstack_seeds

BEST_FILE = 'best.json'
BEST_DIR = 'best'  # best_checkpointer writes <workdir>/best/checkpoints/<step>
EVAL_LOG = jsonl.EVAL_LOG


class ImageFeatures(Evaluator):
  """FID, KID, precision/recall, density/coverage, IS and label histogram of digits.

  Everything is measured with the shipped digit classifier
  (``classifier.DigitCNN``, 98.5% held-out accuracy): its 128-d penultimate
  features for the sample-quality metrics against a fixed real reference set
  R of N images, and its predicted labels for the rest. With F the N
  generated images and phi the features:

    fid         Frechet distance of Gaussians fitted to phi(F) and phi(R)
    kid         unbiased MMD^2, cubic kernel, mean over ``kid_subsets``
                subsets of min(1000, N) (kid_std: their std)
    precision   share of phi(F) inside the k=3 NN balls of phi(R); recall
                the reverse (Kynkaanniemi et al. 2019)
    density, coverage  k=5 real NN balls (Naeem et al. 2020)
    inception_score  exp E_x KL(p(y|x) || p(y)) of the classifier's softmax
                (an IS analogue: in [1, 10])
    classes_seen  digits predicted for at least one sample (of 10)
    label_kl    KL(p_labels || uniform over 10), nats

  The floor is the same for a second real set of N images disjoint from R.

  Options: ``num_samples`` N (default 2,500; 2 N real images are needed),
  ``kid_subsets``, ``batch_size`` (samples per generator call).
  """

  def __init__(self, name, dataset, draw_inputs, seed, *, every, num_samples=2500,
               kid_subsets=100, batch_size=500):
    super().__init__(name, draw_inputs, seed, every=every, num_samples=num_samples,
                     batch_size=batch_size)
    check_shape(name, 'image_features', dataset.sample_shape, classifier_lib.IMAGE_SHAPE,
                 "The digit classifier reads 28x28x1 digits; for 28x28x3 Stacked "
                 "MNIST use type 'stacked_mnist'.")
    self.kid_subsets = kid_subsets
    self.classifier = shipped_classifier()
    reference, other = fixed_real_split(dataset.images, num_samples, name)
    self.ref_features = self._features(reference)
    self.ref_moments = fm.gaussian_moments(self.ref_features)
    self.floor = self.score(other)

  def _features(self, images):
    return classifier_lib.apply_in_batches(self.classifier.features,
                                           self.classifier.params, images)

  def score(self, samples):
    c = self.classifier
    feats = self._features(samples)
    probs = jax.nn.softmax(classifier_lib.apply_in_batches(c.logits, c.params, samples))
    kid = fm.kid(feats, self.ref_features, num_subsets=self.kid_subsets,
                 subset_size=min(1000, len(feats)))
    pr = fm.precision_recall(self.ref_features, feats)
    dc = fm.density_coverage(self.ref_features, feats)
    labels = mm.label_histogram_stats(np.argmax(probs, axis=1), classifier_lib.NUM_CLASSES)
    return floats(
        fid=fm.frechet_distance_from_moments(*fm.gaussian_moments(feats), *self.ref_moments),
        kid=kid.mean, kid_std=kid.std, precision=pr.precision, recall=pr.recall,
        density=dc.density, coverage=dc.coverage,
        inception_score=mm.inception_score(probs),
        classes_seen=labels.num_seen, label_kl=labels.kl_to_uniform)


class MixtureModes(Evaluator):
  """PacGAN's 2-D protocol (Lin et al. 2018, Sec. 4.1) on ``num_samples`` points.

  Each sample goes to its nearest mode and is high quality within 3 std of it
  (``mode_metrics.mode_coverage``):

    modes       modes holding at least ``min_hq_per_mode`` high-quality samples
    hq_percent  100 x share of high-quality samples
    reverse_kl  KL(histogram of high-quality samples || the true mode weights)

  The floor scores ``num_samples`` fresh true mixture samples (a fixed draw).
  Needs a dataset with a ``mixture`` (``data.name`` 'ring' or 'grid').
  Options: ``num_samples`` (default 2,500, PacGAN's), ``batch_size``,
  ``min_hq_per_mode`` (default 1, PacGAN's; RLS-GAN's unbalanced protocol
  counts a mode with 50 of 10,000).
  """

  def __init__(self, name, dataset, draw_inputs, seed, *, every, num_samples=2500,
               batch_size=2500, min_hq_per_mode=1):
    super().__init__(name, draw_inputs, seed, every=every, num_samples=num_samples,
                     batch_size=batch_size)
    if not hasattr(dataset, 'mixture'):
      raise ConfigError(f"eval.{name}: type 'mixture_modes' needs a 2-D mixture "
                        f"('ring' or 'grid'); the data is {dataset.description}")
    validation.positive(f'eval.{name}.min_hq_per_mode', min_hq_per_mode, numbers.Integral)
    self.mixture, self.min_hq_per_mode = dataset.mixture, min_hq_per_mode
    # Fresh draws, not rows of a fixed training set (data.num_points).
    real, _ = self.mixture.sample(np.random.default_rng([REAL_SET_SEED, 0]), num_samples)
    self.floor = self.score(real)

  def score(self, samples):
    weights = None if self.mixture.weights is None else self.mixture.probabilities
    m = mm.mode_coverage(samples, self.mixture.means, self.mixture.std, weights,
                         self.min_hq_per_mode)
    return floats(modes=m.modes_captured, hq_percent=m.high_quality_percent,
                   reverse_kl=m.reverse_kl)


class StackedMNISTModes(Evaluator):
  """Modes of Stacked MNIST (28x28x3): the digit triple of each image.

  The shipped classifier reads each channel's digit; triple (a, b, c) is mode
  100 a + 10 b + c of 1,000 (``mode_metrics.stacked_mnist_modes``):

    modes  triples predicted for at least one sample (of 1,000)
    kl     KL(histogram of triples || uniform over 1,000), nats

  All samples count (no quality threshold), as in PacGAN and VEEGAN. The
  floor scores ``num_samples`` real stacked images (a fixed draw; all of them
  if the data holds fewer): the classifier's own errors (~1.5% per digit)
  are in it. Options: ``num_samples`` (default 26,000, PacGAN's), ``batch_size``.
  """

  def __init__(self, name, dataset, draw_inputs, seed, *, every, num_samples=26_000,
               batch_size=1000):
    super().__init__(name, draw_inputs, seed, every=every, num_samples=num_samples,
                     batch_size=batch_size)
    check_shape(name, 'stacked_mnist', dataset.sample_shape, (28, 28, 3),
                 "Use the Stacked MNIST data (data.name='stacked_mnist').")
    self.classifier = shipped_classifier()
    perm = np.random.default_rng(REAL_SET_SEED).permutation(len(dataset.images))
    self.floor = self.score(as_images(dataset.images[perm[:num_samples]]))

  def score(self, samples):
    triples = classifier_lib.predict_stacked_digits(self.classifier, samples)
    result = mm.stacked_mnist_modes(triples)
    return floats(modes=result.num_seen, kl=result.kl_to_uniform)


EVALUATORS: dict[str, type[Evaluator]] = {
    'image_features': ImageFeatures,
    'mixture_modes': MixtureModes,
    'stacked_mnist': StackedMNISTModes,
    'class_conditional': cm.ClassConditional,
    'cas': cm.ClassificationAccuracyScore,
    'exact_distribution': dm.ExactDistribution,
    'grammar': dm.GrammarSamples,
    'translation': tm.Translation,
}


def _options(cls: type[Evaluator]) -> list[str]:
  params = inspect.signature(cls.__init__).parameters.values()
  return [p.name for p in params if p.kind == p.KEYWORD_ONLY]


def create_evaluator(name: str, entry, dataset, draw_inputs: DrawInputs,
                     seed: int) -> Evaluator:
  """Builds one evaluator from its ``config.eval`` entry (type, every, options)."""
  entry = dict(entry)
  kind = entry.pop('type', None)
  if kind not in EVALUATORS:
    raise ConfigError(f'eval.{name}.type={kind!r} is not a known evaluator; '
                      f'allowed: {sorted(EVALUATORS)}')
  cls = EVALUATORS[kind]
  unknown = sorted(set(entry) - set(_options(cls)))
  if unknown or 'every' not in entry:
    raise ConfigError(f'eval.{name} ({kind}): '
                      + (f'unknown options {unknown}; ' if unknown else "'every' is missing; ")
                      + f'allowed: {_options(cls)}')
  every = entry['every']
  if isinstance(every, bool) or not isinstance(every, int) or every < -1:
    raise ConfigError(f'eval.{name}.every={every!r}; must be an integer >= -1 '
                      '(0 = only at the end, -1 = off)')
  return cls(name, dataset, draw_inputs, seed, **entry)


def create_evaluators(eval_config, dataset, draw_inputs: DrawInputs,
                      seed: int) -> list[Evaluator]:
  """All evaluators of ``config.eval`` ({name: entry}; empty or None gives none).

  Args:
    eval_config: ConfigDict or dict of entries, each with ``type`` (a key of
      ``EVALUATORS``), ``every`` and the type's options.
    dataset: the training data; its real images or mixture are the reference.
    draw_inputs: (rng, n) -> the sampler's inputs (``task.sample_inputs``).
    seed: seeds the evaluators' fixed inputs.

  Raises:
    ConfigError: an unknown type or option, or data the type cannot score.
  """
  evaluators = []
  for name, entry in sorted(dict(eval_config or {}).items()):
    if dict(entry).get('every') == -1:
      continue
    evaluators.append(create_evaluator(name, entry, dataset, draw_inputs, seed))
    logging.info('Evaluator %s: real-vs-real floor %s', name, evaluators[-1].floor)
  return evaluators


def default_eval_config(dataset, every: int = 0) -> ml_collections.ConfigDict:
  """The evaluators that suit ``dataset``: by sample shape, or a mixture.

  (2,) with a mixture: mixture_modes; (28, 28, 1): image_features;
  (28, 28, 3): stacked_mnist (at most as many samples as real images); other
  data: none.
  """
  config = ml_collections.ConfigDict()
  shape = tuple(dataset.sample_shape)
  if hasattr(dataset, 'mixture'):
    config.modes = dict(type='mixture_modes', every=every)
  elif shape == classifier_lib.IMAGE_SHAPE:
    config.features = dict(type='image_features', every=every,
                           num_samples=min(2500, len(dataset) // 2))
  elif shape == (28, 28, 3):
    config.stacked = dict(type='stacked_mnist', every=every,
                          num_samples=min(26_000, len(dataset)))
  return config


def evaluate_seeds(evaluator: Evaluator, sample_fn: SampleFn, state) -> list[Results]:
  """``evaluator.run`` for each seed of a state (one, or stacked by train.num_seeds).

  A state of ``train.num_seeds`` > 1 has a leading seed axis on every leaf
  (and ``state.step`` has shape (N,)); each seed is scored on its own.
  """
  return [evaluator.run(sample_fn, one) for one in unstack_seeds(state)]


def summarise_seeds(per_seed: list[Results]) -> Results:
  """The mean over seeds of each metric; with several seeds also ``<metric>_stderr``."""
  out = {}
  for k in per_seed[0]:
    mean, stderr = mean_and_stderr([r[k] for r in per_seed])
    out[k] = mean
    if len(per_seed) > 1:
      out[f'{k}_stderr'] = stderr
  return out


def run_due(evaluators: list[Evaluator], step: int, sample_fn: SampleFn, state,
            final: bool = False) -> Results:
  """Runs the evaluators due at ``step``: {'<name>/<metric>': value}; {} if none.

  With several seeds each metric is the mean over seeds, and
  '<name>/<metric>_stderr' its standard error. Call it on every process (the
  sampler may be a multi-device program); write the results on one.
  """
  results = {}
  for ev in evaluators:
    if ev.due(step, final):
      summary = summarise_seeds(evaluate_seeds(ev, sample_fn, state))
      results.update({f'{ev.name}/{k}': v for k, v in summary.items()})
  return results


# The eval log's writer and reader (gan_jax/jsonl.py), under their old names.
append_jsonl, read_jsonl = jsonl.append, jsonl.read


MODES = ('min', 'max')


class BestTracker:
  """The best value so far of one metric, kept in ``<workdir>/best.json``.

  ``is_best(results, step)`` is True when ``results[metric]`` is finite and
  strictly better (lower for mode 'min', higher for 'max') than every value
  seen before; it then records the new best in the JSON file (written to a
  temporary file and renamed; only if ``persist``, i.e. on one process), so a
  resumed run compares against it.

  Attributes:
    metric: e.g. 'features/fid'.
    mode: 'min' or 'max'.
    value, step: the best so far (None before the first).
  """

  def __init__(self, workdir: str, metric: str, mode: str = 'min', persist: bool = True):
    if mode not in MODES:
      raise ConfigError(f'log.best_mode={mode!r}; allowed: {MODES}')
    self.path = os.path.join(workdir, BEST_FILE)
    self.metric, self.mode, self.persist = metric, mode, persist
    self.value, self.step = None, None
    if os.path.exists(self.path):
      with open(self.path) as f:
        saved = json.load(f)
      if (saved.get('metric'), saved.get('mode')) == (metric, mode):
        self.value, self.step = saved['value'], saved['step']
      else:
        logging.warning('%s tracks %s (%s); now tracking %s (%s) from scratch.',
                        self.path, saved.get('metric'), saved.get('mode'), metric, mode)

  def better(self, value: float) -> bool:
    """Whether ``value`` beats the best so far (any finite value beats none)."""
    if value is None or not math.isfinite(value):
      return False
    if self.value is None:
      return True
    return value < self.value if self.mode == 'min' else value > self.value

  def is_best(self, results: Results, step: int) -> bool:
    """True (and recorded) if ``results`` holds a new best value of the metric."""
    value = results.get(self.metric)
    if not self.better(value):
      return False
    self.value, self.step = float(value), int(step)
    if not self.persist:  # another process writes the file
      return True
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump({'metric': self.metric, 'mode': self.mode, 'value': self.value,
                 'step': self.step}, f)
    os.replace(tmp, self.path)
    return True


def best_checkpointer(workdir: str) -> Checkpointer:
  """A ``Checkpointer`` for the best state: ``<workdir>/best/checkpoints/<step>``, one kept."""
  return Checkpointer(os.path.join(workdir, BEST_DIR), max_to_keep=1)
