"""Initial posterior parameters for variational (Bayes-by-Backprop) layers.

A mean-field Gaussian posterior keeps, per weight, a mean ``mu`` and an
unconstrained ``rho`` with ``sigma = softplus(rho) = log(1 + exp(rho))`` so that
``sigma > 0`` whatever the optimizer does (Blundell et al. 2015, "Weight
Uncertainty in Neural Networks"). Initialization then means two choices:

* ``mu`` from any deterministic scheme (He, Glorot, ...): at ``sigma -> 0`` the
  network is the ordinary one, so the usual variance arguments apply;
* ``rho`` so that ``softplus(rho)`` equals a small target ``sigma``:
  ``rho = log(expm1(sigma))``. Too large a sigma drowns the signal in weight noise
  (the sampled weight's variance is ``Var(mu) + sigma^2``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_number
from ._core import Initializer, RandomNormal, _rng
from ._registry import constant, get

__all__ = ["softplus", "posterior_rho", "posterior_sigma", "posterior_initializers", "sample_posterior"]


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, computed without overflow; a float for a float, an array for an array."""
    arr = np.asarray(x, dtype=np.float64)
    out = np.logaddexp(0.0, arr)
    return float(out) if out.ndim == 0 else out


def posterior_sigma(rho: Any) -> Any:
    """The posterior std ``sigma = softplus(rho)``."""
    return softplus(rho)


def posterior_rho(target_sigma: float) -> float:
    """The ``rho`` with ``softplus(rho) = target_sigma``: ``rho = log(expm1(sigma))``.

    Written as ``sigma + log(-expm1(-sigma))`` (the same number) so it neither
    overflows for a large sigma nor loses digits for a tiny one.
    Example: ``posterior_rho(0.01) = -4.600`` (``log(e^0.01 - 1)``).
    """
    s = check_number("target_sigma", target_sigma, low=0.0, low_inclusive=False)
    return s + math.log(-math.expm1(-s))


def posterior_initializers(mean: str | Initializer = "he_normal", sigma: float = 1e-3,
                           rho_jitter: float = 0.0, **mean_params: Any) -> dict[str, Initializer]:
    """Initializers for a variational layer's ``mu`` and ``rho``.

    Returns ``{"mean": <scheme>, "rho": <Initializer>}``: ``mean`` is any
    registry scheme (with ``mean_params``); ``rho`` is the constant
    ``posterior_rho(sigma)``, or ``N(posterior_rho(sigma), rho_jitter^2)`` when
    ``rho_jitter > 0`` (some implementations spread the initial sigmas a little).
    Both have ``.to_keras()`` and ``.apply_torch_()`` like every scheme.
    """
    jitter = check_number("rho_jitter", rho_jitter, low=0.0)
    rho0 = posterior_rho(sigma)
    rho_init = constant(rho0) if jitter == 0 else RandomNormal(rho0, jitter)
    return {"mean": get(mean, **mean_params), "rho": rho_init}


def sample_posterior(shape: Sequence[int], mean: str | Initializer = "he_normal", sigma: float = 1e-3,
                     rho_jitter: float = 0.0, seed: int | None = None, layout: str = "keras",
                     **mean_params: Any) -> tuple[np.ndarray, np.ndarray]:
    """NumPy ``(mu, rho)`` arrays of ``shape`` for a variational layer (see :func:`posterior_initializers`)."""
    inits = posterior_initializers(mean, sigma, rho_jitter, **mean_params)
    rng = _rng(seed)
    mu = inits["mean"].sample(shape, seed=rng, layout=layout)
    rho = inits["rho"].sample(shape, seed=rng, layout=layout)
    return mu, rho
