"""The checkers of notebook 10: solutions pass, typical mistakes get their specific advice, stubs say "not done yet"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import initializers
from course_utils.exercises import STUB_MARKER, ExerciseFailed, variational


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*_args, **_kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: invert softplus.")


def _raises(*_args, **_kwargs):
    return 1 / 0


def _assert_fails_with(feedback, *fragments):
    assert not feedback.passed and feedback.status == "failed", feedback
    for fragment in fragments:
        assert fragment in feedback.message, (fragment, feedback.message)


# ------------------------------------------------------------------------ rho


def rho_solution(sigma):
    return np.log(np.expm1(sigma))


def test_rho_solution_passes():
    assert variational.check_rho(rho_solution).status == "passed"


def test_rho_plain_formula_passes():
    assert variational.check_rho(lambda s: math.log(math.exp(s) - 1)).passed


def test_rho_reference_agrees_with_the_registry():
    for sigma in (1e-3, 0.05, 1.0, 5.0):
        assert variational.reference_rho(sigma) == pytest.approx(initializers.posterior_rho(sigma), rel=1e-9)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (math.log, ["log(sigma)", "inverts exp"]),
        (lambda s: math.log1p(math.exp(s)), ["applied softplus"]),
        (lambda s: s, ["sigma itself"]),
        (math.expm1, ["take its logarithm"]),
        (lambda s: -rho_solution(s), ["sign"]),
        (lambda s: [1.0, 2.0], ["one number"]),
        (lambda s: rho_solution(s) + 0.3, ["Expected rho"]),
    ],
)
def test_rho_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(variational.check_rho(wrong), *fragments)


# ------------------------------------------------------------------ sampled std


def std_solution(mu_std, sigma):
    return math.sqrt(mu_std**2 + sigma**2)


def test_sampled_std_solution_passes():
    assert variational.check_sampled_std(std_solution).status == "passed"


def test_sampled_std_reference_matches_a_draw():
    rng = np.random.default_rng(0)
    mu = rng.normal(0.0, 0.05, size=200_000)
    w = mu + 0.2 * rng.normal(size=mu.size)
    # sample std of 200,000 draws: relative sd 1/sqrt(2 * 200,000) = 0.0016; 0.01 is 6 sd
    assert w.std() == pytest.approx(variational.reference_sampled_std(0.05, 0.2), rel=0.01)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda m, s: m + s, ["added the stds"]),
        (lambda m, s: m**2 + s**2, ["variance"]),
        (lambda m, s: s, ["sigma alone"]),
        (lambda m, s: m, ["mu_std alone"]),
        (lambda m, s: "0.2", ["one number"]),
        (lambda m, s: 2 * std_solution(m, s), ["expected"]),
    ],
)
def test_sampled_std_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(variational.check_sampled_std(wrong), *fragments)


# ------------------------------------------------------- sigma0 for a new width


def sigma0_solution(fan_in, tolerance):
    return math.sqrt(2 / fan_in) * math.sqrt((1 + tolerance) ** 2 - 1)


def test_largest_sigma0_solution_passes():
    feedback = variational.check_largest_sigma0(sigma0_solution)
    assert feedback.status == "passed" and "0.0231" in feedback.message and "41%" in feedback.message


def test_largest_sigma0_meets_the_tolerance_on_a_draw():
    # the reference sigma0 widens the spread of sampled He weights by the tolerance, no more: 400,000 draws give the
    # std to a relative sd of 1 / sqrt(2 * 400,000) = 0.0011; 0.005 is 4.5 sd, and the nearest wrong answer (the
    # first-order sqrt(2t)) gives 1.414 x at t = 0.5, 6% off
    rng = np.random.default_rng(0)
    mu = rng.normal(0.0, math.sqrt(2 / 100), size=400_000)
    w = mu + variational.reference_largest_sigma0(100, 0.5) * rng.normal(size=mu.size)
    assert w.std() / mu.std() == pytest.approx(1.5, rel=0.005)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda f, t: t * math.sqrt(2 / f), ["stds added", "VARIANCES"]),
        (lambda f, t: math.sqrt(2 / f) * math.sqrt(t), ["VARIANCE grow"]),
        (lambda f, t: math.sqrt(2 / f) * math.sqrt(2 * t), ["small-tolerance approximation"]),
        (lambda f, t: math.sqrt(1 / f) * math.sqrt((1 + t) ** 2 - 1), ["LeCun"]),
        (lambda f, t: sigma0_solution(f, t) ** 2, ["returned a variance"]),
        (lambda f, t: math.sqrt(2 / f) * ((1 + t) ** 2 - 1), ["forgot a square root"]),
        (lambda f, t: math.sqrt(2 / f) * (1 + t), ["largest allowed spread"]),
        (lambda f, t: sigma0_solution(784, t), ["right for 784 inputs, not for 4096"]),
        (lambda f, t: 0.05, ["1.407 x std(mu), not 1.1 x"]),
        (lambda f, t: "0.02", ["should be a number", "str"]),
    ],
)
def test_largest_sigma0_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(variational.check_largest_sigma0(wrong), *fragments)


# ------------------------------------------------------------------------- KL


def kl_solution(mu, sigma, prior_sigma):
    return np.log(prior_sigma / sigma) + (sigma**2 + mu**2) / (2 * prior_sigma**2) - 0.5


def test_kl_solution_passes():
    assert variational.check_gaussian_kl(kl_solution).status == "passed"


def test_kl_reference_matches_a_bayesian_layer():
    pytest.importorskip("torch")
    from course_utils import models

    layer = models.bayesian_dense("torch", 3, 2, target_sigma=0.3, prior_sigma=1.0, seed=0)
    mu = np.concatenate([layer.weight_mu.detach().numpy().ravel(), layer.bias_mu.detach().numpy().ravel()])
    expected = variational.reference_gaussian_kl(mu, np.full(mu.shape, 0.3), 1.0).sum()
    assert float(layer.kl()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda m, s, p: kl_solution(m, s, p).sum(), ["sum over the weights"]),
        (lambda m, s, p: kl_solution(m, s, p) + 0.5, ["1/2 too large"]),
        (lambda m, s, p: np.log(s / p) + (p**2 + m**2) / (2 * s**2) - 0.5, ["KL(p || q)"]),
        (lambda m, s, p: np.log(p / s) + s**2 / (2 * p**2) - 0.5, ["mu^2"]),
        (lambda m, s, p: 2 * np.log(p / s) + (s**2 + m**2) / (2 * p**2) - 0.5, ["twice too large"]),
        (lambda m, s, p: np.log(p / s) + (s + m**2) / (2 * p**2) - 0.5, ["variance sigma^2"]),
        (lambda m, s, p: kl_solution(m, s, p)[:3], ["shape"]),
        (lambda m, s, p: kl_solution(m, s, p) * 1.1, ["expected"]),
    ],
)
def test_kl_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(variational.check_gaussian_kl(wrong), *fragments)


# ------------------------------------------------------------------ every checker


CHECKERS = [variational.check_rho, variational.check_sampled_std, variational.check_largest_sigma0,
            variational.check_gaussian_kl]


@pytest.mark.parametrize("check", CHECKERS)
def test_stub_says_not_done_yet(check):
    feedback = check(_stub)
    assert feedback.status == "not done" and "not done yet" in feedback.message


@pytest.mark.parametrize("check", CHECKERS)
def test_learner_exception_becomes_a_message(check):
    feedback = check(_raises)
    assert feedback.status == "error" and "ZeroDivisionError" in feedback.message


@pytest.mark.parametrize("check", CHECKERS)
def test_strict_mode_raises_on_failure(check, monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        check(_stub)


def test_checkers_do_not_load_frameworks():
    import subprocess
    import sys

    code = ("import sys; from course_utils.exercises import variational; "
            "print('tensorflow' in sys.modules or 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------- holes closed after the expert review


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda m, s, p: np.log(1 / s) + (s**2 + m**2) / 2 - 0.5, ["KL from N(0, 1)", "prior_sigma = 0.5"]),
        (lambda m, s, p: np.log(1 / s) + (s**2 + m**2) / (2 * p**2) - 0.5, ["log term leaves out the prior"]),
        (lambda m, s, p: np.log(p / s) + (s**2 + m**2) / 2 - 0.5, ["second term leaves out the prior"]),
        (lambda m, s, p: np.log(p / s) + (s**2 + m**2) / (2 * p) - 0.5, ["VARIANCE, not by 2 sigma_p"]),
        (lambda m, s, p: kl_solution(m, s, p) if p == 1.0 else kl_solution(m, s, 1.0), ["prior_sigma = 0.5"]),
    ],
)
def test_kl_formulas_right_only_for_a_unit_prior_fail(wrong, fragments):
    _assert_fails_with(variational.check_gaussian_kl(wrong), *fragments)


def test_kl_log_term_upside_down_is_named():
    _assert_fails_with(variational.check_gaussian_kl(
        lambda m, s, p: np.log(s / p) + (s**2 + m**2) / (2 * p**2) - 0.5), "upside down")
