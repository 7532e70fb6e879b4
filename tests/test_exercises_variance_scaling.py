"""Checkers of notebooks 05-07: solutions pass, typical mistakes get their specific advice, stubs say
"not done yet", and nothing raises outside strict mode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.exercises import MARKS, NOT_DONE, STUB_MARKER, ExerciseFailed
from course_utils.exercises import variance_scaling as vs

TN = vs.TRUNCATED_NORMAL_STD


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*args, **kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: fill in the formula.")


def _truncated(rng, size, scale):
    w = rng.normal(0.0, scale, size)
    bad = np.abs(w) > 2 * scale
    while bad.any():
        w[bad] = rng.normal(0.0, scale, int(bad.sum()))
        bad = np.abs(w) > 2 * scale
    return w


# -------------------------------------------------------------- solutions


def glorot_std(fan_in, fan_out):
    return math.sqrt(2 / (fan_in + fan_out))


def truncated_scale(target_std):
    return target_std / 0.87962566


def glorot_normal(shape, rng):
    return _truncated(rng, shape, glorot_std(*shape) / 0.87962566)


def glorot_uniform(shape, rng):  # PyTorch layout (fan_out, fan_in)
    fan_out, fan_in = shape
    limit = math.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he_std(fan_in, fan_out, negative_slope=0.0):
    return math.sqrt(2 / ((1 + negative_slope**2) * fan_in))


def variance_factors(fan_in, fan_out, mode):
    var_w = 2 / (fan_in if mode == "fan_in" else fan_out)
    return fan_in * var_w / 2, fan_out * var_w / 2


def kaiming_normal(shape, rng, mode="fan_in"):
    n = shape[1] if mode == "fan_in" else shape[0]
    return rng.normal(0.0, math.sqrt(2 / n), size=shape)


def selu(x):
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))


def selu_moments(variance):
    z = np.random.default_rng(0).normal(0.0, math.sqrt(variance), 1_000_000)
    s = selu(z)
    return s.mean(), s.var()


def lecun_std(fan_in, fan_out):
    return math.sqrt(1 / fan_in)


SOLUTIONS = [
    (vs.check_truncated_scale, truncated_scale),
    (vs.check_glorot_normal_sample, glorot_normal),
    (vs.check_glorot_uniform_fix, glorot_uniform),
    (vs.check_he_std, he_std),
    (vs.check_relu_variance_factors, variance_factors),
    (vs.check_kaiming_normal_sample, kaiming_normal),
    (vs.check_selu, selu),
    (vs.check_selu_moments, selu_moments),
    (vs.check_lecun_std, lecun_std),
]


@pytest.mark.parametrize(("check", "solution"), SOLUTIONS, ids=[c.__name__ for c, _ in SOLUTIONS])
def test_solution_passes(check, solution, capsys):
    feedback = check(solution)
    assert feedback.passed, feedback.message
    assert feedback.status == "passed"
    assert MARKS["passed"] in capsys.readouterr().out


@pytest.mark.parametrize("check", [c for c, _ in SOLUTIONS], ids=[c.__name__ for c, _ in SOLUTIONS])
def test_stub_is_not_done(check):
    feedback = check(_stub)
    assert not feedback.passed
    assert feedback.status == "not done"
    assert feedback.message == NOT_DONE and "fill in the formula" not in feedback.message  # the hint is not repeated


@pytest.mark.parametrize("check", [c for c, _ in SOLUTIONS], ids=[c.__name__ for c, _ in SOLUTIONS])
def test_crashing_answer_is_a_message(check):
    def broken(*args, **kwargs):
        return 1 / 0

    feedback = check(broken)
    assert not feedback.passed and feedback.status == "error"
    assert "ZeroDivisionError" in feedback.message


@pytest.mark.parametrize("check", [c for c, _ in SOLUTIONS], ids=[c.__name__ for c, _ in SOLUTIONS])
def test_none_is_a_message(check):
    feedback = check(lambda *args, **kwargs: None)
    assert not feedback.passed and feedback.status == "failed"


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        vs.check_he_std(lambda fan_in, fan_out, negative_slope=0.0: math.sqrt(2 / fan_out))
    assert vs.check_he_std(he_std).passed  # a right answer passes in strict mode too


# ------------------------------------------------------- specific advice, notebook 05


@pytest.mark.parametrize(("wrong", "advice"), [
    (lambda t: t, "12% too small"),
    (lambda t: t * TN, "multiplied"),
    (lambda t: t / TN**2, "variance"),
    (lambda t: 2 * t, "2 x target"),
])
def test_truncated_scale_advice(wrong, advice):
    feedback = vs.check_truncated_scale(wrong)
    assert not feedback.passed and advice in feedback.message


def _plain_normal(shape, rng):
    return rng.normal(0.0, glorot_std(*shape), size=shape)


def _unscaled_truncation(shape, rng):
    return _truncated(rng, shape, glorot_std(*shape))


def _clipped(shape, rng):
    s = glorot_std(*shape) / TN
    return np.clip(rng.normal(0.0, s, size=shape), -2 * s, 2 * s)


def _uniform(shape, rng):
    limit = math.sqrt(3) * glorot_std(*shape)
    return rng.uniform(-limit, limit, size=shape)


def _lecun_truncated(shape, rng):
    return _truncated(rng, shape, math.sqrt(1 / shape[0]) / TN)


def _global_rng(shape, rng):
    return _truncated(np.random.default_rng(), shape, glorot_std(*shape) / TN)


@pytest.mark.parametrize(("wrong", "advice"), [
    (_plain_normal, "plain normal"),
    (_unscaled_truncation, "without rescaling"),
    (_clipped, "clipped"),
    (_uniform, "flat"),
    (_lecun_truncated, "sqrt(1/fan_in)"),
    (_global_rng, "rng"),
    (lambda shape, rng: glorot_normal(shape, rng).T, "swapped"),
    (lambda shape, rng: glorot_normal(shape, rng) + 0.01, "mean"),
])
def test_glorot_normal_sample_advice(wrong, advice):
    feedback = vs.check_glorot_normal_sample(wrong)
    assert not feedback.passed, feedback.message
    assert advice in feedback.message


def test_glorot_normal_sample_rejects_a_tensor():
    torch = pytest.importorskip("torch")
    feedback = vs.check_glorot_normal_sample(lambda shape, rng: torch.zeros(shape))
    assert not feedback.passed and "NumPy" in feedback.message


@pytest.mark.parametrize("seed", range(5))
def test_glorot_normal_sample_passes_for_every_seed(seed):
    # the statistical tolerances must not reject a right answer that drew other numbers
    def solution(shape, rng):
        return glorot_normal(shape, np.random.default_rng([seed, int(rng.integers(2**31))]))

    assert vs.check_glorot_normal_sample(solution).passed


def _uniform_with_limit(limit):
    """A Glorot-uniform attempt in PyTorch's (fan_out, fan_in) layout whose limit is limit(fan_in, fan_out)."""
    def draw(shape, rng):
        fan_out, fan_in = shape
        bound = limit(fan_in, fan_out)
        return rng.uniform(-bound, bound, size=shape)
    return draw


@pytest.mark.parametrize(("wrong", "advice"), [
    (_uniform_with_limit(lambda fi, fo: math.sqrt(2 / (fi + fo))), "what the given function draws"),  # the bug kept
    (_uniform_with_limit(lambda fi, fo: 1 / math.sqrt(fi)), "old rule U(+-1/sqrt(fan_in))"),
    (_uniform_with_limit(lambda fi, fo: 3 * math.sqrt(2 / (fi + fo))), "not 3 std"),
    (_uniform_with_limit(lambda fi, fo: math.sqrt(3 / (fi + fo))), "loses Glorot's 2"),
    (_uniform_with_limit(lambda fi, fo: math.sqrt(12 / (fi + fo))), "twice Glorot's"),
    (_uniform_with_limit(lambda fi, fo: math.sqrt(3 / fi)), "LeCun's uniform"),
    (_uniform_with_limit(lambda fi, fo: math.sqrt(3 / fo)), "fan_out only"),
    (_uniform_with_limit(lambda fi, fo: math.sqrt(6 / fi)), "He's uniform"),
    (_uniform_with_limit(lambda fi, fo: math.sqrt(6 / fo)), "He's factor 2 with fan_out"),
    (_uniform_with_limit(lambda fi, fo: 0.5 * math.sqrt(6 / (fi + fo))), "solve for l"),
    (lambda shape, rng: rng.normal(0.0, glorot_std(*shape), size=shape), "not uniform (kurtosis"),
    (lambda shape, rng: rng.normal(0.0, math.sqrt(6 / sum(shape)), size=shape), "as a normal's std"),
    (lambda shape, rng: _truncated(rng, shape, 2 * glorot_std(*shape)), "and fix the limit"),
    (lambda shape, rng: rng.uniform(0.0, math.sqrt(6 / sum(shape)), size=shape), "centred on 0"),
    (lambda shape, rng: glorot_uniform(shape, rng).T, "swapped"),
    (lambda shape, rng: glorot_uniform(shape, np.random.default_rng()), "seeded alike"),
    (lambda shape, rng: glorot_uniform(shape, np.random.default_rng(0)), "two different generators"),
])
def test_glorot_uniform_fix_advice(wrong, advice):
    feedback = vs.check_glorot_uniform_fix(wrong)
    assert not feedback.passed, feedback.message
    assert advice in feedback.message, feedback.message


def test_glorot_uniform_fix_names_the_measured_std():
    message = vs.check_glorot_uniform_fix(_uniform_with_limit(lambda fi, fo: math.sqrt(2 / (fi + fo)))).message
    assert "(256, 784) weight your std is 0.577 x Glorot's sigma" in message and "1/(3n)" in message


def test_glorot_uniform_fix_accepts_either_layout_and_float32():
    # the limit is symmetric in the fans: reading shape as (fan_in, fan_out) is right too
    def keras_reading(shape, rng):
        fan_in, fan_out = shape
        limit = np.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(np.float32)

    assert vs.check_glorot_uniform_fix(keras_reading).passed


@pytest.mark.parametrize("seed", range(5))
def test_glorot_uniform_fix_passes_for_every_seed(seed):
    # the five-standard-error tolerances must not reject a right answer that drew other numbers
    def solution(shape, rng):
        return glorot_uniform(shape, np.random.default_rng([seed, int(rng.integers(2**31))]))

    assert vs.check_glorot_uniform_fix(solution).passed


def test_glorot_uniform_fix_mistakes_differ_on_some_shape():
    # no two named mistakes (nor a mistake and the right answer) coincide on every shape: each message is reachable
    rows = [np.ones(len(vs._UNIFORM_FIX_SHAPES))] + [values for values, _ in vs._uniform_fix_mistakes()]
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            assert np.max(np.abs(a / b - 1)) > 0.05


# ------------------------------------------------------- specific advice, notebook 06


@pytest.mark.parametrize(("wrong", "advice"), [
    (lambda fi, fo, negative_slope=0.0: math.sqrt(2 / ((1 + negative_slope**2) * fo)), "did you use fan_out"),
    (lambda fi, fo, negative_slope=0.0: math.sqrt(2 / fi), "slope is ignored"),
    (lambda fi, fo, negative_slope=0.0: math.sqrt(2 / ((1 + negative_slope) * fi)), "1 + a^2, not 1 + a"),
    (lambda fi, fo, negative_slope=0.0: math.sqrt(1 / fi), "the 2 is missing"),
    (lambda fi, fo, negative_slope=0.0: math.sqrt(2 / (fi + fo)), "Glorot"),
    (lambda fi, fo, negative_slope=0.0: 2 / ((1 + negative_slope**2) * fi), "variance"),
])
def test_he_std_advice(wrong, advice):
    feedback = vs.check_he_std(wrong)
    assert not feedback.passed and advice in feedback.message, feedback.message


def test_he_std_message_is_the_course_example():
    message = vs.check_he_std(lambda fi, fo, negative_slope=0.0: math.sqrt(2 / fo)).message
    assert "for fan_in=784" in message and "He gives 0.0505" in message and "did you use fan_out?" in message


def test_he_std_without_slope_argument_is_a_message():
    feedback = vs.check_he_std(lambda fan_in, fan_out: math.sqrt(2 / fan_in))
    assert feedback.status == "error" and "negative_slope" in feedback.message


@pytest.mark.parametrize(("wrong", "advice"), [
    (lambda fi, fo, mode: variance_factors(fi, fo, mode)[::-1], "swapped"),
    (lambda fi, fo, mode: tuple(2 * v for v in variance_factors(fi, fo, mode)), "twice too big"),
    (lambda fi, fo, mode: (1.0, 1.0), "only *one* direction"),
    (lambda fi, fo, mode: 1.0, "two numbers"),
])
def test_variance_factors_advice(wrong, advice):
    feedback = vs.check_relu_variance_factors(wrong)
    assert not feedback.passed and advice in feedback.message, feedback.message


@pytest.mark.parametrize(("wrong", "advice"), [
    (lambda shape, rng, mode="fan_in": kaiming_normal(shape[::-1], rng, mode).T, "other dimension"),
    (lambda shape, rng, mode="fan_in": kaiming_normal(shape, rng, mode) / math.sqrt(2), "the 2 is missing"),
    (lambda shape, rng, mode="fan_in": _truncated(rng, shape, math.sqrt(2 / shape[1 if mode == "fan_in" else 0])),
     "truncated"),
    (lambda shape, rng, mode="fan_in": math.sqrt(6 / shape[1 if mode == "fan_in" else 0])
     * rng.uniform(-1, 1, size=shape), "kurtosis"),
    (lambda shape, rng, mode="fan_in": kaiming_normal(shape, np.random.default_rng(), mode), "rng"),
])
def test_kaiming_normal_advice(wrong, advice):
    feedback = vs.check_kaiming_normal_sample(wrong)
    assert not feedback.passed and advice in feedback.message, feedback.message


# ------------------------------------------------------- specific advice, notebook 07

LAM, ALPHA = vs.SELU_SCALE, vs.SELU_ALPHA


@pytest.mark.parametrize(("wrong", "advice"), [
    (lambda x: np.where(x > 0, x, ALPHA * np.expm1(np.minimum(x, 0))), "without lambda"),
    (lambda x: np.where(x > 0, LAM * x, ALPHA * np.expm1(np.minimum(x, 0))), "negative side is missing"),
    (lambda x: np.where(x > 0, x, LAM * ALPHA * np.expm1(np.minimum(x, 0))), "positive side is missing"),
    (lambda x: np.where(x > 0, LAM * x, LAM * ALPHA * np.exp(np.minimum(x, 0))), "exp(x) - 1"),
    (lambda x: LAM * x if x > 0 else LAM * ALPHA * (math.exp(x) - 1), "np.where"),
    (lambda x: np.tanh(x), "expected"),
])
def test_selu_advice(wrong, advice):
    feedback = vs.check_selu(wrong)
    assert not feedback.passed and advice in feedback.message, feedback.message


def _second_moment(variance):
    mean, var = vs._selu_moments(variance)
    return mean, var + mean**2


@pytest.mark.parametrize(("wrong", "advice"), [
    (lambda v: (vs._selu_moments(v)[0], math.sqrt(vs._selu_moments(v)[1])), "standard deviation"),
    (lambda v: vs._selu_moments(v**2), "sqrt(variance)"),
    (lambda v: (0.0, 1.0), "expected"),
    (lambda v: 1.0, "two numbers"),
])
def test_selu_moments_advice(wrong, advice):
    feedback = vs.check_selu_moments(wrong)
    assert not feedback.passed and advice in feedback.message, feedback.message


def test_selu_moments_second_moment_advice():
    feedback = vs.check_selu_moments(_second_moment)
    # at Var(z) = 1 the mean is 0, so the slip only shows at Var(z) = 4
    assert not feedback.passed and "second moment" in feedback.message, feedback.message


def test_selu_fixed_point_is_zero_one():
    mean, var = vs._selu_moments(1.0)
    assert abs(mean) < 1e-6 and abs(var - 1) < 1e-6


@pytest.mark.parametrize(("wrong", "advice"), [
    (lambda fi, fo: 0.75 * math.sqrt(1 / fi), "gain 3/4"),
    (lambda fi, fo: math.sqrt(1 / fo), "fan_out"),
    (lambda fi, fo: math.sqrt(2 / fi), "He"),
    (lambda fi, fo: math.sqrt(2 / (fi + fo)), "Glorot"),
    (lambda fi, fo: 1 / fi, "variance"),
])
def test_lecun_std_advice(wrong, advice):
    feedback = vs.check_lecun_std(wrong)
    assert not feedback.passed and advice in feedback.message, feedback.message


def test_truncated_constant_matches_initializers():
    from course_utils import initializers

    assert vs.TRUNCATED_NORMAL_STD == initializers.TRUNCATED_NORMAL_STD


# ------------------------------------------------------- holes closed after the expert review


@pytest.mark.parametrize("constant", [0.8796, 0.87962566, 0.88])
def test_glorot_normal_sample_accepts_the_hints_rounded_constant(constant):
    # the notebook's hint writes 0.8796: the bound 2 s is then 3e-5 above the exact one
    def rounded(shape, rng):
        return _truncated(rng, shape, glorot_std(*shape) / constant)

    feedback = vs.check_glorot_normal_sample(rounded)
    assert feedback.passed, feedback.message


def test_glorot_normal_sample_rejects_a_cut_beyond_two_scales():
    def wide_cut(shape, rng):
        s = glorot_std(*shape) / TN
        w = rng.normal(0.0, s, shape)
        bad = np.abs(w) > 2.5 * s
        while bad.any():
            w[bad] = rng.normal(0.0, s, int(bad.sum()))
            bad = np.abs(w) > 2.5 * s
        return w

    feedback = vs.check_glorot_normal_sample(wide_cut)
    assert not feedback.passed and "never draws beyond 2 s" in feedback.message, feedback.message


@pytest.mark.parametrize(("check", "wrong"), [
    (vs.check_glorot_normal_sample, lambda shape, rng: glorot_normal(shape, np.random.default_rng(0))),
    (vs.check_kaiming_normal_sample,
     lambda shape, rng, mode="fan_in": kaiming_normal(shape, np.random.default_rng(0), mode)),
])
def test_samples_drawn_from_a_generator_of_ones_own_are_named(check, wrong):
    feedback = check(wrong)
    assert not feedback.passed and "two different generators" in feedback.message, feedback.message


def test_constants_come_from_their_homes():
    from course_utils import diagnostics

    assert (vs.SELU_ALPHA, vs.SELU_SCALE) == (diagnostics.SELU_ALPHA, diagnostics.SELU_SCALE)


def test_selu_moments_of_z_itself_are_named():
    feedback = vs.check_selu_moments(lambda variance: (0.0, variance))  # right at variance 1 only
    assert not feedback.passed and "of z itself" in feedback.message, feedback.message
