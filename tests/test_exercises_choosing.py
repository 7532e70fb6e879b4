"""The checkers and quiz of notebooks 11-12: solutions pass, typical mistakes get their specific advice,
stubs say "not done yet", nothing raises unless strict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from course_utils.exercises import MARKS, STUB_MARKER, ExerciseFailed, choosing


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*_args, **_kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: write it.")


def _raises(*_args, **_kwargs):
    return 1 / 0


def _assert_fails_with(feedback, *fragments):
    assert not feedback.passed and feedback.status == "failed", feedback
    for fragment in fragments:
        assert fragment in feedback.message, (fragment, feedback.message)


# ---------------------------------------------------------------------- solutions


def ci_solution(values, confidence=0.95):
    v = np.asarray(values, dtype=float)
    return stats.t.ppf((1 + confidence) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))


def seeds_solution(sd, difference, confidence=0.95):
    n = 2
    while stats.t.ppf((1 + confidence) / 2, n - 1) * sd / n**0.5 >= difference:
        n += 1
    return n


def torch_std_solution(fan_in):
    return 1 / math.sqrt(3 * fan_in)


def recommend_solution(activation):
    return {"sigmoid": "glorot_normal", "tanh": "glorot_uniform", "relu": "he_normal", "leaky_relu": "he_normal",
            "selu": "lecun_normal"}[activation]


def decades_solution(frame):
    layers = frame[frame["depth"] >= 1]
    forward = layers["preact_std"].iloc[-1] / layers["preact_std"].iloc[0]
    backward = layers["weight_grad_std"].iloc[0] / layers["weight_grad_std"].iloc[-1]
    return max(abs(math.log10(forward)), abs(math.log10(backward)))


def preserving_solution(f):
    z = np.random.default_rng(0).standard_normal(1_000_000)
    return 1 / np.mean(f(z) ** 2)


CHECKS = [
    (choosing.check_ci_halfwidth, ci_solution),
    (choosing.check_seeds_needed, seeds_solution),
    (choosing.check_torch_default_std, torch_std_solution),
    (choosing.check_recommend, recommend_solution),
    (choosing.check_decades_off, decades_solution),
    (choosing.check_preserving_scale, preserving_solution),
]


@pytest.mark.parametrize(("check", "solution"), CHECKS, ids=[c.__name__ for c, _ in CHECKS])
def test_solution_passes_and_stub_is_not_done(check, solution, capsys):
    assert check(solution).status == "passed"
    assert MARKS["passed"] in capsys.readouterr().out
    stub = check(_stub)
    assert stub.status == "not done" and "not done yet" in stub.message
    error = check(_raises)
    assert error.status == "error" and "ZeroDivisionError" in error.message


@pytest.mark.parametrize(("check", "solution"), CHECKS, ids=[c.__name__ for c, _ in CHECKS])
def test_strict_mode_raises_only_on_failure(check, solution, monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    assert check(solution).passed
    with pytest.raises(ExerciseFailed):
        check(_stub)


# ------------------------------------------------------------------ ci_halfwidth


def _t(c, n):
    return stats.t.ppf((1 + c) / 2, n - 1)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda v, confidence=0.95: 1.96 * np.std(v, ddof=1) / np.sqrt(len(v)), ["normal quantile", "Student's t"]),
        (lambda v, confidence=0.95: _t(confidence, len(v)) * np.std(v) / np.sqrt(len(v)), ["ddof=1"]),
        (lambda v, confidence=0.95: _t(confidence, len(v)) * np.std(v, ddof=1), ["1/sqrt(n)"]),
        (lambda v, confidence=0.95: stats.t.ppf(confidence, len(v) - 1) * np.std(v, ddof=1) / np.sqrt(len(v)),
         ["one-sided"]),
        (lambda v, confidence=0.95: 2 * ci_solution(v, confidence), ["full width"]),
        (lambda v, confidence=0.95: stats.t.ppf((1 + confidence) / 2, len(v)) * np.std(v, ddof=1) / np.sqrt(len(v)),
         ["degrees of freedom"]),
        (lambda v, confidence=0.95: np.std(v, ddof=1) / np.sqrt(len(v)), ["standard error"]),
        (lambda v, confidence=0.95: ci_solution(v, 0.95), ["95% half-width", "confidence argument"]),
        (lambda v, confidence=0.95: ci_solution(v, confidence) * 1.5, ["expected", "t = "]),
        (lambda v, confidence=0.95: [0.1, 0.2], ["one number"]),
        (lambda v, confidence=0.95: None, ["should be a number"]),
    ],
)
def test_ci_halfwidth_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(choosing.check_ci_halfwidth(wrong), *fragments)


def test_ci_halfwidth_without_confidence_keyword_is_explained():
    _assert_fails_with(choosing.check_ci_halfwidth(lambda v: 0.01), "confidence=")


# ------------------------------------------------------------------ seeds_needed


def test_seeds_needed_reference_agrees_with_the_definition():
    for sd, d, c in [(0.02, 0.05, 0.95), (0.003, 0.002, 0.95), (0.01, 0.01, 0.8)]:
        n = choosing._seeds_needed(sd, d, c)
        assert _t(c, n) * sd / math.sqrt(n) < d
        assert n == 2 or _t(c, n - 1) * sd / math.sqrt(n - 1) >= d


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda sd, d, confidence=0.95: choosing._seeds_needed(sd, d, confidence, z=True), ["normal approximation"]),
        (lambda sd, d, confidence=0.95: seeds_solution(sd, d, confidence) - 1, ["one short"]),
        (lambda sd, d, confidence=0.95: seeds_solution(sd, d, confidence) + 1, ["one too many"]),
        (lambda sd, d, confidence=0.95: seeds_solution(sd, d, 0.95), ["answer for 95%"]),
        (lambda sd, d, confidence=0.95: 1000, ["smallest n"]),
        (lambda sd, d, confidence=0.95: "ten", ["should be a number"]),
    ],
)
def test_seeds_needed_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(choosing.check_seeds_needed(wrong), *fragments)


def test_seeds_needed_normal_formula_is_named():
    def formula(sd, d, confidence=0.95):
        return math.ceil((stats.norm.ppf((1 + confidence) / 2) * sd / d) ** 2)

    feedback = choosing.check_seeds_needed(formula)
    assert not feedback.passed
    assert "normal" in feedback.message


# ------------------------------------------------------------- torch_default_std


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda f: 1 / math.sqrt(f), ["bound", "b / sqrt(3)"]),
        (lambda f: 1 / (3 * f), ["variance", "square root"]),
        (lambda f: math.sqrt(2 / f), ["He's std", "a = sqrt(5)"]),
        (lambda f: math.sqrt(1 / (5 * f)), ["1/3, not 1/5"]),
        (lambda f: 0.05, ["expected 1/sqrt(3 fan_in)"]),
        (lambda f: "small", ["should be a number"]),
    ],
)
def test_torch_default_std_mistakes(wrong, fragments):
    _assert_fails_with(choosing.check_torch_default_std(wrong), *fragments)


def test_torch_default_std_matches_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.Linear(4096, 256)
    measured = float(layer.weight.detach().std())
    # 1M draws: the std's relative standard error is about 1/sqrt(2 * 1e6) = 0.07%; allow 1%
    assert measured == pytest.approx(torch_std_solution(4096), rel=0.01)


# --------------------------------------------------------------------- recommend


@pytest.mark.parametrize(
    ("answers", "fragments"),
    [
        ({"relu": "glorot_uniform"}, ["for relu you chose glorot_uniform", "halves", "he_normal"]),
        ({"leaky_relu": "lecun_normal"}, ["for leaky_relu", "twice"]),
        ({"selu": "he_normal"}, ["for selu", "doubles", "lecun_normal"]),
        ({"selu": "glorot_normal"}, ["square layers"]),
        ({"tanh": "random_normal"}, ["fixed scale"]),
        ({"sigmoid": "zeros"}, ["identical"]),
        ({"selu": "sparse"}, ["Hessian-free"]),
        ({"relu": "random_normal"}, ["fixed scale"]),
        ({"relu": "sparse"}, ["Hessian-free"]),
        ({"relu": "xavier_normal"}, ["not in the registry", "glorot_normal"]),
        ({"relu": 3}, ["scheme's name"]),
    ],
)
def test_recommend_mistakes(answers, fragments):
    def recommend(activation):
        return answers.get(activation, recommend_solution(activation))

    _assert_fails_with(choosing.check_recommend(recommend), *fragments)


def test_recommend_accepts_reasonable_alternatives_with_a_note():
    def recommend(activation):
        return {"tanh": "lecun_normal", "selu": "lecun_uniform"}.get(activation, recommend_solution(activation))

    feedback = choosing.check_recommend(recommend)
    assert feedback.passed and "fine too" in feedback.message and "lecun_normal is the safer" in feedback.message
    other = choosing.check_recommend(lambda a: {"tanh": "he_normal", "selu": "orthogonal", "sigmoid": "he_normal"}
                                     .get(a, recommend_solution(a)))
    assert other.passed and "forgiving" in other.message and "trained best" in other.message
    assert "out of hidden layers" in other.message


def test_every_recommendation_is_a_registry_name():
    from course_utils import initializers, models

    names = set(initializers.names())
    assert set(models.ACTIVATIONS) <= set(choosing.RECOMMENDED)
    for accepted, why in choosing.RECOMMENDED.values():
        assert set(accepted) <= names and why


# ------------------------------------------------------------------- decades_off


def _layers(frame):
    return frame[frame["depth"] >= 1]


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda f: decades_solution(f) * math.log(10), ["natural log"]),
        (lambda f: abs(math.log10(_layers(f)["preact_std"].iloc[-1] / _layers(f)["preact_std"].iloc[0])),
         ["forward ratio alone"]),
        (lambda f: abs(math.log10(_layers(f)["weight_grad_std"].iloc[0] / _layers(f)["weight_grad_std"].iloc[-1])),
         ["backward ratio alone"]),
        (lambda f: -decades_solution(f), ["absolute value"]),
        (lambda f: f["preact_std"].iloc[-1] / f["preact_std"].iloc[0], ["depth >= 1"]),
        (lambda f: max(abs(math.log10(_layers(f)["std"].iloc[-1] / _layers(f)["std"].iloc[0])),
                       abs(math.log10(_layers(f)["weight_grad_std"].iloc[0] /
                                      _layers(f)["weight_grad_std"].iloc[-1]))), ["'std' column"]),
        (lambda f: 1.0, ["forward = preact_std"]),
    ],
)
def test_decades_off_mistakes(wrong, fragments):
    _assert_fails_with(choosing.check_decades_off(wrong), *fragments)


def test_decades_reference_matches_experiments_signal_summary():
    from course_utils import advice, diagnostics

    frame = diagnostics.signal_propagation("glorot_normal", "relu", 12, 64, n_samples=128, seed=0)
    summary = advice.signal_summary("glorot_normal", "relu", 12, seed=0, width=64, n_samples=128)
    assert choosing.signal_decades(frame) == pytest.approx(summary["decades"])


# -------------------------------------------------------------- preserving_scale


def _draws(n=1_000_000, uniform=False):
    rng = np.random.default_rng(1)
    return rng.uniform(-1, 1, n) if uniform else rng.standard_normal(n)


def _leaky_slope(f):
    return -float(f(np.array([-1.0]))[0])


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda f: float(np.mean(f(_draws()) ** 2)), ["for relu", "E[f(z)^2] itself", "inverse"]),
        (lambda f: 1 / float(np.var(f(_draws()))), ["for relu", "variance of f(z)", "second moment"]),
        (lambda f: 1 / float(np.mean(f(_draws()) ** 2)) ** 0.5, ["for relu", "gain", "square it"]),
        (lambda f: 1 / float(np.mean(f(_draws()))) ** 2, ["for relu", "squared the mean"]),
        (lambda f: 1 / float(np.mean(f(_draws(uniform=True)) ** 2)), ["uniform", "N(0, 1)"]),
        (lambda f: 2.0, ["for abs (|z|) you returned 2", "He's 2", "resemblance"]),
        (lambda f: 1.0, ["for relu you returned 1", "LeCun's 1"]),
        (lambda f: 2 / (1 + _leaky_slope(f)) if _leaky_slope(f) > 0 else preserving_solution(f),
         ["leaky_relu with slope 0.2", "slope squared"]),
        (lambda f: 1.05 * preserving_solution(f), ["not within 2%", "1,000,000 draws"]),  # too few draws
        (lambda f: 7.0, ["expected 2", "n_in Var(w) E[f(z_l)^2]"]),
        (lambda f: None, ["should be a number"]),
        (lambda f: f(np.ones(3)), ["one number"]),
    ],
)
def test_preserving_scale_mistakes(wrong, fragments):
    _assert_fails_with(choosing.check_preserving_scale(wrong), *fragments)


def test_preserving_scale_passes_the_exact_integral_and_reports_the_measured_drift():
    def exact(f):  # E[f(z)^2] = (p^2 + q^2) / 2 for slopes p (z > 0) and q (z < 0)
        p, q = float(f(np.array([1.0]))[0]), -float(f(np.array([-1.0]))[0])
        return 2 / (p * p + q * q)

    feedback = choosing.check_preserving_scale(exact)
    assert feedback.passed and "1 for |z|" in feedback.message and "decades" in feedback.message


def test_preserving_scale_reference_matches_torch_gain_and_a_deep_network():
    torch = pytest.importorskip("torch")
    assert choosing.preserving_scale_of(1.0, 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2) ** 2)
    assert choosing.preserving_scale_of(1.0, 0.0) == pytest.approx(torch.nn.init.calculate_gain("relu") ** 2)
    # 30 layers of 256 |z| units: the right scale keeps Var(z) within half a decade; He's 2 drifts by > 8 decades
    assert abs(math.log10(choosing._propagated(1.0, -1.0, 1.0))) < 0.5
    assert math.log10(choosing._propagated(1.0, -1.0, 2.0)) > 8


# ------------------------------------------------------------------------- quiz


def test_every_question_has_one_right_answer_and_feedback_for_each_option():
    assert 4 <= len(choosing.QUESTIONS) <= 8
    for q in choosing.QUESTIONS:
        assert sum(correct for _, correct, _ in q.options) == 1, q.text
        assert all(text and why for text, _, why in q.options)
    positions = {[c for _, c, _ in q.options].index(True) for q in choosing.QUESTIONS}
    assert len(positions) > 1, "the right answers should not all sit in the same position"


def test_answer_gives_immediate_feedback(capsys):
    for number, q in enumerate(choosing.QUESTIONS, 1):
        right = "abcd"[[c for _, c, _ in q.options].index(True)]
        assert choosing.answer(number, right).passed
        assert choosing.answer(number, right.upper()).passed
        wrong = next(letter for letter in "abcd" if letter != right)
        feedback = choosing.answer(number, wrong)
        assert not feedback.passed and "not quite" in feedback.message
    assert "right" in capsys.readouterr().out


def test_answer_never_raises_on_bad_input(monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")  # the quiz is not an exercise: never raises
    assert choosing.answer(99, "a").status == "error"
    assert "questions 1 to" in choosing.answer(0, "a").message
    assert "letters a, b, c, d" in choosing.answer(1, "z").message
    assert choosing.answer(1, 2).passed  # a 1-based option number works too
    assert choosing.answer(1, None).status == "error"


def test_quiz_prints_text_without_widgets(capsys):
    choosing.quiz(interactive=False)
    out = capsys.readouterr().out
    assert "1. " in out and "(d)" in out and "choosing.answer" in out


def test_quiz_widgets_answer_on_click():
    widgets = pytest.importorskip("ipywidgets")
    made = choosing._quiz_widgets(widgets)
    assert len(made) == len(choosing.QUESTIONS)
    q, buttons, out = made[0]
    right = "abcd"[[c for _, c, _ in q.options].index(True)]
    wrong = next(letter for letter in "abcd" if letter != right)
    buttons.value = wrong
    assert "not quite" in out.value
    buttons.value = right
    assert "right" in out.value and "not quite" not in out.value


def test_quiz_displays_in_a_kernel_like_setting(capsys):
    pytest.importorskip("ipywidgets")
    choosing.quiz(interactive=True)  # outside a kernel display() prints reprs; it must not raise
    assert capsys.readouterr().out
