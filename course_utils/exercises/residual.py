"""Checkers for notebook 13 (convolutional and residual networks): the fans of a convolution, Fixup's scale.

* :func:`check_conv_fans` -- ``(fan_in, fan_out)`` of a convolution kernel in Keras's
  ``(kh, kw, in, out)`` or PyTorch's ``(out, in, kh, kw)`` layout;
* :func:`check_fixup_scale` -- the factor ``L ** (-1 / (2m - 2))`` on the inner weights of
  each of ``L`` residual branches of ``m`` layers (Zhang et al. 2019);
* :func:`check_residual_growth` -- how much the second moment of the residual stream grows
  over ``B`` blocks whose branches each add ``gain`` times what they read.

Each names the usual wrong answers (a mistake table, as in :mod:`.variance_scaling`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import checker, close, fail, ok
from ._common import first_match, number, pair

__all__ = ["reference_conv_fans", "check_conv_fans", "check_fixup_scale", "check_residual_growth"]


def reference_conv_fans(shape: tuple[int, ...], layout: str) -> tuple[int, int]:
    """``fan_in = c_in * kh * kw``, ``fan_out = c_out * kh * kw`` (the receptive field counts both ways)."""
    if layout == "keras":
        *kernel, c_in, c_out = shape
    else:
        c_out, c_in, *kernel = shape
    field = math.prod(kernel)
    return c_in * field, c_out * field


_FAN_CASES = [((3, 3, 16, 32), "keras"), ((32, 16, 3, 3), "torch"), ((5, 5, 1, 8), "keras"), ((8, 3, 7, 7), "torch")]


@checker("fans of a convolution")
def check_conv_fans(my_conv_fans: Callable[[tuple[int, ...], str], Any]) -> tuple[bool, str]:
    """Check ``my_conv_fans(shape, layout)`` -> ``(fan_in, fan_out)`` for 2-D convolution kernels in both layouts.

    Mistakes named: the kernel size left out (channels only), the layouts mixed up
    (PyTorch's shape read as Keras's), fan_in and fan_out swapped, every dimension
    multiplied into both, the kernel size counted only in fan_in.
    """
    for shape, layout in _FAN_CASES:
        got = pair(my_conv_fans(shape, layout), "fan_in", "fan_out")
        if isinstance(got, str):
            return fail(got)
        fan_in, fan_out = reference_conv_fans(shape, layout)
        if close(got[0], fan_in) and close(got[1], fan_out):
            continue
        other = "torch" if layout == "keras" else "keras"
        mixed = reference_conv_fans(shape, other)
        c_in, c_out = fan_in // math.prod(shape[:2] if layout == "keras" else shape[2:]), None
        field = fan_in // c_in
        c_out = fan_out // field
        head = f"for a {layout} kernel of shape {shape} you returned ({got[0]:g}, {got[1]:g}); expected ({fan_in}, {fan_out})"
        advice = first_match([
            (close(got[0], c_in) and close(got[1], c_out),
             "you counted channels only: a unit of a convolution sums over c_in channels *times* the kh x kw "
             "positions of its window, so fan_in = c_in * kh * kw (and fan_out = c_out * kh * kw)."),
            (close(got[0], mixed[0]) and close(got[1], mixed[1]),
             f"that is the answer for the {other} layout: Keras stores (kh, kw, in, out), PyTorch (out, in, kh, kw)."),
            (close(got[0], fan_out) and close(got[1], fan_in),
             "fan_in and fan_out are swapped: fan_in counts the inputs of one output unit (c_in * kh * kw)."),
            (close(got[0], math.prod(shape)) or close(got[1], math.prod(shape)),
             "the product of all four dimensions is the number of weights, not a fan: leave the other side's "
             "channels out."),
            (close(got[0], fan_in) and close(got[1], c_out),
             "fan_in is right; fan_out counts the receptive field too: each input position feeds c_out * kh * kw "
             "outputs (both frameworks' initializers use c_out * kh * kw)."),
        ])
        return fail(f"{head}. " + (advice or "fan_in = c_in * kh * kw, fan_out = c_out * kh * kw."))
    return ok("fan_in = c_in * kh * kw and fan_out = c_out * kh * kw, read from either layout: what "
              "initializers.compute_fans and both frameworks' initializers compute.")


def _fixup(n_blocks: int, m: int) -> float:
    return n_blocks ** (-1.0 / (2 * m - 2))


@checker("Fixup's scale")
def check_fixup_scale(my_fixup_scale: Callable[[int, int], Any]) -> tuple[bool, str]:
    """Check ``my_fixup_scale(n_blocks, branch_depth)`` = ``L ** (-1 / (2m - 2))`` (Zhang et al. 2019, rule 2).

    Mistakes named: ``1 / sqrt(L)`` whatever ``m`` (right only for m = 2), the exponent
    ``-1/(2m)``, the variance's factor ``L ** (-1/(m-1))`` for the std's, ``1 / L``.
    """
    # (64, 4) first: there every named mistake gives a different number
    for n_blocks, m in [(64, 4), (16, 3), (81, 3), (16, 2), (10, 2)]:
        got = number(my_fixup_scale(n_blocks, m))
        if isinstance(got, str):
            return fail(got)
        expected = _fixup(n_blocks, m)
        if close(got, expected):
            continue
        head = f"for L={n_blocks} branches of m={m} layers you returned {got:.4g}; expected {expected:.4g}"
        advice = first_match([
            (close(got, n_blocks ** -0.5),
             "1/sqrt(L) is the m = 2 case only: each of the m - 1 scaled layers of a branch takes its share, so the "
             "exponent is -1/(2m - 2)."),
            (close(got, n_blocks ** (-1.0 / (2 * m))),
             "the exponent is -1/(2m - 2), not -1/(2m): the branch's last layer starts at zero and is not scaled, "
             "so only m - 1 layers share the factor."),
            (close(got, n_blocks ** (-1.0 / (m - 1))),
             "that is the factor on the weights' *variance*; the weights themselves (their std) get its square root."),
            (close(got, 1.0 / n_blocks), "1/L would shrink each branch far more than Fixup does: L^(-1/(2m-2))."),
        ])
        return fail(f"{head}. " + (advice or "Fixup scales the inner weights by L^(-1/(2m-2))."))
    return ok("L^(-1/(2m-2)): 1/4 for 16 two-layer branches, so each branch's contribution to an update "
              "shrinks as the network deepens and the total stays O(1).")


@checker("growth of the residual stream")
def check_residual_growth(my_growth: Callable[[int, float], Any]) -> tuple[bool, str]:
    """Check ``my_growth(n_blocks, gain)`` = ``(1 + gain) ** n_blocks``: the factor by which ``E[h^2]`` grows
    when each block adds a branch whose output has second moment ``gain * E[h^2]``, uncorrelated with ``h``.

    Mistakes named: ``gain ** n_blocks`` (the identity path forgotten), ``1 + n_blocks * gain``
    (added, not compounded), the std's factor ``sqrt(1 + gain) ** n_blocks``.
    """
    for n_blocks, gain in [(16, 2.0), (8, 2.0), (10, 0.5), (4, 1.0 / 18)]:
        got = number(my_growth(n_blocks, gain))
        if isinstance(got, str):
            return fail(got)
        expected = (1 + gain) ** n_blocks
        if close(got, expected):
            continue
        head = f"for {n_blocks} blocks of gain {gain:g} you returned {got:.4g}; expected {expected:.4g}"
        advice = first_match([
            (close(got, gain**n_blocks), "the identity path is missing: h_b = h_{b-1} + F(h_{b-1}), so E[h_b^2] = "
                                         "E[h_{b-1}^2] + gain E[h_{b-1}^2] = (1 + gain) E[h_{b-1}^2]."),
            (close(got, 1 + n_blocks * gain), "each block multiplies what it receives, which already grew: the growth "
                                              "compounds, (1 + gain)^B, not 1 + B gain."),
            (close(got, (1 + gain) ** (n_blocks / 2)), "that is the growth of the std; the question asks for the "
                                                       "second moment E[h^2]: (1 + gain)^B."),
        ])
        return fail(f"{head}. " + (advice or "E[h^2] multiplies by (1 + gain) per block."))
    return ok("(1 + gain)^B: with He branches of two layers (gain 2) that is 3^16 = 4.3e7 over 16 blocks -- "
              "a std 6,561 times the stem's.")
