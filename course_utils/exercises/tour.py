"""Checkers for the exercises of notebook 00 (the tour): a warm-up count and a find-the-bug about He weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import checker, fail, ok
from ._common import diagnose, generator_advice, shaped_array

__all__ = ["check_dense_parameter_count", "check_he_weights", "relu_depth_ratio"]


@checker("parameters of a dense layer")
def check_dense_parameter_count(my_dense_parameter_count) -> tuple[bool, str]:
    for fan_in, fan_out in ((784, 512), (512, 10), (3, 1)):
        got = my_dense_parameter_count(fan_in, fan_out)
        expected = fan_in * fan_out + fan_out
        if got == fan_in * fan_out:
            return fail(f"for ({fan_in}, {fan_out}) you gave {got}: the weights are right, but each unit also has a bias.")
        if got == fan_in * fan_out + fan_in:
            return fail(f"for ({fan_in}, {fan_out}) you gave {got}: there is one bias per *unit* (fan_out), not per input.")
        if got != expected:
            return fail(f"for ({fan_in}, {fan_out}) you gave {got}; expected {expected} = {fan_in}*{fan_out} + {fan_out}.")
    return ok("784*512 + 512 = 401,920 for the classic MNIST hidden layer.")


# The shapes the He-weights checker draws: fan_in differs from fan_out in the first (so fan_out and Glorot's
# fan_avg are told apart from fan_in), the smallest has 65,536 weights.
_HE_SHAPES = ((784, 256), (256, 256), (128, 512))
# Relative tolerance on a sample std: 5 standard errors, SE(s)/sigma = sqrt((kurtosis - 1) / (4 n)) = 1/sqrt(2 n)
# for a normal; 1.4% at 65,536 weights, while the nearest wrong answer (Glorot's, for 784 -> 256) is 13% off.
_Z = 5.0
# A uniform's kurtosis is 1.8, a normal's 3 (a normal truncated at 2 sd, Keras's he_normal, about 2.5): a sample
# below 2.1 is uniform whatever its std.
_UNIFORM_BELOW = 2.1
# The network the confirmation runs: 20 bias-free ReLU layers of 256 units, a batch of 512 unit-normal inputs.
_DEPTH, _WIDTH, _BATCH = 20, 256, 512


def relu_depth_ratio(draw: Callable[[int, int, np.random.Generator], Any], *, depth: int = _DEPTH,
                     width: int = _WIDTH, seed: int = 0) -> float:
    """std of the activations of layer ``depth`` over layer 1's, in a bias-free ReLU stack of square layers whose
    kernels are ``draw(width, width, rng)`` (NumPy, float64): the number the notebook-00 bug destroys.

    He's Var(w) = 2/fan_in keeps it near 1 (a little below: finite width, Hanin & Rolnick 2018); weights that
    are c times too small shrink it by about c^(depth - 1).
    """
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(_BATCH, width))
    stds = []
    for _ in range(depth):
        h = np.maximum(h @ np.asarray(draw(width, width, rng), dtype=np.float64), 0.0)
        stds.append(float(h.std()))
    return stds[-1] / stds[0] if stds[0] > 0 else math.nan


def _he_weights_mistakes(fan_in: int, fan_out: int) -> list[tuple[float, str]]:
    """(std, advice) for the known wrong answers of the He-weights bug hunt, at one shape."""
    return [
        (2 / fan_in, f"your weights' std is still 2/fan_in = {2 / fan_in:.4g}: rng.normal's second argument `scale` "
                     "is the standard deviation, and 2/fan_in is He's *variance*. That is the bug."),
        ((2 / fan_in) ** 2, "your std is (2/fan_in)^2: the variance is 2/fan_in, so the std is its square root."),
        (math.sqrt(1 / fan_in), f"your std is sqrt(1/fan_in) = {math.sqrt(1 / fan_in):.4g}, LeCun's: He doubles the "
                                "variance, 2/fan_in, because a ReLU zeroes half of its inputs and halves the second moment."),
        (2 / math.sqrt(fan_in), f"your std is 2/sqrt(fan_in) = {2 / math.sqrt(fan_in):.4g}: the square root applies to "
                                "the 2 as well, sqrt(2/fan_in) = sqrt(2)/sqrt(fan_in)."),
        (math.sqrt(2 / fan_out), f"your std is sqrt(2/fan_out) = {math.sqrt(2 / fan_out):.4g}: He's forward rule divides by "
                                 f"fan_in, the number of inputs each unit sums ({fan_in} here), not fan_out ({fan_out})."),
        (math.sqrt(2 / (fan_in + fan_out)), "your std is sqrt(2/(fan_in + fan_out)), Glorot's: He's is sqrt(2/fan_in)."),
    ]


@checker("find the bug: He-normal weights")
def check_he_weights(he_weights: Callable[[int, int, np.random.Generator], Any]) -> tuple[bool, str]:
    for seed, (fan_in, fan_out) in enumerate(_HE_SHAPES):
        w = shaped_array(he_weights(fan_in, fan_out, np.random.default_rng(seed)), (fan_in, fan_out))
        if isinstance(w, str):
            return fail(w)
        expected, n = math.sqrt(2 / fan_in), w.size
        std, tol = float(w.std()), _Z / math.sqrt(2 * n)
        if abs(w.mean()) > _Z * expected / math.sqrt(n):
            return fail(f"for ({fan_in}, {fan_out}) your weights have mean {w.mean():.3g}; He's are centred on 0 "
                        "(rng.normal's first argument, `loc`, is the mean).")
        if abs(std / expected - 1) > tol:
            advice = diagnose(std, expected, _he_weights_mistakes(fan_in, fan_out), rtol=tol)
            ratio = relu_depth_ratio(he_weights)
            return fail(f"for ({fan_in}, {fan_out}): " + (advice or f"your weights' std is {std:.4g}; He's is "
                        f"sqrt(2/{fan_in}) = {expected:.4g}.") + f" Through {_DEPTH} ReLU layers of {_WIDTH} units "
                        f"your weights take the signal's std to {ratio:.2g} times layer 1's.")
        kurtosis = float(np.mean((w - w.mean()) ** 4) / w.var() ** 2)
        if kurtosis < _UNIFORM_BELOW:
            return fail(f"the std is right but the weights are uniform (kurtosis {kurtosis:.2f}; a uniform's is 1.8, "
                        "a normal's 3): He *normal* draws from rng.normal.")
    advice = generator_advice(he_weights, *_HE_SHAPES[0])
    if advice:
        return fail(advice)
    ratio = relu_depth_ratio(he_weights)
    buggy = relu_depth_ratio(lambda i, o, rng: rng.normal(0.0, 2 / i, size=(i, o)))
    return ok(f"std sqrt(2/fan_in) for every shape. Through {_DEPTH} ReLU layers of {_WIDTH} units your weights keep "
              f"the signal's scale (layer {_DEPTH} / layer 1: {ratio:.2f}, one random network); the buggy ones shrank "
              f"it to {buggy:.1e}.")
