"""What every checker module shares: reading a learner's answer, naming a known mistake, checking a draw's generator.

* :func:`number` / :func:`array` / :func:`shaped_array` turn what the learner returned
  into a float or an array, or into the sentence that says why it is not one;
* :func:`diagnose` and :func:`first_match` walk a *mistake table*: rows of
  (test, advice) for the known wrong answers, the first row that fits gives the advice;
* :func:`generator_advice` checks that a function drawing random weights draws them
  from the generator it is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import close

__all__ = ["RESULT", "number", "pair", "array", "shaped_array", "first_miss", "check_cases", "diagnose", "first_match",
           "generator_advice"]

#: How a message names the learner's answer when the checker has no better name for it.
RESULT = "your function's result"

# A row of a mistake table: a test (a bool, or a function of no arguments called only when the rows
# above it did not fit, so that a costly or guarded test runs only when needed) and the advice it gives.
Mistake = tuple[bool | Callable[[], bool], str]


def number(value: Any, what: str = RESULT, *, finite: bool = True) -> float | str:
    """``value`` as a float, or the sentence saying why it is not one (finite) number."""
    if value is None:
        return f"{what} should be a number; got None: did you forget the `return`?"
    if isinstance(value, bool):
        return f"{what} should be a number; got the bool {value}."
    values = array(value)
    if values is None or np.asarray(value).dtype.kind not in "biuf":
        return f"{what} should be a number; got {type(value).__name__} {value!r:.60}."
    if values.size != 1:
        return f"{what} should be one number; got an array of shape {values.shape}."
    result = float(values.reshape(()))
    if finite and not math.isfinite(result):
        return f"{what} is {result}; expected a finite number."
    return result


def pair(value: Any, first: str, second: str, *, noun: str = "") -> tuple[float, float] | str:
    """``value`` as two finite numbers, the ``first`` and the ``second`` (``noun``: what each is, for messages),
    or the sentence saying why it is not."""
    try:
        a, b = value
    except (TypeError, ValueError):
        return f"return two numbers, ({first}, {second}); got {value!r:.80}."
    a, b = number(a, f"the {first}{noun}"), number(b, f"the {second}{noun}")
    return next((x for x in (a, b) if isinstance(x, str)), (a, b))


def array(value: Any) -> np.ndarray | None:
    """``value`` as a float64 array, or None when it is None, text, or not numbers at all."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def shaped_array(value: Any, shape: tuple[int, ...], what: str = "your function") -> np.ndarray | str:
    """``value`` as a finite float64 array of ``shape``, or the sentence saying what is wrong with it."""
    if value is None:
        return f"{what} returned None: did you forget the `return`?"
    if type(value).__module__.split(".")[0] in ("torch", "tensorflow", "keras"):
        return (f"{what} returned a {type(value).__module__.split('.')[0]} tensor; this exercise is plain NumPy "
                "(np.ndarray): draw with the `rng` argument, e.g. rng.normal(...).")
    values = array(value)
    if values is None:
        return f"{what} returned {type(value).__name__}, not an array of numbers."
    if values.shape != shape:
        if values.shape == shape[::-1] and len(shape) == 2:
            return (f"{what} returned shape {values.shape}; expected {shape}, the shape it was asked for "
                    "(rows and columns swapped?).")
        return f"{what} returned shape {values.shape}; expected {shape}, the `shape` argument."
    if not np.isfinite(values).all():
        return f"{what} returned NaN or infinite values."
    return values


def first_miss(answer: Callable[..., Any], reference: Callable[..., float], cases: Iterable[tuple[Any, ...]], *,
               rtol: float = 1e-3) -> tuple[tuple[Any, ...], float | str, float] | None:
    """The first case on which ``answer(*case)`` is not ``reference(*case)``: ``(case, got, expected)``.

    ``got`` is the sentence from :func:`number` when the answer is not one finite number. None when
    every case agrees within ``rtol``.
    """
    for case in cases:
        expected = reference(*case)
        got = number(answer(*case))
        if isinstance(got, str) or not close(got, expected, rtol=rtol):
            return case, got, expected
    return None


def check_cases(answer: Callable[..., Any], reference: Callable[..., float], cases: Iterable[tuple[Any, ...]],
                advise: Callable[..., str], *, rtol: float = 1e-3) -> str | None:
    """None when ``answer`` agrees with ``reference`` on every case; else what to tell the learner.

    That is :func:`number`'s sentence when an answer is not one number, or
    ``advise(*case, got, expected)`` for the first case it gets wrong.
    """
    miss = first_miss(answer, reference, cases, rtol=rtol)
    if miss is None:
        return None
    case, got, expected = miss
    return got if isinstance(got, str) else advise(*case, got, expected)


def diagnose(got: float, expected: float, mistakes: Sequence[tuple[float, str]], *, rtol: float = 1e-3) -> str | None:
    """The advice of the first known mistake whose value ``got`` matches (and the right answer does not)."""
    for value, advice in mistakes:
        if math.isfinite(value) and close(got, value, rtol=rtol) and not close(value, expected, rtol=rtol):
            return advice
    return None


def first_match(mistakes: Iterable[Mistake]) -> str | None:
    """The advice of the first row whose test holds (a callable test is called only when it is reached)."""
    for test, advice in mistakes:
        if test() if callable(test) else test:
            return advice
    return None


def generator_advice(draw: Callable[..., Any], *args: Any, seeds: tuple[int, int] = (7, 8),
                     what: str = "weights") -> str | None:
    """Advice when ``draw(*args, rng)`` does not draw from its ``rng`` argument, else None.

    Two generators seeded alike must give the same result (else the code draws from
    ``np.random.*``, the global generator), and two seeded differently must give different
    results (else the code makes a generator of its own, e.g. ``np.random.default_rng(0)``).
    """
    first, again, other = (array(draw(*args, np.random.default_rng(seed))) for seed in (seeds[0], *seeds))
    if first is None or again is None or first.shape != again.shape or not np.array_equal(first, again):
        return (f"two calls with generators seeded alike gave different {what}: draw every random number from the "
                "`rng` argument (rng.normal, rng.uniform, rng.choice), not np.random.*, so a seed makes the draw "
                "repeatable.")
    if other is not None and other.shape == first.shape and np.array_equal(other, first):
        return (f"two different generators (seeds {seeds[0]} and {seeds[1]}) gave the same {what}: draw from the "
                "rng you are given, not from a generator of your own, so each call is a fresh random draw.")
    return None
