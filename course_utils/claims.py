"""``expect``: every claim the course makes, checked where it is made.

A notebook's prose says "He keeps the signal alive through 30 ReLU layers";
the cell below the experiment says::

    expect(ratio_he > 0.5, "He keeps the signal alive through 30 ReLU layers",
           evidence={"std ratio, last/first layer": ratio_he})

When the experiment shows it, the learner sees a green check with the
evidence; the day it stops showing it, the cell raises :class:`ClaimFailed`,
so nbval fails and the course cannot silently teach something untrue.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["ClaimFailed", "expect", "verified_claims", "reset_claims"]

_verified: list[str] = []


class ClaimFailed(AssertionError):
    """Raised when an experiment no longer shows what the course says it shows."""


def _format_evidence(evidence: Any) -> str:
    if evidence is None:
        return ""
    if isinstance(evidence, Mapping):
        parts = []
        for key, value in evidence.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and not float(value).is_integer():
                value = f"{float(value):.4g}"
            parts.append(f"{key} = {value}")
        return "; ".join(parts)
    return str(evidence)


def expect(condition: Any, claim: str, *, evidence: Any = None, quiet: bool = False) -> None:
    """Check ``condition`` and print the verified ``claim``; raise :class:`ClaimFailed` if it is false.

    Args:
        condition: the test, usually a comparison of measured numbers. NumPy
            booleans are accepted; a NaN compares false, so it fails.
        claim: the sentence the notebook's prose asserts, in plain words.
        evidence: the numbers behind it (a mapping or a string), printed in
            both cases so the learner sees *why*.
        quiet: suppress the printed line (for claims checked in loops).
    """
    if not isinstance(claim, str) or not claim.strip():
        raise TypeError("claim must be a non-empty sentence saying what the experiment shows.")
    detail = _format_evidence(evidence)
    try:
        holds = bool(condition)
    except Exception as err:  # e.g. an array with several elements
        raise TypeError(
            f"expect() needs a single true/false condition for the claim {claim!r}; got "
            f"{type(condition).__name__}. Use (array).all() or (array).any()."
        ) from err
    if isinstance(condition, float) and math.isnan(condition):
        holds = False
    if not holds:
        raise ClaimFailed(f"The experiment no longer shows: {claim}" + (f" (measured: {detail})" if detail else ""))
    _verified.append(claim)
    if not quiet:
        print(f"\u2714 {claim}" + (f"  [{detail}]" if detail else ""))


def verified_claims() -> list[str]:
    """The claims verified so far in this kernel, in order."""
    return list(_verified)


def reset_claims() -> None:
    """Forget the verified claims (for tests)."""
    _verified.clear()
