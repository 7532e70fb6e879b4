"""Checkers for the criticality exercises of notebooks 05 (deep tanh) and 06 (deep ReLU).

Notebook 06: :func:`check_relu_correlation` -- the correlation of two independent inputs after one ReLU layer
(the first step of the ReLU correlation map: 1/pi, not 0).

Notebook 05: :func:`check_deep_tanh_gain` -- choose the gain of Glorot weights for a 100-layer tanh
network so that both the signal and the gradient arrive at a usable size. The verdict comes from the
mean-field prediction (``diagnostics.signal_propagation_theory``; Poole et al. 2016, Schoenholz et
al. 2017), which the notebook checks against measured networks::

    from course_utils.exercises import criticality
    criticality.check_deep_tanh_gain(1.1)
"""

from __future__ import annotations

import math
from typing import Any

from . import checker, fail, ok
from ._common import number

__all__ = ["RELU_CORRELATION_OF_ORTHOGONAL", "check_relu_correlation", "TANH_DEPTH", "TANH_WIDTH", "GRADIENT_BAND", "SIGNAL_FLOOR", "deep_tanh_ratios", "check_deep_tanh_gain"]

#: The network of notebook 05's exercise: 100 square tanh layers of 256 units, zero biases.
TANH_DEPTH, TANH_WIDTH = 100, 256
#: Accepted: the gradient reaching the input is within this factor of the one at the top ...
GRADIENT_BAND = 3.0
#: ... and the last layer's activation std is at least this fraction of the first layer's.
SIGNAL_FLOOR = 0.3


def deep_tanh_ratios(gain: float, depth: int = TANH_DEPTH, width: int = TANH_WIDTH) -> tuple[float, float]:
    """(forward, backward) mean-field ratios of a ``depth``-layer tanh net with Glorot weights times ``gain``.

    forward: std of the last layer's activations over the first's; backward: std of the gradient at
    the first layer over the one at the last (> 1 grows towards the input). Inputs have variance 1.
    """
    from .. import diagnostics, initializers

    theory = diagnostics.signal_propagation_theory(initializers.get("glorot_normal_torch", gain=gain), "tanh",
                                                   depth, width)
    return (diagnostics.end_to_end_ratio(theory, "std"),
            diagnostics.end_to_end_ratio(theory, "grad_std", backward=True))


@checker("a gain for a 100-layer tanh network")
def check_deep_tanh_gain(gain: Any) -> tuple[bool, str]:
    """``gain`` (a number, or a function of no arguments returning one): accept a gain whose 100-layer tanh network keeps its signal (last/first std >= 0.3) and its
    gradient (first layer within 3x of the last), by the mean-field prediction.

    Mistakes named: PyTorch's ``calculate_gain("tanh")`` = 5/3 (chaotic: gradients grow about 10^4x),
    ReLU's sqrt(2), exactly 1 (the boundary for zero biases, where the signal still fades
    polynomially), anything below 1 (ordered: exponential decay), too far above 1 (chaotic).
    """
    if callable(gain):  # a function returning the gain: a stub's NotImplementedError reads as "not done"
        gain = gain()
    g = number(gain, "your gain")
    if isinstance(g, str):
        return fail(g)
    if g <= 0:
        return fail(f"your gain is {g:g}; a gain multiplies the weights' std and must be positive (try values near 1).")
    forward, backward = deep_tanh_ratios(g)
    facts = (f"with gain {g:.4g} ({TANH_DEPTH} tanh layers of {TANH_WIDTH}) the last layer's std is {forward:.3g} of "
             f"the first's and the gradient at the first layer is {backward:.3g}x the one at the last")
    if forward >= SIGNAL_FLOOR and 1 / GRADIENT_BAND <= backward <= GRADIENT_BAND:
        return ok(f"{facts}: both usable. A gain just above 1 puts the network near the order-to-chaos boundary "
                  f"(chi_1 close to 1) with a non-zero fixed point for the signal.")
    advice = [
        (abs(g - 5 / 3) < 0.01, "5/3 is PyTorch's calculate_gain('tanh'), tuned for moderate depth: it makes the "
                                "network chaotic (chi_1 = 1.21 > 1), so gradients grow geometrically towards the input."),
        (abs(g - math.sqrt(2)) < 0.01, "sqrt(2) is ReLU's gain (He), which makes up for ReLU dropping half of its "
                                       "input; tanh drops nothing, and with this gain it is chaotic (chi_1 > 1)."),
        (abs(g - 1) < 0.005, "gain 1 is exactly the order-to-chaos boundary for zero biases, but there the signal's "
                             "fixed point is 0: the signal and the gradient fade polynomially (like 1/sqrt(depth)). "
                             "Go a little above 1."),
        (g < 1, "below 1 the network is in the ordered phase (chi_1 < 1): signal and gradient shrink geometrically."),
        (backward > GRADIENT_BAND, "too far above 1: the network is chaotic (chi_1 > 1) and the gradient grows "
                                   "geometrically with depth. Come closer to 1."),
        (True, "just above 1 is right, but this is still too close to 1: the fixed point of the signal is tiny, so "
               "it fades. Go a little higher."),
    ]
    return fail(f"{facts}. " + next(text for hit, text in advice if hit))


#: Correlation of the next layer's pre-activations for two uncorrelated inputs of a ReLU layer (Cho & Saul 2009):
#: E[relu(u) relu(v)] / E[relu(u)^2] = (1 / (2 pi)) / (1 / 2) for independent standard normals u, v.
RELU_CORRELATION_OF_ORTHOGONAL = 1 / math.pi


@checker("the correlation after one ReLU layer")
def check_relu_correlation(answer: Any) -> tuple[bool, str]:
    """``answer`` (a number, or a function of no arguments returning one) should be 1/pi = 0.3183.

    Two inputs whose pre-activations u, v are independent N(0, 1): the next layer's pre-activations have
    correlation E[relu(u) relu(v)] / E[relu(u)^2] = E[relu(u)]^2 / (1/2) = (1/(2 pi)) / (1/2). Mistakes named:
    0 (independence survives), 1/(2 pi) (not normalised), 1/2 (half the units active), 2/pi, 1/sqrt(2 pi).
    """
    if callable(answer):
        answer = answer()
    c = number(answer, "your correlation")
    if isinstance(c, str):
        return fail(c)
    expected = RELU_CORRELATION_OF_ORTHOGONAL
    if abs(c - expected) < 1e-3:
        return ok(f"1/pi = {expected:.4f}: ReLU outputs are all >= 0, so even unrelated inputs share a positive mean; "
                  "layer after layer the correlation map pushes every pair towards 1.")
    advice = [
        (abs(c) < 1e-3, "independent pre-activations do not give uncorrelated ReLU outputs: relu(u) and relu(v) are "
                        "both >= 0 with mean 1/sqrt(2 pi), and the next layer's pre-activations inherit that shared mean."),
        (abs(c - 1 / (2 * math.pi)) < 1e-3, "1/(2 pi) is E[relu(u) relu(v)]; a correlation divides by the second "
                                             "moment, E[relu(u)^2] = 1/2."),
        (abs(c - 0.5) < 1e-3, "half of the units are active for each input, but that is not their correlation: compute "
                              "E[relu(u) relu(v)] / E[relu(u)^2]."),
        (abs(c - 2 / math.pi) < 1e-3, "2/pi is E[|u|]^2: the negative half is set to 0, not folded over."),
        (abs(c - 1 / math.sqrt(2 * math.pi)) < 1e-3, "1/sqrt(2 pi) is E[relu(u)], the mean of one output; the "
                                                      "correlation needs its square over E[relu(u)^2]."),
        (c < 0 or c > 1, "a correlation of non-negative outputs lies between 0 and 1."),
    ]
    hint = next((text for hit, text in advice if hit), "use E[relu(u)] = 1/sqrt(2 pi) and E[relu(u)^2] = 1/2.")
    return fail(f"your correlation is {c:.4g}; expected {expected:.4f}. {hint}")
