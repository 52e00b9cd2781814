"""The checks every registry uses to validate its own config fields.

Each raises ``ConfigError`` with one line naming the field, the bad value and
what is allowed.
"""

from __future__ import annotations

import difflib
import numbers

from gan_jax.errors import ConfigError


def choice(field: str, value, allowed) -> None:
  """``value`` must be one of ``allowed`` (a close match is suggested)."""
  if value not in allowed:
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    raise ConfigError(f'{field}={value!r} is not allowed{hint}; allowed: '
                      f'{", ".join(repr(a) for a in sorted(allowed))}')


def positive(field: str, value, kind=numbers.Real) -> None:
  """``value`` must be a number (``kind``: numbers.Integral for integers) above 0."""
  if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
    what = 'a positive integer' if kind is numbers.Integral else 'a positive number'
    raise ConfigError(f'{field}={value!r}; must be {what}')


def at_least_zero(field: str, value, below_one: bool = False) -> None:
  """``value`` must be a number in [0, inf) (or [0, 1) with ``below_one``)."""
  ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
        and 0 <= value and (not below_one or value < 1))
  if not ok:
    raise ConfigError(f'{field}={value!r}; must be a number in '
                      + ('[0, 1)' if below_one else '[0, inf)'))


def unit_interval(field: str, value) -> None:
  """``value`` must be a number in [0, 1)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
    raise ConfigError(f'{field}={value!r}; must be in [0, 1)')
