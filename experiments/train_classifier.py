"""Trains the digit classifier used by the evaluation metrics and writes its weights.

    python experiments/train_classifier.py                      # the shipped weights
    python experiments/train_classifier.py --seed=1 --output=/tmp/cnn.npz

Writes ``<output>`` (the params, see ``classifier.save_params``) and, next to
it, ``<output stem>.json`` with the seed, the training settings and the
accuracy on the 1,000 held-out digits, which ``tests/test_classifier.py``
checks the shipped weights against.
"""

import json
import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np
from absl import app, flags

from gan_jax.evaluation import classifier

FLAGS = flags.FLAGS
flags.DEFINE_integer('seed', 0, 'Initialisation, batch order and augmentation seed.')
flags.DEFINE_integer('num_steps', 500, 'Adam steps of batch_size digits.')
flags.DEFINE_integer('batch_size', 128, 'Digits per step.')
flags.DEFINE_float('learning_rate', 2e-3, 'Peak (cosine-decayed) learning rate.')
flags.DEFINE_string('output', classifier.DEFAULT_WEIGHTS, 'Where to write the .npz.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  result = classifier.train_classifier(
      seed=FLAGS.seed, num_steps=FLAGS.num_steps, batch_size=FLAGS.batch_size,
      learning_rate=FLAGS.learning_rate)
  classifier.save_params(FLAGS.output, result.params)
  split = classifier.digit_split()
  record = dict(
      seed=FLAGS.seed, num_steps=FLAGS.num_steps, batch_size=FLAGS.batch_size,
      learning_rate=FLAGS.learning_rate, split_seed=classifier.SPLIT_SEED,
      num_train=len(split.train_labels), num_test=len(split.test_labels),
      test_accuracy=result.test_accuracy,
      train_seconds=round(result.train_seconds, 1),
      num_params=int(sum(np.size(p) for p in jax.tree.leaves(result.params))),
      weights_bytes=os.path.getsize(FLAGS.output),
      device=str(jax.devices()[0].device_kind), jax_version=jax.__version__)
  json_path = os.path.splitext(FLAGS.output)[0] + '.json'
  with open(json_path, 'w') as f:
    json.dump(record, f, indent=2)
    f.write('\n')
  print(f'test accuracy {result.test_accuracy:.4f} on {record["num_test"]} held-out '
        f'digits after {FLAGS.num_steps} steps ({result.train_seconds:.0f} s); '
        f'wrote {FLAGS.output} and {json_path}')


if __name__ == '__main__':
  app.run(main)
