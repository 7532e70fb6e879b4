"""Checkers for the exercises of notebooks 05 (Xavier/Glorot), 06 (He/Kaiming) and 07 (LeCun and SELU).

Each checker calls the learner's function on a few layer shapes and, when a
number is off, names the usual mistake behind it ("your std is 0.05; for
fan_in=784 He gives 0.0505 -- did you use fan_out?")::

    from course_utils.exercises import variance_scaling
    variance_scaling.check_he_std(my_he_std)

Notebook 05: :func:`check_truncated_scale` (the 0.8796 rescaling of Keras's
truncated normal), :func:`check_glorot_normal_sample` (Keras's ``GlorotNormal``
from scratch in NumPy) and :func:`check_glorot_uniform_fix` (find the bug in a
hand-written Glorot-uniform initializer whose limit is the std formula).

Notebook 06: :func:`check_he_std` (``sqrt(2 / ((1 + a^2) fan_in))``),
:func:`check_relu_variance_factors` (what one He layer does to the forward
and the backward variance, fan_in versus fan_out) and
:func:`check_kaiming_normal_sample` (PyTorch's ``kaiming_normal_`` from
scratch, in PyTorch's ``(out, in)`` layout).

Notebook 07: :func:`check_selu` (the activation and its two constants),
:func:`check_selu_moments` (the fixed point: mean 0 and variance 1 out for
variance 1 in) and :func:`check_lecun_std` (``sqrt(1 / fan_in)``, not
PyTorch's SELU gain).

Statistical checks of sampled weights use tolerances derived from the sample
size (five standard errors: a correct answer fails about once in a million).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..activations import SELU_ALPHA, SELU_SCALE  # SELU's constants: Klambauer et al. 2017
from ..activations import numpy_function as activation_function
from ..initializers import TRUNCATED_NORMAL_STD  # std of a unit normal truncated to +-2 (Keras's cut)
from . import checker, close, fail, ok
from ._common import check_cases, diagnose, first_match, generator_advice, pair, shaped_array

__all__ = [
    "TRUNCATED_NORMAL_STD",
    "SELU_ALPHA",
    "SELU_SCALE",
    "check_truncated_scale",
    "check_glorot_normal_sample",
    "check_glorot_uniform_fix",
    "check_he_std",
    "check_relu_variance_factors",
    "check_kaiming_normal_sample",
    "check_selu",
    "check_selu_moments",
    "check_lecun_std",
]

# Kurtosis (4th moment / variance^2) of a normal truncated at +-2 standard deviations; a plain normal has 3, a uniform 1.8.
_TRUNCATED_KURTOSIS = 2.3655
_NORMAL_KURTOSIS = 3.0
_UNIFORM_KURTOSIS = 1.8
# Standard errors a sampled statistic may stray before a check fails (5: ~1 false failure in 1.7 million).
_Z = 5.0
# Relative slack on the truncation bound 2 s. The notebook's hint writes the constant as 0.8796, which puts
# s (and the largest draw) 3e-5 above the exact bound; 0.88 puts it 4e-4 above. 1e-3 accepts any such
# rounding and stays far below every mistake the bound catches: a plain normal of 200,704 draws reaches
# about 4.5 s (125% beyond), a cut at 2.5 s is 25% beyond.
_BOUND_RTOL = 1e-3

# The layer shapes every formula is checked on: a 784 -> 256 MNIST layer (fans differ, so fan_in/fan_out
# mix-ups show), its mirror, and a square layer.
_FANS: tuple[tuple[int, int], ...] = ((784, 256), (256, 784), (100, 100))


# ---------------------------------------------------------------- statistics of a draw


def _std_tolerance(n: int, kurtosis: float) -> float:
    """Relative tolerance on a sample std: _Z standard errors, SE(s)/sigma ~= sqrt((kurtosis - 1) / (4 n))."""
    return _Z * math.sqrt((kurtosis - 1.0) / (4.0 * n))


def _kurtosis(w: np.ndarray) -> float:
    """Fourth moment over squared variance (3 for a normal), about the sample mean."""
    centred = w - w.mean()
    return float(np.mean(centred**4) / np.mean(centred**2) ** 2)


# ----------------------------------------------------------------- notebook 05


def _glorot_std(fan_in: int, fan_out: int) -> float:
    return math.sqrt(2.0 / (fan_in + fan_out))


def _truncated_scale_advice(target: float, got: float, expected: float) -> str:
    """What to tell a learner whose scale for ``target`` is ``got``, not ``expected``."""
    head = f"for target_std={target:g} you returned {got:.5g}; the scale is {expected:.5g}"
    advice = diagnose(got, expected, [
        (target, "without rescaling, cutting off the tails makes the std 12% too small "
                 f"({TRUNCATED_NORMAL_STD:.4f} x target). Divide by {TRUNCATED_NORMAL_STD:.4f}."),
        (target * TRUNCATED_NORMAL_STD, f"you multiplied by {TRUNCATED_NORMAL_STD:.4f}; that *shrinks* the scale "
                                        "further. The truncated std is 0.8796 s, so s = target / 0.8796."),
        (target / TRUNCATED_NORMAL_STD**2, f"{TRUNCATED_NORMAL_STD**2:.4f} is the truncated *variance* factor; "
                                           f"the std factor is its square root, {TRUNCATED_NORMAL_STD:.4f}."),
        (2.0 * target, "the cut is at 2 scales, but the scale itself is target / 0.8796, not 2 x target."),
    ])
    return f"{head}. " + (advice or "The truncated draw's std is 0.8796 s; solve for s.")


@checker("scale of a truncated normal")
def check_truncated_scale(my_truncated_scale: Callable[[float], float]) -> tuple[bool, str]:
    """Check ``my_truncated_scale(target_std)`` = ``target_std / 0.87962566``.

    A normal of scale ``s`` cut at ``+-2 s`` (draws outside redrawn) has std
    ``0.8796 s``; to get ``target_std`` Keras draws with ``s = target_std / 0.8796``.
    """
    targets = [(0.05,), (1.0,), (0.0442,)]  # 0.0442 ~ Glorot's std for a 784 -> 256 layer
    wrong = check_cases(my_truncated_scale, lambda target: target / TRUNCATED_NORMAL_STD, targets,
                        _truncated_scale_advice)
    if wrong:
        return fail(wrong)
    return ok(f"s = target / {TRUNCATED_NORMAL_STD:.4f}: the scale Keras gives its truncated normal "
              "(GlorotNormal, HeNormal, LecunNormal).")


@checker("Glorot normal from scratch (Keras semantics)")
def check_glorot_normal_sample(my_glorot_normal: Callable[[tuple[int, int], np.random.Generator], np.ndarray],
                               ) -> tuple[bool, str]:
    """Check ``my_glorot_normal(shape, rng)``: Keras's ``GlorotNormal`` for a ``(fan_in, fan_out)`` kernel.

    The draw: normal with scale ``s = sqrt(2/(fan_in+fan_out)) / 0.8796``,
    every value outside ``+-2 s`` redrawn (not clipped), so the result has std
    exactly ``sqrt(2/(fan_in+fan_out))`` and no value beyond ``2 s``.
    """
    shape = (784, 256)  # Keras layout (fan_in, fan_out): 200,704 weights, enough to tell the variants apart
    fan_in, fan_out = shape
    got = shaped_array(my_glorot_normal(shape, np.random.default_rng(0)), shape)
    if isinstance(got, str):
        return fail(got)
    target = _glorot_std(fan_in, fan_out)
    scale = target / TRUNCATED_NORMAL_STD
    bound = 2.0 * scale
    std, biggest, n = float(got.std()), float(np.abs(got).max()), got.size
    tol = _std_tolerance(n, _NORMAL_KURTOSIS)
    if abs(got.mean()) > _Z * target / math.sqrt(n):
        return fail(f"the mean of your weights is {got.mean():.3g}; Glorot weights are centred on 0 "
                    f"(expected within {_Z * target / math.sqrt(n):.2g} for this many draws).")
    at_max = int(np.sum(np.abs(got) >= biggest * (1 - 1e-7)))
    if at_max > 10:  # continuous draws do not tie; many weights sharing the largest |w| were clipped
        return fail(f"{at_max} weights sit exactly at +-{biggest:.4g}: you clipped the tails. Keras *redraws* "
                    "values beyond 2 scales (np.where(..., rng.normal(...), w) in a loop), so they pile up nowhere.")
    if biggest > bound * (1 + _BOUND_RTOL):
        if abs(std / target - 1) < tol:
            return fail(f"your largest |w| is {biggest:.4g}, beyond the cut at 2 s = {bound:.4g}, with std "
                        f"{std:.4g}: a plain normal (PyTorch's xavier_normal_). Redraw every value outside "
                        "+-2 s, with s = std / 0.8796.")
        return fail(f"your largest |w| is {biggest:.4g}; Keras never draws beyond 2 s = {bound:.4g} "
                    f"(s = {scale:.4g}). Redraw every value outside +-2 s.")
    if abs(std / target - 1) > tol:
        ratio = std / target
        known = [
            (TRUNCATED_NORMAL_STD, "you truncated at 2 x the target std without rescaling, so the std comes out "
                                   f"{TRUNCATED_NORMAL_STD:.4f} x too small. Draw with s = std / 0.8796."),
            (math.sqrt((fan_in + fan_out) / (2.0 * fan_in)), "that is sqrt(1/fan_in): Glorot averages the fans, "
                                                              "Var = 2 / (fan_in + fan_out)."),
            (math.sqrt((fan_in + fan_out) / (2.0 * fan_out)), "that is sqrt(1/fan_out): Glorot averages the fans, "
                                                               "Var = 2 / (fan_in + fan_out)."),
        ]
        advice = next((text for value, text in known if abs(ratio / value - 1) < 2 * tol), None)
        return fail(f"your weights have std {std:.4g}; Glorot gives {target:.4g} for fan_in={fan_in}, "
                    f"fan_out={fan_out}. " + (advice or "Check the scale s = sqrt(2/(fan_in+fan_out)) / 0.8796."))
    kurt = _kurtosis(got)
    if abs(kurt - _UNIFORM_KURTOSIS) < abs(kurt - _TRUNCATED_KURTOSIS):
        return fail(f"std and bound are right, but the shape is flat (kurtosis {kurt:.2f}, a uniform's is 1.8, "
                    f"a truncated normal's {_TRUNCATED_KURTOSIS:.2f}): draw from rng.normal, then redraw the tails.")
    advice = generator_advice(my_glorot_normal, shape)
    if advice:
        return fail(advice)
    return ok(f"std {std:.4g} (target {target:.4g}), largest |w| {biggest:.4g} <= 2 s = {bound:.4g}, "
              f"kurtosis {kurt:.2f} (truncated normal: {_TRUNCATED_KURTOSIS}).")


# PyTorch-layout (fan_out, fan_in) weights the fixed initializer is called on, three seeds each: a 784 -> 256
# layer, its mirror and a square one (about 200,000 draws each: a std to 0.45%, five standard errors of a
# uniform's), so that a rule with one fan only, or the other one, shows on some shape.
_UNIFORM_FIX_SHAPES: tuple[tuple[int, int], ...] = ((256, 784), (784, 256), (448, 448))
_UNIFORM_FIX_SEEDS = (0, 1, 2)


def _uniform_fix_mistakes() -> list[tuple[np.ndarray, str]]:
    """Known wrong fixes: (their std / Glorot's std on each of _UNIFORM_FIX_SHAPES, advice)."""
    fan_out, fan_in = np.asarray(_UNIFORM_FIX_SHAPES, dtype=np.float64).T
    fans = fan_in + fan_out
    rows = [
        (1 / math.sqrt(3.0), "That is what the given function draws: its limit is sqrt(2/(fan_in+fan_out)), Glorot's "
                             "*std*, and a uniform on [-limit, limit] has std limit/sqrt(3). On a square layer that is "
                             "Var = 1/(3n): the old rule Glorot replaced, which shrinks a tanh signal 1/sqrt(3) per "
                             "layer (section 2)."),
        (np.sqrt(fans / (6.0 * fan_in)), "That is the old rule U(+-1/sqrt(fan_in)) (PyTorch's nn.Linear default), "
                                         "whose variance is a third of 1/fan_in."),
        (math.sqrt(3.0), "The limit is 3 standard deviations; a uniform's std is limit/sqrt(3), so the limit is "
                         "sqrt(3) std, not 3 std."),
        (1 / math.sqrt(2.0), "A limit of sqrt(3/(fan_in+fan_out)) loses Glorot's 2: the limit is sqrt(3 Var) = "
                             "sqrt(3 x 2/(fan_in+fan_out))."),
        (math.sqrt(2.0), "Your variance is twice Glorot's: the 6 of the limit already holds Glorot's 2 (6 = 3 x 2); "
                         "no further factor 2."),
        (np.sqrt(fans / (2.0 * fan_in)), "That is LeCun's uniform, sqrt(3/fan_in): fan_in only (the forward "
                                         "condition); Glorot averages the two fans."),
        (np.sqrt(fans / (2.0 * fan_out)), "That uses fan_out only, sqrt(3/fan_out) (in PyTorch's (out, in) layout "
                                          "shape[0] is fan_out); Glorot averages the two fans."),
        (np.sqrt(fans / fan_in), "That is He's uniform (kaiming_uniform_), sqrt(6/fan_in): a factor 2 for ReLU and "
                                 "fan_in alone. Glorot's 6 goes with the *sum* of the fans."),
        (np.sqrt(fans / fan_out), "That is sqrt(6/fan_out): He's factor 2 with fan_out alone. Glorot's 6 goes with "
                                  "the *sum* of the fans."),
    ]
    return [(np.broadcast_to(np.asarray(value, dtype=np.float64), fans.shape), advice) for value, advice in rows]


@checker("the bug in a Glorot-uniform initializer")
def check_glorot_uniform_fix(my_glorot_uniform: Callable[[tuple[int, int], np.random.Generator], np.ndarray],
                             ) -> tuple[bool, str]:
    """Check ``my_glorot_uniform(shape, rng)``: PyTorch's ``xavier_uniform_`` for a ``(fan_out, fan_in)`` weight.

    Notebook 05's buggy version draws ``U(-l, l)`` with ``l = sqrt(2/(fan_in+fan_out))``,
    Glorot's *std*, so its weights have std ``l/sqrt(3)`` (on a square layer the
    old rule's ``Var = 1/(3n)``). The fix: ``l = sqrt(6/(fan_in+fan_out))``. The
    function is called on three shapes with three seeds each; the std of every
    draw must be Glorot's within five standard errors. Wrong fixes named: the
    unchanged bug, the old rule, 3 std as the limit, Glorot's 2 lost or doubled,
    one fan only (LeCun's or He's uniform, with fan_in or fan_out), a normal
    draw (with the std, or with the limit as its std), draws not centred, and
    draws not taken from ``rng``.
    """
    ratio = np.empty((len(_UNIFORM_FIX_SHAPES), len(_UNIFORM_FIX_SEEDS)))  # std / Glorot's std, per shape and seed
    kurtoses = []
    for i, shape in enumerate(_UNIFORM_FIX_SHAPES):
        sigma = _glorot_std(shape[1], shape[0])
        for j, seed in enumerate(_UNIFORM_FIX_SEEDS):
            got = shaped_array(my_glorot_uniform(shape, np.random.default_rng(seed)), shape)
            if isinstance(got, str):
                return fail(got)
            std = float(got.std())
            if abs(got.mean()) > _Z * max(std, sigma) / math.sqrt(got.size):
                return fail(f"for shape {shape} the mean of your weights is {got.mean():.3g}; Glorot weights are "
                            "centred on 0: draw from rng.uniform(-limit, limit), not from 0 to limit.")
            ratio[i, j] = std / sigma
            kurtoses.append(_kurtosis(got))
    kurt = float(np.mean(kurtoses))
    uniform = abs(kurt - _UNIFORM_KURTOSIS) < 0.1  # a normal's is 3, a normal truncated at 2 sd 2.37
    tol = _std_tolerance(min(a * b for a, b in _UNIFORM_FIX_SHAPES), _UNIFORM_KURTOSIS if uniform else _NORMAL_KURTOSIS)

    def near(per_shape: Any) -> bool:
        return bool(np.all(np.abs(ratio / np.reshape(per_shape, (-1, 1)) - 1) <= tol))

    right = near(np.ones(len(_UNIFORM_FIX_SHAPES)))
    head = f"on a {_UNIFORM_FIX_SHAPES[0]} weight your std is {ratio[0, 0]:.3f} x Glorot's sigma"
    if not uniform:
        if right:
            return fail(f"the std is right, but the draw is not uniform (kurtosis {kurt:.2f}; a uniform's is 1.8, a "
                        "normal's 3): this is Glorot *uniform*, PyTorch's xavier_uniform_. Draw rng.uniform(-limit, "
                        "limit, size=shape).")
        if near(np.full(len(_UNIFORM_FIX_SHAPES), math.sqrt(3.0))):
            return fail(f"{head}, and the draw is bell-shaped (kurtosis {kurt:.2f}): you used the uniform's limit "
                        "sqrt(6/(fan_in+fan_out)) as a normal's std (3x the variance). Keep rng.uniform(-limit, "
                        "limit, size=shape).")
        return fail(f"{head}, and the draw is not uniform (kurtosis {kurt:.2f}; a uniform's is 1.8): keep "
                    "rng.uniform(-limit, limit, size=shape) and fix the limit.")
    if not right:
        advice = first_match((lambda values=values: near(values), text) for values, text in _uniform_fix_mistakes())
        if advice:
            return fail(f"{head}. {advice}")
        return fail(f"{head} ({', '.join(f'{r:.3f}' for r in ratio[:, 0])} on the shapes "
                    f"{', '.join(map(str, _UNIFORM_FIX_SHAPES))}); it should be 1 on every one. Measure the std "
                    "of U(-l, l) against sqrt(2/(fan_in+fan_out)) and solve for l.")
    advice = generator_advice(my_glorot_uniform, _UNIFORM_FIX_SHAPES[0])
    if advice:
        return fail(advice)
    return ok("limit = sqrt(6/(fan_in+fan_out)) = sqrt(3) sigma: std sigma = sqrt(2/(fan_in+fan_out)) on every "
              "shape. The std formula used as a limit drew a third of the variance: the old rule, by accident.")


# ----------------------------------------------------------------- notebook 06


def _he_std(fan: float, negative_slope: float = 0.0) -> float:
    return math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan))


def _he_std_advice(fan_in: int, fan_out: int, a: float, got: float, expected: float) -> str:
    """What to tell a learner whose std for these fans and slope ``a`` is ``got``, not ``expected``."""
    slope = f", negative_slope={a:g}" if a else ""
    head = f"your std is {got:.4g}; for fan_in={fan_in} (fan_out={fan_out}{slope}) He gives {expected:.4g}"
    advice = diagnose(got, expected, [
        (_he_std(fan_out, a), "did you use fan_out? He's forward rule (mode='fan_in', both frameworks' "
                              "default) divides by fan_in."),
        (_he_std(fan_in, 0.0), "the slope is ignored: a leaky ReLU of slope a keeps (1 + a^2)/2 of the second "
                               "moment, so Var = 2 / ((1 + a^2) fan_in)."),
        (math.sqrt(2.0 / ((1.0 + a) * fan_in)), "use 1 + a^2, not 1 + a: the negative half is scaled by a, so "
                                                "its *square* a^2 enters the variance."),
        (math.sqrt(1.0 / fan_in), "the 2 is missing: sqrt(1/fan_in) is LeCun's rule; ReLU zeroes half of its "
                                  "inputs, and the 2 makes up for that."),
        (_glorot_std(fan_in, fan_out), "that is Glorot's average of the fans; He uses fan_in and a factor 2."),
        (2.0 / ((1.0 + a * a) * fan_in), "that is the variance; return its square root."),
        (math.sqrt(2.0) / fan_in, "the square root covers the whole fraction: sqrt(2 / fan_in)."),
    ])
    return f"{head}. " + (advice or "Var(W) = 2 / ((1 + a^2) fan_in); the std is its square root.")


@checker("He (Kaiming) standard deviation")
def check_he_std(my_he_std: Callable[..., float]) -> tuple[bool, str]:
    """Check ``my_he_std(fan_in, fan_out, negative_slope=0.0)`` = ``sqrt(2 / ((1 + a^2) fan_in))``.

    He et al. (2015), eq. 10 (ReLU) and section 2.2 (leaky ReLU/PReLU of slope
    ``a``). ``fan_out`` is passed so that using it by mistake shows. Mistakes
    named: fan_out for fan_in, Glorot's average, LeCun's 1/fan_in (the 2
    lost), ``1 + a`` for ``1 + a^2``, the slope ignored, the variance for the std.
    """
    cases = [(784, 256, 0.0), (256, 784, 0.0), (784, 256, 0.25), (100, 100, 1.0)]
    wrong = check_cases(lambda fan_in, fan_out, a: my_he_std(fan_in, fan_out, negative_slope=a),
                        lambda fan_in, fan_out, a: _he_std(fan_in, a), cases, _he_std_advice)
    if wrong:
        return fail(wrong)
    return ok("Var(W) = 2 / ((1 + a^2) fan_in): for ReLU (a = 0) sqrt(2/784) = 0.0505 for an MNIST layer.")


@checker("forward and backward variance factors of a He layer")
def check_relu_variance_factors(my_variance_factors: Callable[[int, int, str], Any]) -> tuple[bool, str]:
    """Check ``my_variance_factors(fan_in, fan_out, mode)`` -> ``(forward, backward)``.

    For a ReLU layer with He weights, ``Var(W) = 2 / n`` with ``n`` = fan_in
    (``mode="fan_in"``) or fan_out (``mode="fan_out"``), the factor by which it
    multiplies the forward second moment is ``fan_in Var(W) / 2`` and the
    factor by which it multiplies the back-propagated gradient's variance is
    ``fan_out Var(W) / 2`` (He et al. 2015, eqs. 10 and 14). So fan_in mode
    gives ``(1, fan_out/fan_in)`` and fan_out mode ``(fan_in/fan_out, 1)``.
    """
    for fan_in, fan_out, mode in [(784, 256, "fan_in"), (784, 256, "fan_out"), (128, 512, "fan_in"), (64, 64, "fan_out")]:
        factors = pair(my_variance_factors(fan_in, fan_out, mode), "forward", "backward", noun=" factor")
        if isinstance(factors, str):
            return fail(factors)
        forward, backward = factors
        n = fan_in if mode == "fan_in" else fan_out
        var_w = 2.0 / n
        exp_f, exp_b = fan_in * var_w / 2.0, fan_out * var_w / 2.0
        if close(forward, exp_f) and close(backward, exp_b):
            continue
        head = (f"for fan_in={fan_in}, fan_out={fan_out}, mode={mode!r} you returned ({forward:.4g}, {backward:.4g}); "
                f"expected ({exp_f:.4g}, {exp_b:.4g})")
        if close(forward, exp_b) and close(backward, exp_f):
            advice = ("forward and backward are swapped: forward sums over the fan_in inputs of a unit, backward "
                      "over the fan_out units an input feeds.")
        elif close(forward, 2 * exp_f) and close(backward, 2 * exp_b):
            advice = ("both are twice too big: ReLU passes half of the second moment forward (E[relu(z)^2] = "
                      "Var(z)/2) and half of the gradients backward (relu' is 0 for half the inputs).")
        elif close(forward, exp_f) and close(backward, 1.0):
            advice = ("He's weights keep only *one* direction exactly: with mode='fan_in' the backward factor is "
                      "fan_out / fan_in.")
        elif close(backward, exp_b) and close(forward, 1.0):
            advice = ("He's weights keep only *one* direction exactly: with mode='fan_out' the forward factor is "
                      "fan_in / fan_out.")
        else:
            advice = ("Var(W) = 2 / n (n = fan_in or fan_out per mode); forward factor fan_in Var(W) / 2, backward "
                      "factor fan_out Var(W) / 2.")
        return fail(f"{head}. {advice}")
    return ok("fan_in mode preserves the forward signal and scales gradients by fan_out/fan_in per layer; "
              "fan_out mode the reverse. In a deep stack of equal widths both are 1.")


@checker("kaiming_normal_ from scratch (PyTorch semantics)")
def check_kaiming_normal_sample(my_kaiming_normal: Callable[..., np.ndarray]) -> tuple[bool, str]:
    """Check ``my_kaiming_normal(shape, rng, mode="fan_in")`` for a PyTorch ``(out, in)`` weight.

    PyTorch's ``kaiming_normal_(W, mode=mode, nonlinearity="relu")``: a plain
    normal (no truncation) with std ``sqrt(2 / n)``, ``n = shape[1]`` (fan_in)
    or ``shape[0]`` (fan_out).
    """
    shape = (256, 784)  # PyTorch layout (out, in): fan_in = 784, fan_out = 256
    fan_out, fan_in = shape
    for mode in ("fan_in", "fan_out"):
        got = shaped_array(my_kaiming_normal(shape, np.random.default_rng(1), mode=mode), shape)
        if isinstance(got, str):
            return fail(got)
        n = fan_in if mode == "fan_in" else fan_out
        target = math.sqrt(2.0 / n)
        std, n_w = float(got.std()), got.size
        if abs(got.mean()) > _Z * target / math.sqrt(n_w):
            return fail(f"the mean of your weights is {got.mean():.3g}; Kaiming weights are centred on 0.")
        if abs(std / target - 1) > _std_tolerance(n_w, _NORMAL_KURTOSIS):
            head = f"with mode={mode!r} your std is {std:.4g}; for this (out, in) = {shape} weight He gives {target:.4g}"
            other = fan_out if mode == "fan_in" else fan_in
            if abs(std / math.sqrt(2.0 / other) - 1) < 0.02:
                advice = ("you used the other dimension. PyTorch stores a Linear weight as (out, in): fan_in is "
                          "shape[1], fan_out is shape[0] (Keras's (in, out) is the other way round).")
            elif abs(std / math.sqrt(1.0 / n) - 1) < 0.02:
                advice = "the 2 is missing: Var = 2 / n (ReLU zeroes half of its inputs)."
            elif abs(std / (target * TRUNCATED_NORMAL_STD) - 1) < 0.02:
                advice = "you truncated the normal; PyTorch's kaiming_normal_ draws a plain normal."
            else:
                advice = "draw rng.normal(0, sqrt(2 / n), size=shape) with n chosen by mode."
            return fail(f"{head}. {advice}")
        kurt = _kurtosis(got)
        if abs(kurt - _NORMAL_KURTOSIS) > abs(kurt - _TRUNCATED_KURTOSIS) or abs(kurt - _NORMAL_KURTOSIS) > 0.2:
            return fail(f"the std is right but the kurtosis is {kurt:.2f}; a plain normal has 3 (truncated "
                        f"{_TRUNCATED_KURTOSIS}, uniform 1.8). kaiming_normal_ neither truncates nor draws uniformly.")
    advice = generator_advice(lambda s, r: my_kaiming_normal(s, r, mode="fan_in"), shape)
    if advice:
        return fail(advice)
    return ok("N(0, 2/n), n = shape[1] (fan_in) or shape[0] (fan_out) in PyTorch's (out, in) layout.")


# ----------------------------------------------------------------- notebook 07


_selu_np = activation_function("selu")  # lambda * (x if x > 0 else alpha * (e^x - 1)), the package's reference


@checker("SELU")
def check_selu(my_selu: Callable[[np.ndarray], np.ndarray]) -> tuple[bool, str]:
    """Check ``my_selu(x)`` = ``lambda * (x if x > 0 else alpha * (exp(x) - 1))`` elementwise.

    ``lambda = 1.0507``, ``alpha = 1.6733`` (Klambauer et al. 2017, eq. 2 and 14).
    Mistakes named: ELU (no lambda), lambda on one side only, ``exp(x)`` without
    the ``- 1``, a scalar-only implementation.
    """
    x = np.linspace(-4.0, 4.0, 81)  # includes 0 and both sides
    try:
        raw = my_selu(x.copy())
    except ValueError as err:
        if "truth value" in str(err):
            return fail("your function works on one number but not on an array (`if x > 0` on an array raises). "
                        "Use np.where(x > 0, ..., ...).")
        raise
    got = shaped_array(raw, x.shape)
    if isinstance(got, str):
        return fail(got)
    expected = _selu_np(x)
    if np.allclose(got, expected, rtol=1e-3, atol=1e-6):
        return ok(f"lambda = {SELU_SCALE:.4f}, alpha = {SELU_ALPHA:.4f}: SELU(x) -> {-SELU_SCALE * SELU_ALPHA:.4f} "
                  "as x -> -inf.")
    pos, neg = x > 0, x < 0
    elu = np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if np.allclose(got, elu, rtol=1e-3):
        return fail(f"you computed alpha * ELU without lambda; multiply both sides by lambda = {SELU_SCALE:.4f}.")
    if np.allclose(got[pos], expected[pos], rtol=1e-3) and np.allclose(got[neg], elu[neg], rtol=1e-3):
        return fail(f"the negative side is missing lambda = {SELU_SCALE:.4f}: lambda multiplies both branches.")
    if np.allclose(got[neg], expected[neg], rtol=1e-3) and np.allclose(got[pos], x[pos], rtol=1e-3):
        return fail(f"the positive side is missing lambda = {SELU_SCALE:.4f}: SELU(x) = lambda x for x > 0.")
    if np.allclose(got[neg], SELU_SCALE * SELU_ALPHA * np.exp(x[neg]), rtol=1e-3):
        return fail("for x < 0 use exp(x) - 1 (np.expm1), so that SELU(0) = 0 and the negative side tends to "
                    "-lambda alpha.")
    worst = int(np.argmax(np.abs(got - expected)))
    return fail(f"at x = {x[worst]:g} your SELU gives {got[worst]:.4g}; expected {expected[worst]:.4g} "
                f"(lambda = {SELU_SCALE:.4f}, alpha = {SELU_ALPHA:.4f}).")


def _selu_moments(variance: float) -> tuple[float, float]:
    """Mean and variance of SELU(z), z ~ N(0, variance), by midpoint quadrature over +-12 sd (error < 1e-7)."""
    step = 0.001
    grid = np.arange(-12.0 + step / 2, 12.0, step)
    weights = np.exp(-0.5 * grid**2) * step / math.sqrt(2.0 * math.pi)
    values = _selu_np(math.sqrt(variance) * grid)
    mean = float(np.sum(weights * values))
    return mean, float(np.sum(weights * values**2)) - mean**2


@checker("SELU's fixed point")
def check_selu_moments(my_selu_moments: Callable[[float], Any]) -> tuple[bool, str]:
    """Check ``my_selu_moments(variance)`` -> ``(mean, variance)`` of ``SELU(z)``, ``z ~ N(0, variance)``.

    Any method is fine (a Monte Carlo average of a million draws, or
    quadrature): the tolerance, 0.01, is about ten standard errors of a
    million-draw estimate. At ``variance = 1`` the answer is ``(0, 1)``: the
    fixed point of Klambauer et al. (2017).
    """
    tol = 0.01
    for variance in (1.0, 4.0, 0.25):  # 4: the mean (0.25) is large enough that a forgotten mean^2 shows
        moments = pair(my_selu_moments(variance), "mean", "variance")
        if isinstance(moments, str):
            return fail(moments)
        mean, var = moments
        exp_mean, exp_var = _selu_moments(variance)
        if abs(mean - exp_mean) <= tol and abs(var - exp_var) <= tol * max(1.0, exp_var):
            continue
        head = (f"for Var(z) = {variance:g} you returned mean {mean:.4f}, variance {var:.4f}; expected "
                f"{exp_mean:.4f}, {exp_var:.4f}")
        if abs(mean - exp_mean) <= tol and abs(var - (exp_var + exp_mean**2)) <= tol * max(1.0, exp_var):
            advice = "your 'variance' is the second moment E[SELU(z)^2]; subtract the squared mean."
        elif abs(mean - exp_mean) <= tol and abs(var - math.sqrt(exp_var)) <= tol:
            advice = "that is the standard deviation; return the variance (its square)."
        elif abs(mean) <= tol and abs(var - variance) <= tol * max(1.0, variance):
            advice = ("those are the mean and variance of z itself; apply SELU to the draws and take the moments of "
                      "selu(z).")
        elif abs(mean - _selu_moments(variance**2)[0]) <= tol:
            advice = "draw z with standard deviation sqrt(variance), not variance: rng.normal(0, np.sqrt(variance))."
        else:
            advice = ("draw many z ~ N(0, variance) (rng.normal(0, np.sqrt(variance), 10**6)), apply SELU, and "
                      "return the mean and the variance of the result.")
        return fail(f"{head}. {advice}")
    return ok("Var(z) = 1 gives mean 0 and variance 1: the fixed point. Larger variances come out smaller, "
              "smaller ones larger, so a SELU network is pulled back towards it.")


def _lecun_std_advice(fan_in: int, fan_out: int, got: float, expected: float) -> str:
    """What to tell a learner whose std for these fans is ``got``, not ``expected``."""
    head = f"your std is {got:.4g}; for fan_in={fan_in} (fan_out={fan_out}) LeCun gives {expected:.4g}"
    advice = diagnose(got, expected, [
        (0.75 * expected, "that is PyTorch's kaiming_normal_(nonlinearity='selu'), gain 3/4: Var = 0.5625/fan_in. "
                          "Self-normalization needs Var = 1/fan_in (gain 1, nonlinearity='linear')."),
        (math.sqrt(1.0 / fan_out), "did you use fan_out? LeCun divides by fan_in: the forward signal's sum over "
                                   "the inputs."),
        (_he_std(fan_in), "that is He's sqrt(2/fan_in), for ReLU; SELU needs no factor 2."),
        (_glorot_std(fan_in, fan_out), "that is Glorot's average of the fans; LeCun uses fan_in only."),
        (1.0 / fan_in, "that is the variance; return its square root."),
    ])
    return f"{head}. " + (advice or "Var(W) = 1 / fan_in; the std is its square root.")


@checker("LeCun standard deviation")
def check_lecun_std(my_lecun_std: Callable[[int, int], float]) -> tuple[bool, str]:
    """Check ``my_lecun_std(fan_in, fan_out)`` = ``sqrt(1 / fan_in)`` (LeCun et al. 1998; Klambauer et al. 2017).

    Mistakes named: PyTorch's ``kaiming_normal_(nonlinearity="selu")`` std
    ``(3/4) sqrt(1/fan_in)``, He's ``sqrt(2/fan_in)``, Glorot's average, fan_out,
    the variance for the std.
    """
    wrong = check_cases(my_lecun_std, lambda fan_in, fan_out: math.sqrt(1.0 / fan_in), _FANS,
                        _lecun_std_advice)
    if wrong:
        return fail(wrong)
    return ok("Var(W) = 1/fan_in: sum_i w_i^2 = 1 per unit on average, the tau = 1 of Klambauer et al.")
