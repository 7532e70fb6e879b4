"""Argument checks shared by every public function of ``course_utils``.

A learner's typo should end in one sentence that names the argument, what was
received and what is allowed -- never in a deep framework traceback. Every
module validates its public arguments with these helpers so the messages read
the same everywhere.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "check_choice",
    "check_int",
    "check_number",
    "check_shape",
    "suggest",
]


def suggest(value: str, allowed: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest allowed name, or ``""``."""
    close = difflib.get_close_matches(str(value).lower(), [str(a) for a in allowed], n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(argument: str, value: Any, allowed: Sequence[str]) -> str:
    """Return ``value`` lower-cased if it is one of ``allowed``, else raise.

    Raises ``TypeError`` when ``value`` is not a string and ``ValueError`` when
    it is not allowed; both messages list the valid choices.
    """
    if not isinstance(value, str):
        raise TypeError(
            f"{argument} must be a string, one of {list(allowed)}; got {type(value).__name__} {value!r}."
        )
    key = value.strip().lower()
    if key not in allowed:
        raise ValueError(
            f"Unknown {argument} {value!r}. Valid choices: {', '.join(map(repr, allowed))}."
            + suggest(key, allowed)
        )
    return key


def check_number(
    argument: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float if it is a real number within the bounds, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument} must be a number; got {type(value).__name__} {value!r}.")
    value = float(value)
    if value != value:  # NaN compares unequal to itself
        raise ValueError(f"{argument} must be a number, not NaN.")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{argument} must lie in {left}{lo}, {hi}{right}; got {value:g}.")
    return value


def check_int(argument: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer within ``[low, high]``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argument} must be an integer; got {type(value).__name__} {value!r}.")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{argument} must be at least {low}; got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{argument} must be at most {high}; got {value}.")
    return value


def check_shape(argument: str, shape: Any, *, min_dims: int = 1) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of positive ints with at least ``min_dims`` entries, else raise."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape
    ):
        raise TypeError(f"{argument} must be a tuple of integers such as (784, 512); got {shape!r}.")
    shape = tuple(int(s) for s in shape)
    if len(shape) < min_dims:
        what = "a matrix shape (at least 2 dimensions)" if min_dims >= 2 else f"at least {min_dims} dimension(s)"
        raise ValueError(f"{argument} must be {what}; got {shape!r}.")
    if any(s < 1 for s in shape):
        raise ValueError(f"every dimension of {argument} must be at least 1; got {shape!r}.")
    return shape
