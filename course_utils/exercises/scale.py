"""Checkers for notebook 04 (random normal and uniform): how the std of the weights sets the signal's scale.

* :func:`check_layer_stds` -- push a batch through ``depth`` random layers in NumPy and
  report each layer's activation std (the from-scratch version of
  ``diagnostics.signal_propagation``);
* :func:`check_depth_factor` -- the predicted factor by which the signal's std
  changes after ``depth`` layers of ``N(0, std^2)`` weights: ``(n std^2 c)^(depth/2)``;
* :func:`check_uniform_limit` -- the bound ``a`` of ``U(-a, a)`` with a given std;
* :func:`check_chi_1` -- ``chi_1 = n std^2 E[tanh'(z)^2]`` at the fixed point ``q*``: the mean square
  slope, not the squared mean (Poole et al. 2016; Schoenholz et al. 2017).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import checker, close, fail, ok
from ._common import array, diagnose, first_match

try:  # threadpoolctl comes with scikit-learn (mlxtend's dependency); without it BLAS keeps its threads
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

__all__ = [
    "LAYER_STD_ACTIVATIONS",
    "reference_layer_stds",
    "reference_depth_factor",
    "check_layer_stds",
    "check_depth_factor",
    "check_uniform_limit",
    "reference_q_star",
    "reference_chi_1",
    "check_chi_1",
]

#: The activations of the exercise (``"linear"`` is no activation).
LAYER_STD_ACTIVATIONS = ("linear", "relu", "tanh")

# For ReLU, E[relu(z)^2] = Var(z) / 2 for z ~ N(0, v): half of the Gaussian's mass is zeroed.
_SECOND_MOMENT_FACTOR = {"linear": 1.0, "relu": 0.5}

# A learner who draws in another order (or uses W.T) gets other samples of the same distribution.
# For the checker's 256 x 128 batch, over 500 other seeds (measured): the first layer's log-std
# differs from the reference by at most 0.028, each later layer's log-step (log std_l - log std_{l-1})
# by at most 0.39 (ReLU; 0.08 for tanh). The tolerances leave room above those maxima, and stay
# below the smallest mistake they must catch (ReLU's pre-activation std: 0.54 off at layer 1).
_FIRST_LAYER_LOG_TOLERANCE = 0.1
_STEP_LOG_TOLERANCE = 0.5


def _act(name: str) -> Callable[[np.ndarray], np.ndarray]:
    from ..activations import numpy_function as activation_function

    return activation_function(name)


def reference_layer_stds(x: np.ndarray, std: float, depth: int, activation: str, rng: np.random.Generator, *,
                         pre_activation: bool = False, scale_is_variance: bool = False,
                         include_input: bool = False, reuse_weights: bool = False) -> list[float]:
    """Per-layer activation std of ``h_l = f(h_{l-1} W_l)``, ``W_l = rng.normal(0, std, (width, width))``.

    ``h_0 = x`` (shape ``(n, width)``); one ``W_l`` is drawn per layer, in order, from
    ``rng``; the std is taken over every entry of ``h_l`` (samples x units). The
    keyword arguments build the usual wrong answers the checker recognises.
    """
    h = np.asarray(x, dtype=np.float64)
    width = h.shape[1]
    f = _act(activation)
    out = [float(h.std())] if include_input else []
    scale = std**2 if scale_is_variance else std
    w = rng.normal(0.0, scale, size=(width, width)) if reuse_weights else None
    for _ in range(depth):
        z = h @ (w if reuse_weights else rng.normal(0.0, scale, size=(width, width)))
        h = f(z)
        out.append(float((z if pre_activation else h).std()))
    return out


def reference_depth_factor(std: float, fan_in: int, depth: int, activation: str) -> float:
    """Predicted ``std(h_depth) / std(h_0)`` for zero-mean weights of std ``std`` (mean field).

    Each layer multiplies the second moment by ``fan_in * std^2 * c`` with ``c = 1``
    (linear) or ``1/2`` (ReLU: ``E[relu(z)^2] = Var(z)/2``), so the std changes by
    ``(fan_in std^2 c)^(depth/2)`` (Glorot & Bengio 2010, eq. 5-6; He et al. 2015, eq. 10).
    """
    return (fan_in * std**2 * _SECOND_MOMENT_FACTOR[activation]) ** (depth / 2)


def _one_blas_thread() -> Any:
    # The products here are 256 x 128 x 128: BLAS threads gain nothing, and on a shared 2-core machine
    # OpenBLAS's spinning threads made one check 12x slower (1.7 s instead of 0.14 s, measured).
    return threadpool_limits(1, user_api="blas") if threadpool_limits else contextlib.nullcontext()


@checker("layer-by-layer activation std")
def check_layer_stds(layer_stds: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``layer_stds(x, std, depth, activation, rng) -> list of depth floats``.

    Cases on a 256 x 128 batch, depth 10: ReLU at std = sqrt(2/128) (steady), tanh at
    std = 0.01 (vanishing) and tanh at std = 1 (saturated). Exact agreement is
    expected when the learner draws ``rng.normal(0, std, size=(width, width))`` once
    per layer; another draw order is accepted when its statistics agree.
    """
    with _one_blas_thread():
        return _check_layer_stds(layer_stds)


def _flat(got: Any) -> np.ndarray | None:
    values = array(got)
    return None if values is None else values.ravel()


def _drew_one_matrix(rng: np.random.Generator, width: int, seed: int) -> bool:
    """True when ``rng`` (seeded ``seed``) has drawn exactly one ``width x width`` normal matrix."""
    once = np.random.default_rng(seed)
    once.normal(size=(width, width))
    return rng.bit_generator.state == once.bit_generator.state


def _layer_stds_verdict(got: np.ndarray, ref: Callable[..., np.ndarray], label: str, activation: str, std: float,
                        drew_one: bool) -> str | None:
    """None when ``got`` agrees with the reference in its statistics; else what is wrong."""
    expected = ref()
    advice = first_match([
        (lambda: activation != "linear" and np.allclose(got, ref(pre_activation=True), rtol=1e-6),
         f"for {label} you returned the std of z = h @ W, before the activation; apply {activation} and take the "
         f"std of h = {activation}(z)."),
        (lambda: np.allclose(got, ref(scale_is_variance=True), rtol=1e-6),
         f"for {label} your weights have std {std**2:.4g}: rng.normal's second argument is the standard deviation, "
         "not the variance."),
        (lambda: np.allclose(got, ref("linear"), rtol=1e-6),
         f"for {label} your numbers are those of a linear network: apply the activation after each product."),
        (lambda: drew_one or np.allclose(got, ref(reuse_weights=True), rtol=1e-6),
         f"for {label} you drew one W and used it in every layer: a network has a different weight matrix per "
         "layer, so draw W = rng.normal(0, std, size=(width, width)) inside the loop, once per layer."),
    ])
    if advice:
        return advice
    with np.errstate(divide="ignore", invalid="ignore"):
        first = abs(np.log(got[0]) - np.log(expected[0]))
        steps = np.abs(np.diff(np.log(got)) - np.diff(np.log(expected)))
    if first < _FIRST_LAYER_LOG_TOLERANCE and np.all(steps < _STEP_LOG_TOLERANCE):
        return None
    worst = 0 if not first < _FIRST_LAYER_LOG_TOLERANCE else int(np.argmax(np.nan_to_num(steps, nan=np.inf))) + 1
    return (f"for {label} layer {worst + 1} has std {got[worst]:.4g}; the reference gives {expected[worst]:.4g}. "
            "Draw W = rng.normal(0, std, size=(width, width)) in each layer, compute h = f(h @ W), and record "
            "h.std().")


def _check_layer_stds(layer_stds: Callable[..., Any]) -> tuple[bool, str]:
    width, n, depth, seed = 128, 256, 10, 7
    x = np.random.default_rng(123).normal(size=(n, width))
    cases = [("relu", math.sqrt(2 / width)), ("tanh", 0.01), ("tanh", 1.0)]
    notes = []
    for activation, std in cases:
        def ref(activation: str = activation, std: float = std, **kw: Any) -> np.ndarray:
            return np.asarray(reference_layer_stds(x, std, depth, activation, np.random.default_rng(seed), **kw))

        rng = np.random.default_rng(seed)
        got = _flat(layer_stds(x.copy(), std, depth, activation, rng))
        label = f"{activation} with std = {std:.4g}"
        if got is None:
            return fail(f"for {label} your function did not return a list of numbers.")
        if got.shape == (depth + 1,) and np.allclose(got, ref(include_input=True), rtol=1e-6):
            return fail(f"for {label} you returned {depth + 1} values: leave out the input; return the std of "
                        f"h_1 ... h_{depth}, one per layer.")
        if got.shape != (depth,):
            return fail(f"for {label} you returned {got.size} values; return one std per layer ({depth}).")
        if np.allclose(got, ref(), rtol=1e-6):
            continue
        wrong = _layer_stds_verdict(got, ref, label, activation, std, _drew_one_matrix(rng, width, seed))
        if wrong:
            return fail(wrong)
        notes.append(label)
    summary = ("ReLU at sqrt(2/n) holds its scale, tanh at 0.01 vanishes geometrically, tanh at 1 saturates "
               "near |h| = 1.")
    if notes:
        return ok(f"your draws differ from the reference order ({', '.join(notes)}) but the statistics agree. "
                  + summary)
    return ok(summary)


@checker("signal factor after many layers")
def check_depth_factor(depth_factor: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``depth_factor(std, fan_in, depth, activation) = (fan_in std^2 c)^(depth/2)``, c = 1 or 1/2."""
    cases = [(0.1, 256, 20, "relu"), (0.05, 784, 1, "linear"), (0.01, 512, 10, "relu"), (0.1, 100, 5, "linear")]
    for std, n, depth, activation in cases:
        expected = reference_depth_factor(std, n, depth, activation)
        got = depth_factor(std, n, depth, activation)
        label = f"std={std}, fan_in={n}, depth={depth}, {activation}"
        if close(got, expected, rtol=1e-6):
            continue
        value = _flat(got)
        if value is None or value.size != 1:
            return fail(f"for {label} you returned {got!r}; return one number.")
        v = float(value[0])
        c = _SECOND_MOMENT_FACTOR[activation]
        return fail(f"for {label} " + (diagnose(v, expected, [
            (expected**2, f"you returned {v:.4g}, the factor on the VARIANCE; the std changes by its square root, "
                          f"{expected:.4g}."),
            (reference_depth_factor(std, n, depth, "linear"),
             f"you returned {v:.4g}: ReLU zeroes half of a symmetric input, so each layer multiplies E[h^2] by "
             f"n std^2 / 2, not n std^2 (expected {expected:.4g})."),
            ((n * std * c) ** (depth / 2), f"you used std where the variance std^2 belongs: Var(sum of n terms w x) = "
                                           f"n std^2 Var(x) (expected {expected:.4g})."),
            ((n * std**2 * c) ** depth, f"you raised the per-layer factor to the power depth: that is the variance's "
                                        f"change; the std's is its square root (expected {expected:.4g})."),
            ((n * std**2 * c) ** 0.5, f"you returned {v:.4g}, what ONE layer does to the std; {depth} layers multiply "
                                      f"it {depth} times: raise it to the power depth (expected {expected:.4g})."),
        ], rtol=1e-6) or f"you returned {v:.4g}; expected {expected:.4g} = (n std^2 c)^(depth/2)."))
    return ok("std = 0.1 is a factor of 11.8 after 20 ReLU layers of 256 units, 0.01 a factor of 1e-5 after 10 "
              "layers of 512: no fixed std suits every width and depth.")


@checker("uniform bound with the same std")
def check_uniform_limit(uniform_limit: Callable[[float], Any]) -> tuple[bool, str]:
    """Check ``uniform_limit(std) = sqrt(3) * std``: ``U(-a, a)`` has variance ``a^2 / 3``."""
    for std in (0.05, 0.1, 1.0):
        expected = math.sqrt(3) * std
        got = uniform_limit(std)
        if close(got, expected):
            continue
        value = _flat(got)
        if value is None or value.size != 1:
            return fail(f"for std = {std} you returned {got!r}; return one number, the bound a.")
        v = float(value[0])
        hints = [
            (std, f"U(-{std}, {std}) has std {std / math.sqrt(3):.4g}, not {std}"),
            (2 * std, "2 std is where a truncated normal cuts, not the uniform's bound"),
            (math.sqrt(12) * std, "sqrt(12) std is the WIDTH 2a of the interval; the bound is half of it"),
            (std / math.sqrt(3), "you divided by sqrt(3); solve a^2 / 3 = std^2 for a"),
            (3 * std**2, "that is 3 std^2; take the square root of it"),
        ]
        for value_wrong, why in hints:
            if close(v, value_wrong):
                return fail(f"for std = {std} you returned {v:.4g}: {why}. U(-a, a) has variance a^2 / 3, so "
                            f"a = sqrt(3) std = {expected:.4g}.")
        return fail(f"for std = {std} you returned {v:.4g}; expected sqrt(3) * {std} = {expected:.4g}.")
    return ok("a = sqrt(3) std: RandomNormal(stddev=0.05) and RandomUniform(-0.0866, 0.0866) have the same variance.")


# --------------------------------------------------------------------- chi_1 of a tanh stack

_GRID = np.linspace(-8.0, 8.0, 4001)
_GAUSS = np.exp(-_GRID**2 / 2) / np.exp(-_GRID**2 / 2).sum()


def _gauss_mean(values: np.ndarray) -> float:
    """E over u ~ N(0, 1) on a fine grid (tanh'(sqrt(q) u)^2 is a narrow peak: coarse rules miss it)."""
    return float(np.sum(_GAUSS * values))


def reference_q_star(std: float, width: int) -> float:
    """The fixed point of the length map ``q -> width std^2 E[tanh(sqrt(q) u)^2]`` (Poole et al. 2016), from q = 1."""
    from .. import meanfield

    return meanfield.q_star("tanh", width * std**2, 0.0)


def reference_chi_1(std: float, width: int) -> float:
    """``chi_1 = width std^2 E[tanh'(sqrt(q*) u)^2]``: the per-layer factor of the gradient's second moment."""
    from .. import meanfield

    return meanfield.chi_1("tanh", width * std**2, 0.0)


@checker("chi_1 of a tanh stack")
def check_chi_1(chi_1: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``chi_1(std, width)`` against :func:`reference_chi_1` (2% tolerance: a numerical integral)."""
    cases = [(0.3, 256), (0.125, 256), (0.05, 256)]
    for std, n in cases:
        expected = reference_chi_1(std, n)
        got = chi_1(std, n)
        label = f"std={std}, width={n}"
        if close(got, expected, rtol=0.02):
            continue
        value = _flat(got)
        if value is None or value.size != 1 or not np.isfinite(value[0]):
            return fail(f"for {label} you returned {got!r}; return one number.")
        v = float(value[0])
        s2, q = n * std**2, reference_q_star(std, n)
        slope = 1 - np.tanh(np.sqrt(q) * _GRID) ** 2
        slope_first = 1 - np.tanh(np.sqrt(s2) * _GRID) ** 2
        advice = diagnose(v, expected, [
            (s2 * _gauss_mean(slope) ** 2,
             f"you returned {v:.3g} = n std^2 E[tanh']^2, the SQUARED MEAN slope. chi_1 uses the mean SQUARE slope "
             f"E[tanh'^2], larger because a few units near 0 have slope close to 1 (expected {expected:.3g})."),
            (s2 * _gauss_mean(slope), f"you returned {v:.3g} = n std^2 E[tanh']; the gradient's second moment "
                                      f"needs the slope squared inside the mean: E[tanh'^2] (expected {expected:.3g})."),
            (_gauss_mean(slope**2), f"you returned {v:.3g} = E[tanh'^2] alone; each layer also multiplies by "
                                    f"n std^2 = {s2:.3g} (expected {expected:.3g})."),
            (s2 * _gauss_mean(slope_first**2),
             f"you returned {v:.3g}, using q = n std^2 = {s2:.3g} (the first layer's variance for unit inputs). Use "
             f"the fixed point q* = {q:.3g} of q -> n std^2 E[tanh(sqrt(q) u)^2] (expected {expected:.3g})."),
            (math.sqrt(expected), f"you returned {v:.3g} = sqrt(chi_1), the per-layer factor of the gradient's STD; "
                                  f"chi_1 is the factor of its second moment (expected {expected:.3g})."),
        ], rtol=0.02)
        if advice is None and 0.5 < v / expected < 2:
            advice = (f"you returned {v:.3g}, near {expected:.3g} but not within 2%: check your integral. "
                      "tanh'(sqrt(q) u)^2 is a narrow peak at u = 0 when q is large; a coarse Gauss-Hermite rule "
                      "misses it, a fine grid (e.g. 4,001 points on [-8, 8]) does not.")
        return fail(f"for {label} " + (advice or f"you returned {v:.3g}; expected {expected:.3g} = "
                                                 "n std^2 E[tanh'(sqrt(q*) u)^2] at the fixed point q*."))
    return ok(f"chi_1 = {reference_chi_1(0.3, 256):.2f} at std 0.3 (chaotic: gradients grow), "
              f"{reference_chi_1(0.05, 256):.2f} at std 0.05 (q* = 0: chi_1 = n std^2, ordered: gradients shrink).")
