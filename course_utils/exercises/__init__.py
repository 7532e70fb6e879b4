"""Exercise checkers with specific, friendly feedback.

Every exercise asks the learner to write a small function (never to set a
hidden global). Its checker calls that function on a few cases, compares with
the course's reference, and prints *why* an answer is off ("your std is 0.05;
for fan_in=784 He gives 0.0505 -- did you use fan_out?"). A checker never
crashes the kernel: a stub that still raises ``NotImplementedError``, or any
exception from the learner's code, becomes a message. The checkers need only
NumPy: no module of this package imports TensorFlow or PyTorch.

Checkers live in topic modules (``course_utils.exercises.variance`` ...), each
written with the :func:`checker` decorator::

    @checker("He standard deviation")
    def check_he_std(my_he_std):
        got = my_he_std(784)
        expected = math.sqrt(2 / 784)
        if not close(got, expected):
            return fail(f"your std is {got:.4g}; He gives {expected:.4g} for fan_in=784.")
        return ok(f"sqrt(2/784) = {expected:.4g}.")

What the topic modules share -- reading a learner's answer as a number or an
array, mistake tables (rows of ``(test, advice)`` for the known wrong answers,
the first row that fits gives the advice), the loop over a checker's cases,
and the check that a random draw uses the generator it is given -- lives once,
in ``course_utils.exercises._common``.

With ``COURSE_CHECK_STRICT=1`` (set by ``make test`` for the solution
edition) a failed check raises, so a solution that stops passing its checker
fails the notebook's test.
"""

from __future__ import annotations

import functools
import math
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._validation import check_number

__all__ = ["Feedback", "ExerciseFailed", "checker", "ok", "fail", "close", "STUB_MARKER", "NOT_DONE", "MARKS"]

# The word every student stub's message starts with: ``NotImplementedError("exercise 2: see the hint above")``.
STUB_MARKER = "exercise"
# What a checker says to a stub: the hint is not repeated (it is in the notebook, once, above the stub).
NOT_DONE = "not done yet: replace the `raise NotImplementedError(...)` line above with your answer, then run both cells."


# Marks in plain text-font characters (Dingbats and Geometric Shapes, in DejaVu and every monospace font
# JupyterLab uses), never emoji: U+2705 shows as an empty box where no emoji font is installed.
MARKS = {"passed": "\u2714", "failed": "\u2718", "not done": "\u25cb", "error": "\u26a0"}


class ExerciseFailed(AssertionError):
    """Raised only in strict mode (tests of the solution edition) when a check fails."""


@dataclass(frozen=True)
class Feedback:
    """The outcome of a check: whether it passed and what to tell the learner."""

    exercise: str
    passed: bool
    message: str
    status: str = ""  # "passed" | "failed" | "not done" | "error"

    def __str__(self) -> str:
        mark = MARKS.get(self.status, MARKS["failed"])
        return f"{mark} {self.exercise}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Nothing: the checker already printed the feedback; Jupyter need not repeat it as the cell's value."""


def ok(message: str = "correct.") -> tuple[bool, str]:
    """A passing result for a checker to return."""
    if not isinstance(message, str):
        raise TypeError(f"message must be a sentence; got {type(message).__name__} {message!r}.")
    return True, message


def fail(message: str) -> tuple[bool, str]:
    """A failing result with specific advice for a checker to return."""
    if not isinstance(message, str) or not message.strip():
        raise TypeError(f"message must be a non-empty sentence of advice; got {type(message).__name__} {message!r}.")
    return False, message


def close(got: Any, expected: float, *, rtol: float = 1e-3, atol: float = 1e-12) -> bool:
    """True when ``got`` is a finite number within ``rtol`` (relative) or ``atol`` of ``expected``."""
    check_number("rtol", rtol, low=0.0)
    check_number("atol", atol, low=0.0)
    try:
        value = float(got)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and abs(value - expected) <= max(atol, rtol * abs(expected))


def _strict() -> bool:
    return os.environ.get("COURSE_CHECK_STRICT", "") not in ("", "0", "false", "False")


def checker(exercise: str) -> Callable[[Callable[..., tuple[bool, str]]], Callable[..., Feedback]]:
    """Turn a function returning ``ok(...)``/``fail(...)`` into a safe, printing checker."""
    if not isinstance(exercise, str) or not exercise.strip():
        raise TypeError(f"exercise must be the exercise's name, e.g. @checker('He standard deviation'); got {exercise!r}.")

    def decorate(check: Callable[..., tuple[bool, str]]) -> Callable[..., Feedback]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Feedback:
            try:
                passed, message = check(*args, **kwargs)
                status = "passed" if passed else "failed"
            except NotImplementedError:
                passed, status = False, "not done"
                message = NOT_DONE
            except Exception as err:  # noqa: BLE001 - the learner's code may raise anything; never crash the kernel
                passed, status = False, "error"
                where = traceback.extract_tb(err.__traceback__)[-1]
                message = (
                    f"your code raised {type(err).__name__}: {err} (line {where.lineno}). "
                    "Fix it and run the cell again."
                )
            feedback = Feedback(exercise, passed, message, status)
            print(feedback)
            if _strict() and not passed:
                raise ExerciseFailed(str(feedback))
            return feedback

        return run

    return decorate


def __getattr__(name: str) -> Any:
    # `from course_utils import exercises; exercises.signal.check_...` works without importing each topic.
    import importlib

    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError:
        raise AttributeError(f"course_utils.exercises has no topic or attribute {name!r}") from None
