"""The checkers of notebook 08: solutions pass, typical mistakes get their specific advice, stubs say "not done yet"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.exercises import STUB_MARKER, ExerciseFailed, orthogonal


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*_args, **_kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: use np.linalg.qr.")


def _raises(*_args, **_kwargs):
    return 1 / 0


def _assert_fails_with(feedback, *fragments):
    assert not feedback.passed and feedback.status == "failed", feedback
    for fragment in fragments:
        assert fragment in feedback.message, (fragment, feedback.message)


# ------------------------------------------------------------------ orthogonal


def orthogonal_solution(n, rng):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def test_orthogonal_solution_passes():
    assert orthogonal.check_orthogonal(orthogonal_solution).status == "passed"


def test_other_haar_constructions_pass():
    def via_svd(n, rng):
        u, _, vt = np.linalg.svd(rng.normal(size=(n, n)))
        return u @ vt

    def float32(n, rng):
        return orthogonal_solution(n, rng).astype(np.float32)

    assert orthogonal.check_orthogonal(via_svd).passed
    assert orthogonal.check_orthogonal(float32).passed


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda n, rng: np.linalg.qr(rng.normal(size=(n, n)))[0], ["not uniformly random", "np.sign(np.diag(r))"]),
        (lambda n, rng: np.linalg.qr(rng.normal(size=(n, n)))[1], ["upper triangular", "Return Q"]),
        (lambda n, rng: rng.normal(size=(n, n)), ["Gaussian matrix itself"]),
        (lambda n, rng: 2 * orthogonal_solution(n, rng), ["length 2", "don't rescale"]),
        (lambda n, rng: (lambda a: a / np.linalg.norm(a, axis=0))(rng.normal(size=(n, n))), ["not perpendicular"]),
        (lambda n, rng: orthogonal_solution(n, np.random.default_rng(0)), ["same matrix", "rng"]),
        (lambda n, rng: orthogonal_solution(n + 1, rng), ["shape (7, 7)"]),
        (lambda n, rng: np.ones(n), ["vector of 6"]),
        (lambda n, rng: None, ["NoneType"]),
    ],
)
def test_orthogonal_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(orthogonal.check_orthogonal(wrong), *fragments)


def test_reference_orthogonal_is_orthogonal_and_unbiased():
    rng = np.random.default_rng(0)
    w = orthogonal.reference_orthogonal(50, rng)
    np.testing.assert_allclose(w @ w.T, np.eye(50), atol=1e-12)
    signs = [orthogonal.reference_orthogonal(3, rng)[0, 0] < 0 for _ in range(2000)]
    # fraction negative: 0.5 with sd 0.5/sqrt(2000) = 0.011; 0.06 is over 5 sd
    assert abs(np.mean(signs) - 0.5) < 0.06


# ------------------------------------------------------------ condition number


def condition_solution(kernels):
    product = kernels[0]
    for w in kernels[1:]:
        product = product @ w
    s = np.linalg.svd(product, compute_uv=False)
    return s[0] / s[-1]


def test_condition_solution_passes():
    assert orthogonal.check_condition_number(condition_solution).status == "passed"


def _product_reversed(kernels):
    product = kernels[-1]
    for w in kernels[-2::-1]:
        product = product @ w
    return product


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda ks: 1 / condition_solution(ks), ["other way up"]),
        (lambda ks: condition_solution(ks) ** 2, ["squared singular values"]),
        (lambda ks: (lambda s: s[0] / s[-1])(np.linalg.svd(_product_reversed(ks), compute_uv=False)),
         ["reverse order"]),
        (lambda ks: condition_solution(ks[-1:]), ["one kernel"]),
        (lambda ks: (lambda e: e.max() / e.min())(np.abs(np.linalg.eigvals(_prod(ks)))), ["eigenvalues"]),
        (lambda ks: np.linalg.svd(_prod(ks), compute_uv=False), ["one number"]),
        (lambda ks: condition_solution(ks) + 1.0, ["expected"]),
    ],
)
def test_condition_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(orthogonal.check_condition_number(wrong), *fragments)


def _prod(kernels):
    product = kernels[0]
    for w in kernels[1:]:
        product = product @ w
    return product


def test_condition_of_orthogonal_product_is_one():
    rng = np.random.default_rng(1)
    kernels = [orthogonal.reference_orthogonal(16, rng) for _ in range(20)]
    assert orthogonal.reference_condition_number(kernels) == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------ forget half-life


def half_life_solution(forget_bias):
    return math.log(0.5) / math.log(1 / (1 + math.exp(-forget_bias)))


def test_half_life_solution_passes():
    feedback = orthogonal.check_forget_half_life(half_life_solution)
    assert feedback.status == "passed"
    assert "2.21" in feedback.message  # Keras's forget bias 1


def _sigmoid(b):
    return 1 / (1 + math.exp(-b))


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda b: math.log(0.5) / math.log(b), ["log of the bias itself"]),
        (_sigmoid, ["fraction kept per step"]),
        (lambda b: -half_life_solution(b), ["positive"]),
        (lambda b: math.log(0.5) / math.log(1 - _sigmoid(b)), ["fraction forgotten"]),
        (lambda b: 1 / (1 - _sigmoid(b)), ["mean memory time"]),
        (lambda b: [half_life_solution(b)] * 2, ["one number"]),
        (lambda b: half_life_solution(b) * 2, ["expected"]),
    ],
)
def test_half_life_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(orthogonal.check_forget_half_life(wrong), *fragments)


# ------------------------------------------------------------------ every checker


CHECKERS = [orthogonal.check_orthogonal, orthogonal.check_condition_number, orthogonal.check_forget_half_life]


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

    code = ("import sys; from course_utils.exercises import orthogonal; "
            "print('tensorflow' in sys.modules or 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_orthogonal_from_the_global_generator_is_named():
    # np.random.* ignores the rng argument: two generators seeded alike give different matrices
    def global_rng(n, rng):
        return orthogonal_solution(n, np.random.default_rng(np.random.randint(2**31)))

    _assert_fails_with(orthogonal.check_orthogonal(global_rng), "seeded alike", "rng")
