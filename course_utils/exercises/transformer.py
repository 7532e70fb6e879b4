"""Checkers for notebook 14 (transformers): GPT-2's scaled residual projections.

* :func:`check_residual_projection_std` -- the std GPT-2 (nanoGPT) gives the output projection of each
  residual branch of an ``n_layer``-block transformer: ``0.02 / sqrt(2 n_layer)``;
* :func:`check_attention_logit_std` -- the std of an attention logit ``q.k / sqrt(d_head)`` at initialization
  when the query and key weights have std ``sigma``: ``d_model * sigma**2``.

Each names the usual wrong answers (a mistake table, as in :mod:`.variance_scaling`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import checker, close, fail, ok
from ._common import first_match, number

__all__ = ["check_residual_projection_std", "check_attention_logit_std"]


@checker("GPT-2's residual projection std")
def check_residual_projection_std(my_projection_std: Callable[[int], Any]) -> tuple[bool, str]:
    """Check ``my_projection_std(n_layer)`` = ``0.02 / sqrt(2 n_layer)``.

    Mistakes named: ``0.02 / sqrt(n_layer)`` (one branch per block counted, not two),
    ``0.02 / (2 n_layer)`` (the variance's factor applied to the std), ``0.02 * sqrt(2 n_layer)``
    (the wrong direction), ``0.02`` (no scaling), ``1 / sqrt(2 n_layer)`` (the 0.02 left out).
    """
    for n_layer in (12, 4, 48, 1):
        got = number(my_projection_std(n_layer))
        if isinstance(got, str):
            return fail(got)
        expected = 0.02 / math.sqrt(2 * n_layer)
        if close(got, expected):
            continue
        head = f"for n_layer={n_layer} you returned {got:.4g}; expected {expected:.4g}"
        advice = first_match([
            (close(got, 0.02 / math.sqrt(n_layer)),
             "each block has two residual branches (attention and MLP), each ending in a projection: "
             "2 n_layer additions to the stream, not n_layer."),
            (close(got, 0.02 / (2 * n_layer)),
             "1/(2 n_layer) is the factor on the *variance* each branch adds; the weights' std gets its square root."),
            (close(got, 0.02 * math.sqrt(2 * n_layer)), "the scaling shrinks the projections: divide, not multiply."),
            (close(got, 0.02), "0.02 is every other weight's std; the residual projections are scaled down with depth."),
            (close(got, 1 / math.sqrt(2 * n_layer)), "start from GPT-2's std 0.02, then scale it."),
        ])
        return fail(f"{head}. " + (advice or "Make the variance the 2 n_layer branches add sum to what one adds."))
    return ok("0.02 / sqrt(2 n_layer): the 2 n_layer branches together add the variance one unscaled branch would, "
              "whatever the depth.")


@checker("attention-logit scale at initialization")
def check_attention_logit_std(my_logit_std: Callable[[int, float], Any]) -> tuple[bool, str]:
    """Check ``my_logit_std(d_model, sigma)`` = ``d_model * sigma**2``.

    ``q = W_q LN(x)`` has entries of variance ``d_model sigma^2`` (LN's output has variance 1); the dot
    product of ``d_head`` such independent pairs has variance ``d_head (d_model sigma^2)^2``, and dividing by
    ``sqrt(d_head)`` leaves std ``d_model sigma^2``. Mistakes named: ``sqrt(d_model) sigma`` (one entry of
    ``q``, not the logit), ``(d_model sigma^2)^2`` (the variance), ``d_model sigma`` (sigma not squared).
    """
    for d_model, sigma in ((64, 0.02), (768, 0.02), (64, 0.1), (256, 1 / 16)):
        got = number(my_logit_std(d_model, sigma))
        if isinstance(got, str):
            return fail(got)
        s = d_model * sigma**2
        if close(got, s):
            continue
        head = f"for d_model={d_model}, sigma={sigma:g} you returned {got:.4g}; expected {s:.4g}"
        advice = first_match([
            (close(got, math.sqrt(d_model) * sigma),
             "that is the std of one entry of q (or k); the logit multiplies a q entry by a k entry: two such factors."),
            (close(got, s**2), "that is the logit's variance; return its standard deviation."),
            (close(got, d_model * sigma), "sigma enters squared: Var(q_i) = d_model * sigma^2."),
        ])
        return fail(f"{head}. " + (advice or "Var(q_i) = Var(k_i) = d_model sigma^2; the 1/sqrt(d_head) cancels the "
                                   "sum over d_head products."))
    return ok("d_model * sigma^2: 0.026 for GPT-2 at d_model 64, 0.31 at 768 -- the 1/sqrt(d_head) removes the "
              "head size, not the width.")
