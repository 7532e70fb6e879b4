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

__all__ = ["ClaimFailed", "expect"]


class ClaimFailed(AssertionError):
    """Raised when an experiment no longer shows what the course says it shows."""


def _key(key: Any) -> str:
    """A readable name for an evidence key: a tuple key (a MultiIndex row) reads ``keras / He``."""
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _value(value: Any) -> str:
    """A number to 4 significant digits (integers as they are), lists of numbers likewise."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not float(value).is_integer():
        return f"{float(value):.4g}"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, numbers.Real) for v in value):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _as_mapping(evidence: Any) -> Mapping | None:
    """pandas evidence as a mapping: a Series by its index, a one-column frame by its rows, a wider
    frame by (row, column); None for anything else. pandas is not imported here: duck-typed."""
    if hasattr(evidence, "to_dict") and hasattr(evidence, "index"):
        if hasattr(evidence, "columns"):  # a DataFrame
            if len(evidence.columns) == 1:
                return evidence.iloc[:, 0].to_dict()
            return {(*(k if isinstance(k, tuple) else (k,)), col): v
                    for col in evidence.columns for k, v in evidence[col].to_dict().items()}
        return evidence.to_dict()
    return None


def _format_evidence(evidence: Any) -> str:
    if evidence is None:
        return ""
    mapping = _as_mapping(evidence)
    if mapping is None and isinstance(evidence, Mapping):
        mapping = evidence
    if mapping is not None:
        return "; ".join(f"{_key(key)} = {_value(value)}" for key, value in mapping.items())
    return str(evidence)


def expect(condition: Any, claim: str, *, evidence: Any = None, quiet: bool = False) -> None:
    """Check ``condition`` and print the verified ``claim``; raise :class:`ClaimFailed` if it is false.

    Args:
        condition: the test, usually a comparison of measured numbers. NumPy
            booleans are accepted; a NaN compares false, so it fails.
        claim: the sentence the notebook's prose asserts, in plain words.
        evidence: the numbers behind it, printed in both cases so the learner
            sees *why*: a mapping, a pandas Series or DataFrame (rounded to 4
            significant digits here, so no ``.round(...).to_dict()`` is needed;
            a MultiIndex key reads ``keras / He``), or a string.
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
    if not quiet:
        print(f"\u2714 {claim}" + (f"  [{detail}]" if detail else ""))
