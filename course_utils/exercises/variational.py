"""Checkers for notebook 10 (variational / Bayesian initialization).

* :func:`check_rho` -- the unconstrained ``rho`` that gives a posterior std ``sigma``
  through ``sigma = softplus(rho) = log(1 + e^rho)`` (Blundell et al. 2015);
* :func:`check_sampled_std` -- the spread of a weight *sampled* at initialization,
  ``sqrt(Var(mu) + sigma^2)``;
* :func:`check_largest_sigma0` -- choosing ``sigma0`` for a layer of another width: the
  largest posterior std that keeps the sampled weights' spread within a tolerance of
  He's, ``sqrt(2 / fan_in) sqrt((1 + tolerance)^2 - 1)``;
* :func:`check_gaussian_kl` -- the closed-form ``KL(N(mu, sigma^2) || N(0, sigma_p^2))``
  per weight, the price the ELBO charges for moving the posterior away from the prior.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import checker, close, fail, ok
from ._common import array, check_cases, diagnose, first_match, first_miss

__all__ = [
    "reference_rho",
    "reference_sampled_std",
    "reference_largest_sigma0",
    "reference_gaussian_kl",
    "check_rho",
    "check_sampled_std",
    "check_largest_sigma0",
    "check_gaussian_kl",
]


def _softplus(x: float) -> float:
    return float(np.logaddexp(0.0, x))


# ------------------------------------------------------------------------ rho


def reference_rho(sigma: float) -> float:
    """``rho = log(e^sigma - 1)``, the inverse of ``softplus``, written ``log(expm1(sigma))``."""
    return math.log(math.expm1(sigma))


@checker("rho for a target posterior std")
def check_rho(my_rho: Callable[[float], Any]) -> tuple[bool, str]:
    """Check ``my_rho(sigma)``: the ``rho`` with ``softplus(rho) = log(1 + e^rho) = sigma``."""
    miss = first_miss(my_rho, reference_rho, [(1.0,), (0.05,), (1e-3,), (5.0,)], rtol=1e-6)
    if miss:
        (sigma,), got, expected = miss
        label = f"sigma = {sigma:g}"
        if isinstance(got, str):
            return fail(f"for {label} return one number, rho.")
        return fail(f"for {label} " + (diagnose(got, expected, [
            (math.log(sigma), f"you returned log(sigma) = {got:.4g}: that inverts exp, not softplus. softplus(rho) = "
                              f"log(1 + e^rho) = sigma gives rho = log(e^sigma - 1) = {expected:.4g} (close to "
                              "log(sigma) only when sigma is small)."),
            (_softplus(sigma), f"you applied softplus to sigma ({got:.4g}); you need its inverse, log(e^sigma - 1) = "
                               f"{expected:.4g}."),
            (sigma, f"you returned sigma itself; the layer stores rho and uses softplus(rho), which would then be "
                    f"{_softplus(sigma):.4g}, not {sigma:g}."),
            (math.expm1(sigma), f"you returned e^sigma - 1 = {got:.4g}; take its logarithm: {expected:.4g}."),
            (-expected, f"your sign is flipped: rho = log(e^sigma - 1) = {expected:.4g}."),
        ], rtol=1e-6) or (f"you returned {got:.4g}; softplus of it is {_softplus(got):.4g}, not {sigma:g}. Expected "
                          f"rho = log(e^sigma - 1) = {expected:.4g}.")))
    return ok(f"rho = {reference_rho(1e-3):.3f} gives sigma = 0.001, the course's default; initializers.posterior_rho "
              "computes the same (with care for tiny and large sigma).")


# ------------------------------------------------------------- sampled weight spread


def reference_sampled_std(mu_std: float, sigma: float) -> float:
    """Std of ``w = mu + sigma * eps`` over a layer when ``mu`` has std ``mu_std``: ``sqrt(mu_std^2 + sigma^2)``."""
    return math.sqrt(mu_std**2 + sigma**2)


@checker("spread of a sampled weight at initialization")
def check_sampled_std(my_sampled_std: Callable[[float, float], Any]) -> tuple[bool, str]:
    """Check ``my_sampled_std(mu_std, sigma)``: the std over a layer of ``w = mu + sigma * eps``,
    with ``mu`` of std ``mu_std`` and ``eps ~ N(0, 1)`` independent of it."""
    miss = first_miss(my_sampled_std, reference_sampled_std, [(0.05, 0.2), (0.05, 1e-3), (0.05, 0.05), (0.0, 1.0)],
                      rtol=1e-6)
    if miss:
        (mu_std, sigma), got, expected = miss
        label = f"mu_std = {mu_std:g}, sigma = {sigma:g}"
        if isinstance(got, str):
            return fail(f"for {label} return one number, the std of the sampled weights.")
        return fail(f"for {label} " + (diagnose(got, expected, [
            (mu_std + sigma, f"you added the stds ({got:.4g}); independent sources add their VARIANCES: "
                             f"sqrt(mu_std^2 + sigma^2) = {expected:.4g}."),
            (expected**2, f"you returned the variance {got:.4g}; take its square root: {expected:.4g}."),
            (sigma, f"you returned sigma alone; the means mu differ from weight to weight too, so their spread "
                    f"adds: {expected:.4g}."),
            (mu_std, f"you returned mu_std alone; the sampling noise sigma adds to it: {expected:.4g}."),
        ], rtol=1e-6) or f"you returned {got:.4g}; expected sqrt(mu_std^2 + sigma^2) = {expected:.4g}."))
    return ok("with He means for 784 inputs (std 0.05) a sigma of 0.001 changes the spread by 0.02%, a sigma of 0.2 "
              "makes it four times larger: the noise, not the means, then decides what the network computes.")


# ------------------------------------------------------- choosing sigma0 for a new width


def reference_largest_sigma0(fan_in: int, tolerance: float) -> float:
    """The largest ``sigma0`` with ``sqrt(Var(mu) + sigma0^2) <= (1 + tolerance) std(mu)`` for He means
    (``Var(mu) = 2 / fan_in``): ``sigma0 = sqrt(2 / fan_in) sqrt((1 + tolerance)^2 - 1)``."""
    return math.sqrt(2 / fan_in) * math.sqrt((1 + tolerance) ** 2 - 1)


def _largest_sigma0_advice(fan_in: int, tolerance: float, got: float, expected: float) -> str:
    """What to tell a learner whose sigma0 for this width and tolerance is ``got``, not ``expected``."""
    mu_std, widen = math.sqrt(2 / fan_in), (1 + tolerance) ** 2 - 1
    return f"for fan_in = {fan_in}, tolerance = {tolerance:g} " + (diagnose(got, expected, [
        (tolerance * mu_std, f"you returned tolerance x std(mu) = {got:.4g}, as if the stds added; independent "
                             "sources add their VARIANCES, so sigma0 may be much larger than that: "
                             f"{expected:.4g}."),
        (mu_std * math.sqrt(tolerance), f"you let the VARIANCE grow by the tolerance ({got:.4g}); the tolerance "
                                        "bounds the std: (1 + tolerance)^2 Var(mu) = Var(mu) + sigma0^2."),
        (mu_std * math.sqrt(2 * tolerance), f"you used the small-tolerance approximation (1 + t)^2 - 1 ~ 2t "
                                            f"({got:.4g}); solve exactly: sqrt(Var(mu) ((1 + t)^2 - 1)) = "
                                            f"{expected:.4g}."),
        (math.sqrt(widen / fan_in), f"you took std(mu) = sqrt(1 / fan_in), LeCun's; He's means have "
                                    f"Var(mu) = 2 / fan_in (expected {expected:.4g})."),
        (mu_std**2 * widen, f"you returned a variance, sigma0^2 = {got:.4g}; take its square root: "
                            f"{expected:.4g}."),
        (mu_std * widen, f"you forgot a square root: sigma0^2 = Var(mu) ((1 + t)^2 - 1), so sigma0 = std(mu) "
                         f"sqrt((1 + t)^2 - 1) = {expected:.4g}."),
        (mu_std * (1 + tolerance), f"you returned the largest allowed spread of the sampled weights "
                                   f"({got:.4g}); sigma0 is the part of it that the noise adds: {expected:.4g}."),
        (reference_largest_sigma0(784, tolerance),
         f"your answer is right for 784 inputs, not for {fan_in}: He's std(mu) = sqrt(2 / fan_in) shrinks as the "
         f"layer widens, and sigma0 must shrink with it ({expected:.4g})."),
    ], rtol=1e-6) or (f"you returned {got:.4g}; then the sampled weights' std is "
                  f"{reference_sampled_std(mu_std, got) / mu_std:.4g} x std(mu), not {1 + tolerance:g} x. "
                  f"Expected {expected:.4g}."))


@checker("sigma0 for a layer of another width")
def check_largest_sigma0(my_largest_sigma0: Callable[[int, float], Any]) -> tuple[bool, str]:
    """Check ``my_largest_sigma0(fan_in, tolerance)``: the largest initial posterior std that keeps the spread of
    the sampled weights ``w = mu + sigma0 eps`` at most ``1 + tolerance`` times that of the He means alone."""
    wrong = check_cases(my_largest_sigma0, reference_largest_sigma0, [(784, 0.1), (4096, 0.1), (100, 0.5), (784, 0.01)],
                        _largest_sigma0_advice, rtol=1e-6)
    if wrong:
        return fail(wrong)
    best, library = reference_largest_sigma0(784, 0.1), reference_sampled_std(math.sqrt(2 / 784), 0.05)
    return ok(f"for section 3's 784 inputs and 10%: sigma0 = {best:.4f}. The libraries' sigma0 = 0.05 widens the "
              f"spread by {library / math.sqrt(2 / 784) - 1:.0%}: noisy at the start, yet it trained as well there; "
              f"for 4096 inputs the same 10% allows only {reference_largest_sigma0(4096, 0.1):.4f}.")


# ------------------------------------------------------------------------- KL


def reference_gaussian_kl(mu: Any, sigma: Any, prior_sigma: float) -> np.ndarray:
    """Per weight ``KL(N(mu, sigma^2) || N(0, prior_sigma^2)) = log(prior_sigma / sigma) + (sigma^2 + mu^2) / (2 prior_sigma^2) - 1/2``."""
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    return np.log(prior_sigma / sigma) + (sigma**2 + mu**2) / (2 * prior_sigma**2) - 0.5


# Prior stds the KL is checked with: 1 first (where the usual slips show), then two others, where a
# formula that leaves sigma_p out of one term (harmless at sigma_p = 1) gives other numbers.
_KL_PRIORS = (1.0, 0.5, 2.0)


def _kl_mistake(got: np.ndarray, mu: np.ndarray, sigma: np.ndarray, prior: float) -> str:
    """Advice for per-weight KL values ``got`` that are not the right ones."""
    expected = reference_gaussian_kl(mu, sigma, prior)
    second = (sigma**2 + mu**2) / (2 * prior**2)

    def gave(value: np.ndarray) -> bool:  # the learner computed ``value``, and ``value`` is not the answer
        return np.allclose(got, value, rtol=1e-6) and not np.allclose(value, expected, rtol=1e-6)

    advice = first_match([
        (gave(expected + 0.5), "your values are all 1/2 too large: the formula ends with - 1/2 (so that KL = 0 when "
                               "q = p)."),
        (gave(np.log(sigma / prior) + (prior**2 + mu**2) / (2 * sigma**2) - 0.5),
         "you computed KL(p || q), the prior measured against the posterior; Bayes by Backprop uses KL(q || p) = "
         "log(sigma_p / sigma) + (sigma^2 + mu^2) / (2 sigma_p^2) - 1/2."),
        (gave(expected - mu**2 / (2 * prior**2)), "you left out mu^2: a posterior whose mean is far from the prior's "
                                                  "0 costs more."),
        (gave(2 * np.log(prior / sigma) + second - 0.5),
         "your log term is twice too large: log(sigma_p / sigma) uses the stds (= 1/2 log of the variance ratio)."),
        (gave(np.log(prior / sigma) + (sigma + mu**2) / (2 * prior**2) - 0.5),
         "in the second term use the variance sigma^2, not sigma."),
        (gave(np.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5),
         f"that is the KL from N(0, 1), whatever the prior; with prior_sigma = {prior:g} both terms change: "
         "log(sigma_p / sigma) + (sigma^2 + mu^2) / (2 sigma_p^2) - 1/2."),
        (gave(np.log(1 / sigma) + second - 0.5),
         f"your log term leaves out the prior: it is log(sigma_p / sigma), which matters when prior_sigma = "
         f"{prior:g} is not 1."),
        (gave(np.log(prior / sigma) + (sigma**2 + mu**2) / 2 - 0.5),
         f"your second term leaves out the prior: divide sigma^2 + mu^2 by 2 sigma_p^2 (prior_sigma = {prior:g})."),
        (gave(np.log(prior / sigma) + (sigma**2 + mu**2) / (2 * prior) - 0.5),
         "divide by 2 sigma_p^2, the prior's VARIANCE, not by 2 sigma_p."),
        (gave(np.log(sigma / prior) + second - 0.5),
         "your log term is upside down: it is log(sigma_p / sigma), which grows as the posterior narrows."),
    ])
    if advice:
        return advice
    worst = int(np.argmax(np.abs(got - expected)))
    return (f"for mu = {mu[worst]:g}, sigma = {sigma[worst]:g}, prior_sigma = {prior:g} you returned "
            f"{got[worst]:.4g}; expected {expected[worst]:.4g} = log(sigma_p / sigma) + (sigma^2 + mu^2) / "
            "(2 sigma_p^2) - 1/2.")


@checker("KL divergence from the prior")
def check_gaussian_kl(my_kl: Callable[[np.ndarray, np.ndarray, float], Any]) -> tuple[bool, str]:
    """Check ``my_kl(mu, sigma, prior_sigma)``: one ``KL(N(mu, sigma^2) || N(0, prior_sigma^2))`` per weight
    (an array shaped like ``mu``), for the prior stds in ``_KL_PRIORS``."""
    mu = np.array([0.0, 0.5, -0.3, 0.05, 0.0])
    for prior in _KL_PRIORS:
        sigma = np.array([prior, 0.1, 0.5, 1e-3, 2.0 * prior])  # the first weight's posterior is the prior
        expected = reference_gaussian_kl(mu, sigma, prior)
        raw = my_kl(mu.copy(), sigma.copy(), prior)
        got = array(raw)
        if got is None:
            return fail(f"return a NumPy array of KL values, one per weight; got {type(raw).__name__}.")
        if got.shape == () and close(float(got), float(expected.sum()), rtol=1e-6):
            return fail("you returned the sum over the weights; return one KL per weight (an array shaped like mu) "
                        "-- the layer sums them afterwards.")
        if got.shape != mu.shape:
            return fail(f"return one KL per weight, an array of shape {mu.shape}; got shape {got.shape}.")
        if not np.allclose(got, expected, rtol=1e-6, atol=1e-12):
            return fail(_kl_mistake(got, mu, sigma, prior))
        if not close(float(got[0]), 0.0, atol=1e-12):
            return fail("KL(q || p) must be exactly 0 when q = p (mu = 0, sigma = prior_sigma).")
    return ok("KL is 0 when the posterior equals the prior and grows as sigma shrinks: a posterior started at "
              "sigma = 0.001 pays about log(1/0.001) - 1/2 = 6.4 nats per weight at once (prior_sigma = 1).")
