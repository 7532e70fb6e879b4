"""Checkers for the criticality exercises: notebooks 02 (variance and signal propagation), 05 (deep tanh),
06 (deep ReLU), 07 (SELU) and 08 (orthogonal).

Each asks for a number the learner finds with :mod:`course_utils.meanfield`, :mod:`scipy.optimize` or the
mean-field prediction, and names the usual wrong answer. A checker takes the number, or a function that
returns it (called with the exercise's bias variance ``sigma_b2`` where it has one)::

    from course_utils.exercises import criticality
    criticality.check_critical_sigma_w2(my_sigma_w2)

* :func:`check_critical_sigma_w2` (02): the weight variance that puts a tanh network with bias variance 0.1
  on the edge of chaos (``chi_1 = 1`` at ``q*``);
* :func:`check_deep_tanh_gain` (05): the gain of Glorot weights for a 100-layer tanh network so that both
  the signal and the gradient arrive at a usable size (Poole et al. 2016, Schoenholz et al. 2017);
* :func:`check_relu_correlation` (06): the correlation of two independent inputs after one ReLU layer (the
  first step of the ReLU correlation map: 1/pi, not 0);
* :func:`check_selu_constants` (07): SELU's ``alpha`` and ``lambda`` derived from the fixed point (mean 0,
  variance 1);
* :func:`check_orthogonal_critical_gain` (08): the gain of orthogonal weights that makes a deep tanh network
  with bias variance 0.05 critical (Pennington et al. 2017), not PyTorch's 5/3.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, special

from .. import meanfield
from ..activations import SELU_ALPHA, SELU_SCALE
from . import checker, close, fail, ok
from ._common import diagnose, number, pair

__all__ = ["CRITICAL_SIGMA_B2", "ORTHOGONAL_SIGMA_B2", "check_critical_sigma_w2", "check_selu_constants",
           "check_orthogonal_critical_gain", "selu_moments", "RELU_CORRELATION_OF_ORTHOGONAL",
           "check_relu_correlation", "TANH_DEPTH", "TANH_WIDTH", "GRADIENT_BAND", "SIGNAL_FLOOR", "deep_tanh_ratios",
           "check_deep_tanh_gain"]

#: the bias variance of notebook 02's exercise
CRITICAL_SIGMA_B2 = 0.1
#: the bias variance of notebook 08's exercise (a small bias, as on Pennington et al. 2017's critical line)
ORTHOGONAL_SIGMA_B2 = 0.05

_TANH_GAIN = 5.0 / 3.0  # PyTorch's calculate_gain("tanh")


def _answer(value: Any, what: str, *args: Any) -> float | str:
    """The learner's number: ``value``, or what ``value(*args)`` returns when it is a function (a stub's
    ``NotImplementedError`` passes through, so the checker reads it as "not done"); a string says why it is not one."""
    return number(value(*args) if callable(value) else value, what)


def _chi_at_unit_variance_root() -> float:
    """The sigma_w^2 that makes sigma_w^2 E[tanh'(z)^2] = 1 at q = 1 instead of at q*: a common slip."""
    return 1.0 / meanfield.expect_gauss(lambda u: (1.0 - np.tanh(u) ** 2) ** 2, 1.0)


@checker("critical weight variance of a tanh network")
def check_critical_sigma_w2(sigma_w2: Any) -> tuple[bool, str]:
    """Check the ``sigma_w^2`` at which tanh with ``sigma_b^2 = 0.1`` has ``chi_1 = 1`` (to 0.5%)."""
    got = _answer(sigma_w2, "your sigma_w2", CRITICAL_SIGMA_B2)
    if isinstance(got, str):
        return fail(got)
    expected = meanfield.critical_sigma_w2("tanh", CRITICAL_SIGMA_B2)
    if close(got, expected, rtol=5e-3):
        chi = meanfield.chi_1("tanh", got, CRITICAL_SIGMA_B2)
        return ok(f"sigma_w^2 = {got:.4g}: chi_1 = {chi:.4f} at q* = "
                  f"{meanfield.q_star('tanh', got, CRITICAL_SIGMA_B2):.3f}. Biases move the edge of chaos to larger "
                  "weights: they keep q* away from 0, where tanh' < 1.")
    advice = diagnose(got, expected, [
        (1.0, ": that is the edge at sigma_b = 0. With a bias variance q* > 0, where tanh'(z)^2 < 1 on average, so the "
              "weights must be larger to make chi_1 = 1."),
        (_TANH_GAIN**2, ": that is (5/3)^2, PyTorch's tanh gain squared: a rule for keeping the variance roughly constant, "
                        "not for chi_1 = 1. Compute chi_1 with meanfield.chi_1 and solve for it."),
        (_TANH_GAIN, ": that is PyTorch's tanh gain itself (a std factor), and not the critical point."),
        (math.sqrt(expected), ": that is sigma_w, the critical *standard deviation* factor: the question asks for the "
                              "variance sigma_w^2."),
        (2.0, ": that is He's factor for ReLU; tanh's edge of chaos depends on sigma_b^2."),
        (_chi_at_unit_variance_root(), ": you set sigma_w^2 E[tanh'(z)^2] = 1 with z of variance 1. chi_1 is taken at "
                                       "the fixed point q*, which itself depends on sigma_w^2: use meanfield.chi_1 "
                                       "(it finds q*) inside your root finder."),
    ])
    return fail(f"you returned {got:.4g}" + (advice or f"; chi_1 there is "
                                              f"{meanfield.chi_1('tanh', max(got, 1e-6), CRITICAL_SIGMA_B2):.3f}, not 1. "
                                              "Find the root of chi_1(sigma_w2) - 1, e.g. with scipy.optimize.brentq "
                                              "on [0.5, 5]."))


def selu_moments(alpha: float, scale: float) -> tuple[float, float]:
    """Mean and variance of ``scale * elu_alpha(z)`` for ``z ~ N(0, 1)``, in closed form (Klambauer et al., eq. 4-5)."""
    phi_m1 = special.ndtr(-1.0)
    e_neg = math.exp(0.5) * phi_m1 - 0.5  # E[(e^z - 1) 1(z<0)]
    mean = scale * (alpha * e_neg + 1.0 / math.sqrt(2.0 * math.pi))
    e2_neg = math.exp(2.0) * special.ndtr(-2.0) - 2.0 * math.exp(0.5) * phi_m1 + 0.5  # E[(e^z - 1)^2 1(z<0)]
    second = scale**2 * (alpha**2 * e2_neg + 0.5)
    return mean, second - mean**2


@checker("SELU's constants")
def check_selu_constants(constants: Any) -> tuple[bool, str]:
    """Check ``(alpha, lambda)``: the SELU with mean 0 and variance 1 at ``z ~ N(0, 1)`` (to 1e-4).

    ``constants``: the pair, or a function of no arguments returning it.
    """
    if callable(constants):
        constants = constants()
    got = pair(constants, "alpha", "lambda")
    if isinstance(got, str):
        return fail(got)
    alpha, scale = got
    if close(alpha, SELU_ALPHA, rtol=1e-4) and close(scale, SELU_SCALE, rtol=1e-4):
        return ok(f"alpha = {alpha:.5f}, lambda = {scale:.5f}: mean 0 and variance 1 map to themselves "
                  "(Klambauer et al. 2017, eq. 14).")
    if close(alpha, SELU_SCALE, rtol=1e-4) and close(scale, SELU_ALPHA, rtol=1e-4):
        return fail("the two numbers are swapped: return (alpha, lambda), alpha about 1.67 and lambda about 1.05.")
    mean, var = selu_moments(alpha, scale)
    if abs(mean) < 1e-4 and abs(var - 1.0) > 1e-3:
        return fail(f"the mean is 0 but the variance is {var:.4f}: you solved only the mean condition. Two unknowns "
                    "need both equations: E[selu(z)] = 0 and Var[selu(z)] = 1.")
    if abs(var - 1.0) < 1e-4 and abs(mean) > 1e-3:
        return fail(f"the variance is 1 but the mean is {mean:.4f}: solve the mean condition E[selu(z)] = 0 too.")
    if close(scale, math.sqrt(2.0), rtol=1e-3):
        return fail("lambda = sqrt(2) is He's ReLU factor; SELU's lambda keeps a variance of 1 *including* the "
                    "negative part alpha (e^z - 1).")
    if close(alpha, 1.0) and close(scale, 1.0):
        return fail("(1, 1) is plain ELU: its mean is not 0 and its variance not 1 (mean "
                    f"{selu_moments(1.0, 1.0)[0]:.3f}, variance {selu_moments(1.0, 1.0)[1]:.3f}).")
    return fail(f"with alpha = {alpha:.4g}, lambda = {scale:.4g}, a unit Gaussian comes out with mean {mean:.4f} and "
                f"variance {var:.4f}; both should be 0 and 1. Write the two moments as integrals (or use selu_moments) "
                "and solve them together with scipy.optimize.fsolve from (1.5, 1).")


@checker("critical gain of orthogonal tanh weights")
def check_orthogonal_critical_gain(gain: Any) -> tuple[bool, str]:
    """Check the gain ``sigma_w`` of orthogonal weights that makes tanh with ``sigma_b^2 = 0.05`` critical (0.5%)."""
    got = _answer(gain, "your gain", ORTHOGONAL_SIGMA_B2)
    if isinstance(got, str):
        return fail(got)
    expected = math.sqrt(meanfield.critical_sigma_w2("tanh", ORTHOGONAL_SIGMA_B2))
    if close(got, expected, rtol=5e-3):
        return ok(f"gain {got:.4f} (sigma_w^2 = {got**2:.3f}): chi_1 = 1, and with orthogonal weights the Jacobian's "
                  "singular values concentrate: dynamical isometry (Pennington et al. 2017).")
    advice = diagnose(got, expected, [
        (_TANH_GAIN, ": that is PyTorch's calculate_gain('tanh'). For tanh with sigma_b^2 = 0.05 it puts the network in "
                     f"the chaotic phase (chi_1 = {meanfield.chi_1('tanh', _TANH_GAIN**2, ORTHOGONAL_SIGMA_B2):.2f}): "
                     "gradients grow by that factor per layer and the Jacobian's spectrum spreads."),
        (expected**2, ": that is sigma_w^2, the variance; an orthogonal matrix's gain multiplies the weights, so it is sigma_w, "
                      "the square root."),
        (1.0, f": that is critical only at sigma_b = 0; with sigma_b^2 = {ORTHOGONAL_SIGMA_B2} chi_1 = "
              f"{meanfield.chi_1('tanh', 1.0, ORTHOGONAL_SIGMA_B2):.2f} there (ordered): the gradient vanishes."),
        (math.sqrt(2.0), ": that is ReLU's gain; use meanfield.critical_sigma_w2 for tanh."),
    ])
    return fail(f"you returned {got:.4g}" + (advice or f"; chi_1 there is "
                                              f"{meanfield.chi_1('tanh', max(got, 1e-6) ** 2, ORTHOGONAL_SIGMA_B2):.3f}"
                                              ", not 1. The gain is sqrt(sigma_w^2) at chi_1 = 1."))


def _selu_reference() -> tuple[float, float]:
    """SELU's constants solved from the two moment conditions (what the notebook's exercise asks for)."""
    def conditions(v):
        m, s = selu_moments(*v)
        return [m, s - 1.0]
    alpha, scale = optimize.fsolve(conditions, [1.5, 1.0], xtol=1e-13)
    return float(alpha), float(scale)


# ------------------------------------------------------------ notebooks 05 and 06

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
    g = _answer(gain, "your gain")
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
    c = _answer(answer, "your correlation")
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
