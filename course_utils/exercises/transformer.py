"""Checkers for notebook 14 (transformers): GPT-2's scaled residual projections.

* :func:`check_residual_projection_std` -- the std GPT-2 (nanoGPT) gives the output projection of each
  residual branch of an ``n_layer``-block transformer: ``0.02 / sqrt(2 n_layer)``.

Each names the usual wrong answers (a mistake table, as in :mod:`.variance_scaling`).
Nothing here imports TensorFlow or PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import checker, close, fail, ok
from ._common import first_match, number

__all__ = ["check_residual_projection_std"]


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
