"""Token data with a known distribution (``task = 'discrete'``), made offline and deterministically.

Batches are {'tokens': int32 (b, L)} over a vocabulary of ``vocab`` tokens.

  bits     binary strings of length L = ``data.seq_length`` (3..16) from a
           known mixture: prototype k (of 4, with weights 0.4, 0.3, 0.2, 0.1)
           with each bit flipped independently with probability 0.1. Every
           one of the 2^L strings has a positive probability, so p_data is
           an exact table (``log_probs`` over ``sequences``), and batches are
           fresh draws from it (batch t from a generator seeded (seed, t)).
  grammar  sentences of a small, finite, unambiguous probabilistic
           context-free grammar (``GRAMMAR``: 6,240 sentences of 2 to 8 words
           over 17 words), padded with token 0 to L = ``data.seq_length``. The
           training set is ``data.num_train`` sentences drawn once from the
           grammar (a fixed seed, the same for every run), reshuffled each
           epoch; the grammar's exact probability of every sentence is a
           table, so parsing a sample is a lookup.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from gan_jax.data.base import Dataset, EpochShuffled
from gan_jax.errors import ConfigError

DISCRETE_DATASETS = ('bits', 'grammar')
MAX_BITS = 16          # 2^16 strings: the exact tables stay small
BIT_FLIP = 0.1
BIT_WEIGHTS = (0.4, 0.3, 0.2, 0.1)
GRAMMAR_SEED = 12345   # the grammar's training set: one draw for every run
PAD = 0

# nonterminal -> ((right-hand side, probability), ...); a symbol that is not
# a key is a word. Finite (no recursion) and unambiguous: every sentence has
# one derivation (``grammar_language`` checks it).
GRAMMAR = {
    'S': ((('NP', 'VP'), 1.0),),
    'NP': ((('Det', 'N'), 0.5), (('Det', 'Adj', 'N'), 0.3), (('Name',), 0.2)),
    'VP': ((('V', 'NP'), 0.45), (('Vi',), 0.25), (('V', 'NP', 'Adv'), 0.2),
           (('Vi', 'Adv'), 0.1)),
    'Det': ((('the',), 0.6), (('a',), 0.4)),
    'Adj': ((('big',), 0.4), (('small',), 0.35), (('red',), 0.25)),
    'N': ((('cat',), 0.4), (('dog',), 0.35), (('bird',), 0.25)),
    'Name': ((('alice',), 0.5), (('bob',), 0.5)),
    'V': ((('sees',), 0.5), (('chases',), 0.3), (('likes',), 0.2)),
    'Vi': ((('sleeps',), 0.6), (('runs',), 0.4)),
    'Adv': ((('quickly',), 0.6), (('often',), 0.4)),
}


def bit_prototypes(length: int) -> np.ndarray:
  """(4, L) {0, 1}: first half on; second half on; even positions; pairs 1100..."""
  i = np.arange(length)
  return np.stack([i < length / 2, i >= length / 2, i % 2 == 0, (i // 2) % 2 == 0]
                  ).astype(np.int32)


def all_bit_strings(length: int) -> np.ndarray:
  """(2^L, L) int32: every binary string, row k = k's bits, most significant first."""
  k = np.arange(2 ** length)[:, None]
  return ((k >> np.arange(length - 1, -1, -1)) & 1).astype(np.int32)


def bit_log_probs(length: int) -> np.ndarray:
  """(2^L,) log p_data of ``all_bit_strings(length)`` under the prototype mixture."""
  strings = all_bit_strings(length)
  flips = (strings[:, None, :] != bit_prototypes(length)[None]).sum(-1)  # (2^L, 4)
  per = flips * np.log(BIT_FLIP) + (length - flips) * np.log1p(-BIT_FLIP)
  return np.logaddexp.reduce(per + np.log(BIT_WEIGHTS), axis=1)


class BitStrings(Dataset):
  """Fresh draws of L-bit strings from the prototype mixture (module docstring).

  Attributes:
    vocab: 2.
    sequences: (2^L, L) every string; log_probs: (2^L,) their exact log p_data.
  """
  sample_key = 'tokens'
  vocab = 2

  def __init__(self, length: int, seed: int):
    self.length, self.seed = length, seed
    self.sample_shape = (length,)
    self.sequences = all_bit_strings(length)
    self.log_probs = bit_log_probs(length)
    self.description = (f'{length}-bit strings: 4 prototypes (weights {BIT_WEIGHTS}), '
                        f'bits flipped with probability {BIT_FLIP}')

  def reseeded(self, seed):
    return BitStrings(self.length, seed)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    rng = np.random.default_rng([self.seed, step])
    idx = rng.choice(len(self.sequences), size=batch_size, p=np.exp(self.log_probs))
    local = batch_size // num_shards
    return {'tokens': self.sequences[idx[shard * local:(shard + 1) * local]]}


@functools.cache
def grammar_language() -> tuple[tuple[tuple[str, ...], float], ...]:
  """Every sentence of ``GRAMMAR`` with its probability, by expanding all derivations.

  Raises ValueError if a sentence has two derivations (the grammar would be
  ambiguous and a sentence's probability a sum the table does not hold).
  """
  def expand(symbol):
    if symbol not in GRAMMAR:
      return [((symbol,), 1.0)]
    out = []
    for rhs, p in GRAMMAR[symbol]:
      for parts in itertools.product(*(expand(s) for s in rhs)):
        words = tuple(w for ws, _ in parts for w in ws)
        out.append((words, p * float(np.prod([q for _, q in parts]))))
    return out
  language = expand('S')
  if len({words for words, _ in language}) != len(language):
    raise ValueError('GRAMMAR is ambiguous: a sentence has two derivations')
  return tuple(language)


def grammar_words() -> tuple[str, ...]:
  """The vocabulary: '<pad>' (token 0), then the grammar's words in sorted order."""
  words = {w for rules in GRAMMAR.values() for rhs, _ in rules for w in rhs
           if w not in GRAMMAR}
  return ('<pad>',) + tuple(sorted(words))


class GrammarStrings(EpochShuffled):
  """A fixed training set of grammar sentences, padded to L; see the module docstring.

  Attributes:
    vocab: number of tokens (padding included).
    words: token -> word.
    sequences: (S, L) every sentence of the language, padded; log_probs: (S,)
      their exact log p under the grammar.
    train: (num_train, L) the training sentences.
  """
  sample_key = 'tokens'

  def __init__(self, length: int, num_train: int, seed: int):
    self.length, self.num_train, self.seed = length, num_train, seed
    self.words = grammar_words()
    self.vocab = len(self.words)
    index = {w: i for i, w in enumerate(self.words)}
    language = grammar_language()
    longest = max(len(words) for words, _ in language)
    if length < longest:
      raise ConfigError(f'data.seq_length={length} is shorter than the grammar\'s longest '
                        f'sentence ({longest} words); use data.seq_length >= {longest}')
    self.sequences = np.full((len(language), length), PAD, np.int32)
    for row, (words, _) in enumerate(language):
      self.sequences[row, :len(words)] = [index[w] for w in words]
    probs = np.array([p for _, p in language])
    self.log_probs = np.log(probs)
    draw = np.random.default_rng(GRAMMAR_SEED).choice(len(language), num_train, p=probs)
    self.train = self.sequences[draw]
    self.sample_shape = (length,)
    self.description = (f'PCFG sentences: {num_train} drawn from a grammar of '
                        f'{len(language)} sentences over {self.vocab - 1} words, padded to '
                        f'{length} tokens')

  def __len__(self):
    return self.num_train

  def reseeded(self, seed):
    return GrammarStrings(self.length, self.num_train, seed)

  def decode(self, tokens) -> str:
    """Token ids (L,) -> the words, '<pad>' left out."""
    return ' '.join(self.words[t] for t in np.asarray(tokens) if t != PAD)

  def batch(self, step, batch_size, shard=0, num_shards=1):
    return {'tokens': self.train[self.batch_rows(step, batch_size, shard, num_shards)]}


def create_discrete_dataset(cfg, seed: int) -> Dataset:
  """``data.name`` 'bits' (``data.seq_length``) or 'grammar' (and ``data.num_train``)."""
  length = cfg.get('seq_length', 10)
  if isinstance(length, bool) or not isinstance(length, int) or length < 1:
    raise ConfigError(f'data.seq_length={length!r}; must be a positive integer')
  if cfg.name == 'bits':
    if not 3 <= length <= MAX_BITS:
      raise ConfigError(f'data.seq_length={length} for data.name=bits; allowed: 3 to '
                        f'{MAX_BITS} (the exact tables hold all 2^L strings)')
    return BitStrings(length, seed)
  num_train = cfg.get('num_train', 2000)
  if isinstance(num_train, bool) or not isinstance(num_train, int) or num_train < 1:
    raise ConfigError(f'data.num_train={num_train!r}; must be a positive integer')
  return GrammarStrings(length, num_train, seed)
