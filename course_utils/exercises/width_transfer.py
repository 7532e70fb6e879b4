"""Checkers of notebook 15 (width transfer, muP).

* :func:`check_mup_rates` calls the learner's ``mup_rates(lr, base_width, width)`` -- a model
  tuned at hidden width ``base_width`` with Adam at ``lr`` is widened to ``width``; what
  are the input, hidden and output layers' learning rates and the output multiplier
  under muP? -- and names the usual mistake behind a wrong entry;
* :func:`check_extrapolate_lr` calls ``extrapolate_lr(lr_narrow, lr_wide, narrow, wide, target)``:
  the best rate at a width nobody tried, from a power law through two measured best rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import checker, close, fail, ok
from ._common import diagnose, number

__all__ = ["KEYS", "reference_mup_rates", "check_mup_rates", "reference_extrapolate_lr", "check_extrapolate_lr"]

#: What ``mup_rates`` returns: a dict with these keys.
KEYS = ("input", "hidden", "output", "multiplier")


def reference_mup_rates(lr: float, base_width: int, width: int) -> dict[str, float]:
    """muP for Adam (Yang et al. 2021, Table 8; ``mup.MuAdam`` with ``MuReadout``), ``m = width / base_width``:
    input layer ``lr``, hidden layers ``lr / m``, output layer ``lr`` with the output multiplier ``1 / m``."""
    m = width / base_width
    return {"input": lr, "hidden": lr / m, "output": lr, "multiplier": 1 / m}


def _mistakes(key: str, lr: float, m: float) -> list[tuple[float, str]]:
    return {
        "input": [
            (lr / m, "the input layer's fan-in is the data's features (784 pixels), which do not grow with the "
                     "width: its Adam update moves its outputs by the same amount at every width, so its rate stays lr."),
            (lr / math.sqrt(m), "the input layer's fan-in (the pixels) does not grow with the width: its rate stays lr."),
        ],
        "hidden": [
            (lr, "that is the standard parametrization: Adam moves each of a hidden unit's `width` incoming weights by "
                 "about lr, all in the direction that adds up, so its output moves by about lr x width. muP divides the "
                 "hidden rate by m = width / base_width."),
            (lr / math.sqrt(m), "1/sqrt(m) is how the weights' initial std scales (variance 1/fan_in); an Adam update "
                                "adds up coherently over fan_in inputs, so its rate needs 1/m."),
            (lr * m, "inverted: a wider layer needs a smaller rate, lr / m, not lr x m."),
        ],
        "output": [
            (lr / m, "the output multiplier 1/m in the forward pass already shrinks the output weights' effect by m; "
                     "dividing their rate too counts m twice. With the multiplier (as mup's MuReadout), the output "
                     "weights keep lr."),
            (lr / math.sqrt(m), "with the output multiplier 1/m in the forward pass the output weights keep lr."),
        ],
        "multiplier": [
            (1.0, "that is the standard parametrization (no multiplier): the logits would move m times more per step "
                  "in the wider model. muP multiplies the output layer's input by 1/m."),
            (1 / math.sqrt(m), "1/sqrt(m) keeps the logits' initial size; muP's multiplier is 1/m so that an update "
                               "of the output weights, which adds up over width inputs, moves the logits the same at "
                               "every width."),
            (m, "inverted: the multiplier is 1/m = base_width / width, smaller than 1 for a wider model."),
        ],
    }[key]


@checker("muP learning rates and output multiplier")
def check_mup_rates(mup_rates: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``mup_rates(lr, base_width, width) -> {"input": ..., "hidden": ..., "output": ..., "multiplier": ...}``
    against :func:`reference_mup_rates` on a few widenings (and on no widening at all, where muP is SP)."""
    cases = [(1e-3, 128, 2048), (3e-3, 64, 256), (2e-3, 256, 256)]
    for lr, base, width in cases:
        got = mup_rates(lr, base, width)
        where = f"for lr={lr}, base_width={base}, width={width}"
        if not isinstance(got, dict):
            return fail(f"{where} your function returned {type(got).__name__} {got!r:.60}; return a dict with the keys "
                        f"{', '.join(KEYS)}.")
        missing = [k for k in KEYS if k not in got]
        if missing:
            return fail(f"{where} your dict lacks {', '.join(missing)}; it needs the keys {', '.join(KEYS)}.")
        expected = reference_mup_rates(lr, base, width)
        m = width / base
        for key in KEYS:
            value = number(got[key], f"your {key!r} entry")
            if isinstance(value, str):
                return fail(f"{where}: {value}")
            if not close(value, expected[key], rtol=1e-6):
                advice = diagnose(value, expected[key], _mistakes(key, lr, m), rtol=1e-6)
                hint = advice or f"expected {expected[key]:.4g} (m = width / base_width = {m:g})."
                return fail(f"{where} your {key!r} entry is {value:.4g}; {hint}")
    return ok("input lr, hidden lr/m, output lr behind a 1/m multiplier: the rate tuned at base_width holds at every "
              "width, and at width = base_width muP is SP.")


def reference_extrapolate_lr(lr_narrow: float, lr_wide: float, narrow: int, wide: int, target: int) -> float:
    """The power law ``lr*(n) = lr_wide (n / wide)^a`` through both points, ``a = log(lr_wide / lr_narrow) /
    log(wide / narrow)``, evaluated at ``target``: a straight line on the log-log plot of best rate against width."""
    a = math.log(lr_wide / lr_narrow) / math.log(wide / narrow)
    return lr_wide * (target / wide) ** a


@checker("best learning rate at a new width")
def check_extrapolate_lr(extrapolate_lr: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``extrapolate_lr(lr_narrow, lr_wide, narrow, wide, target)`` against :func:`reference_extrapolate_lr`
    on an SP-like shift (a fall of 8x over 16x), an exact ``1/width`` and a muP-like (no shift) case."""
    cases = [(4e-3, 5e-4, 64, 1024, 4096), (1e-2, 1e-2 / 16, 64, 1024, 2048), (3e-3, 3e-3, 64, 1024, 8192)]
    for lr_n, lr_w, n, w, t in cases:
        where = f"for lr_narrow={lr_n:g}, lr_wide={lr_w:g}, narrow={n}, wide={w}, target={t}"
        got = number(extrapolate_lr(lr_n, lr_w, n, w, t), "extrapolate_lr(...)")
        if isinstance(got, str):
            return fail(f"{where}: {got}")
        expected = reference_extrapolate_lr(lr_n, lr_w, n, w, t)
        if close(got, expected, rtol=1e-6):
            continue
        a = math.log(lr_w / lr_n) / math.log(w / n)
        mistakes = [
            (lr_n * n / t, "you assumed the best rate falls exactly as 1/width. Measure the exponent from the two "
                           "points instead: a = log(lr_wide / lr_narrow) / log(wide / narrow)."),
            (lr_w + (lr_w - lr_n) / (w - n) * (t - w), "that is a straight line in the rate itself; a power law is a "
                                                        "straight line in log(rate) against log(width)."),
            (lr_w * (t / w) ** (-a), "the exponent's sign is flipped: the rate keeps moving the way it moved from "
                                     "narrow to wide."),
            (lr_n * (t / n) ** (-a), "the exponent's sign is flipped (and you started from the narrow point)."),
            (a, "you returned the exponent a; evaluate the power law at the target width: lr_wide * (target / wide)**a."),
            (lr_w * (t / w) ** (a * math.log(10)), "mixed logarithms: use the same base (e.g. math.log) in the "
                                                    "exponent's numerator and denominator."),
        ]
        advice = diagnose(got, expected, mistakes, rtol=1e-6)
        return fail(f"{where} you returned {got:.4g}; " + (advice or f"expected {expected:.4g} = lr_wide x "
                                                              f"(target / wide)^a with a = {a:.3f}."))
    return ok("a power law through two best rates. Under SP the exponent is near -1 and the extrapolation is a "
              "guess you must verify; under muP it is near 0, so the narrow model's rate is the answer.")
