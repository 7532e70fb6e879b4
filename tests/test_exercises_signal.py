"""The checkers of notebooks 01-02: solutions pass, typical mistakes get their specific advice, stubs say "not done yet"."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from course_utils.exercises import STUB_MARKER, ExerciseFailed, signal


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*_args, **_kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: compare each unit with the others.")


def _raises(*_args, **_kwargs):
    return 1 / 0


def _assert_fails_with(feedback, *fragments):
    assert not feedback.passed and feedback.status == "failed", feedback
    for fragment in fragments:
        assert fragment in feedback.message, (fragment, feedback.message)


# ------------------------------------------------------------- max_unit_difference


def unit_diff_solution(kernel):
    return float(np.max(kernel.max(axis=1) - kernel.min(axis=1)))


def test_unit_difference_solution_passes():
    assert signal.check_max_unit_difference(unit_diff_solution).status == "passed"


def test_unit_difference_pairwise_solution_also_passes():
    def pairwise(kernel):
        return float(np.abs(kernel[:, :, None] - kernel[:, None, :]).max())

    assert signal.check_max_unit_difference(pairwise).passed


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda k: float(np.max(k.max(axis=0) - k.min(axis=0))), ["*rows*", "weight.T"]),
        (lambda k: float(np.min(k[:, 1] - k[:, 0])), ["never negative"]),
        (lambda k: float(np.mean(np.abs(k[:, :, None] - k[:, None, :]))), ["average", "*largest*"]),
        (lambda k: np.abs(k - k[:, :1]), ["one number", "shape"]),
        (lambda k: "zero", ["should be a number"]),
        (lambda k: float(np.abs(k[:, 1] - k[:, 0]).max()) + 1.0, ["exactly 0"]),
        (lambda k: float(np.abs(k[:5, 1] - k[:5, 0]).max()), ["every input"]),
    ],
)
def test_unit_difference_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(signal.check_max_unit_difference(wrong), *fragments)


# ------------------------------------------------------------- diagnose_profile


def diagnose_solution(stds):
    stds = np.asarray(stds, dtype=float)
    if not np.isfinite(stds).all() or stds[-1] > 10 * stds[0]:
        return "exploding"
    if stds[-1] < 0.1 * stds[0]:
        return "vanishing"
    return "stable"


def test_diagnose_solution_passes():
    assert signal.check_diagnose_profile(diagnose_solution).status == "passed"


def test_diagnose_forgetting_nan_is_named():
    def no_nan_check(stds):
        stds = np.asarray(stds, dtype=float)
        if stds[-1] > 10 * stds[0]:
            return "exploding"
        if stds[-1] < 0.1 * stds[0]:
            return "vanishing"
        return "stable"

    _assert_fails_with(signal.check_diagnose_profile(no_nan_check), "np.isfinite")


def test_diagnose_wrong_label_and_wrong_type():
    _assert_fails_with(signal.check_diagnose_profile(lambda s: "ok"), "one of the strings")
    _assert_fails_with(signal.check_diagnose_profile(lambda s: 1), "one of the strings")
    _assert_fails_with(signal.check_diagnose_profile(lambda s: "stable"), "last/first", "below 0.1")


def test_diagnose_comparing_neighbours_is_wrong():
    def first_two(stds):  # looks only at the first step
        return "vanishing" if stds[1] < stds[0] else "exploding" if stds[1] > stds[0] else "stable"

    _assert_fails_with(signal.check_diagnose_profile(first_two), "Compare the last layer")


# ------------------------------------------------------------- runs_separate


def separate_solution(a, b):
    return bool(min(a) > max(b) or min(b) > max(a))


def test_separate_solution_passes():
    assert signal.check_runs_separate(separate_solution).status == "passed"


def test_separate_mistakes():
    _assert_fails_with(signal.check_runs_separate(lambda a, b: bool(np.mean(a) != np.mean(b))), "Comparing means")
    _assert_fails_with(signal.check_runs_separate(lambda a, b: bool(min(a) > max(b))), "both")
    _assert_fails_with(signal.check_runs_separate(lambda a, b: bool(min(a) >= max(b) or min(b) >= max(a))), "tie")
    _assert_fails_with(signal.check_runs_separate(lambda a, b: "yes"), "True or False")


def test_separate_accepts_numpy_bool():
    assert signal.check_runs_separate(lambda a, b: (a.min() > b.max()) | (b.min() > a.max())).passed


# ------------------------------------------------------------- output_variance


def output_variance_solution(n_in, var_w, mean_x, var_x):
    return n_in * var_w * (var_x + mean_x**2)


def test_output_variance_solution_passes():
    assert signal.check_output_variance(output_variance_solution).status == "passed"


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda n, vw, m, vx: n * vw * vx, ["E[x^2]", "mean_x^2"]),
        (lambda n, vw, m, vx: vw * (vx + m**2), ["ONE product", "add up"]),
        (lambda n, vw, m, vx: n * n * vw * (vx + m**2), ["squared"]),
        (lambda n, vw, m, vx: n * math.sqrt(vw) * (vx + m**2), ["standard deviation"]),
        (lambda n, vw, m, vx: 3.0, ["expected n_in Var(w)"]),
    ],
)
def test_output_variance_mistakes(wrong, fragments):
    _assert_fails_with(signal.check_output_variance(wrong), *fragments)


# ------------------------------------------------------------- glorot_limit


def test_glorot_limit_solution_passes():
    assert signal.check_glorot_limit(lambda fi, fo: math.sqrt(6 / (fi + fo))).status == "passed"


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (lambda fi, fo: math.sqrt(2 / (fi + fo)), "*standard deviation*"),
        (lambda fi, fo: 6 / (fi + fo), "square root"),
        (lambda fi, fo: math.sqrt(3 / fi), "LeCun"),
        (lambda fi, fo: math.sqrt(6 / fi), "He uniform"),
        (lambda fi, fo: math.sqrt(6 / fo), "fan_out only"),
        (lambda fi, fo: math.sqrt(3 / (fi + fo)), "Check the factor"),
    ],
)
def test_glorot_limit_mistakes(wrong, fragment):
    _assert_fails_with(signal.check_glorot_limit(wrong), fragment)


# ------------------------------------------------------------- relu_depth_std


def relu_depth_solution(depth, width, weight_std, input_std):
    var = width * weight_std**2 * input_std**2
    for _ in range(depth - 1):
        var *= width * weight_std**2 / 2
    return math.sqrt(var)


def test_relu_depth_solution_passes_and_quotes_measurement():
    feedback = signal.check_relu_depth_std(relu_depth_solution)
    assert feedback.status == "passed"
    assert "measured" in feedback.message


def test_relu_depth_measurement_agrees_with_prediction():
    """The number the checker quotes as 'measured' is within finite-width noise of the formula."""
    from course_utils import diagnostics, initializers

    measured = diagnostics.signal_propagation(initializers.get("random_normal", std=0.1), "relu", 10, 256,
                                              n_samples=512).loc[10, "preact_std"]
    predicted = relu_depth_solution(10, 256, 0.1, 1.0)
    # the variance's per-layer factor fluctuates by about sqrt(2/width) = 9% at width 256; over 10 layers
    # the log-std wanders by roughly 0.5 * 0.09 * sqrt(10) = 0.14, so a factor 1.5 is > 2.5 sigma
    assert 1 / 1.5 < measured / predicted < 1.5


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (lambda d, n, s, x: x * math.sqrt(n * s * s / 2) ** d, "first layer too"),
        (lambda d, n, s, x: x * math.sqrt(n * s * s) ** d, "zeroes the negative half"),
        (lambda d, n, s, x: relu_depth_solution(d, n, s, 1.0), "input_std"),
        (lambda d, n, s, x: relu_depth_solution(d, n, s, x) ** 2, "variance"),
        (lambda d, n, s, x: -1.0, "layer by layer"),
    ],
)
def test_relu_depth_mistakes(wrong, fragment):
    _assert_fails_with(signal.check_relu_depth_std(wrong), fragment)


# ------------------------------------------------------------- all checkers


CHECKERS = [
    signal.check_max_unit_difference,
    signal.check_diagnose_profile,
    signal.check_runs_separate,
    signal.check_output_variance,
    signal.check_glorot_limit,
    signal.check_relu_depth_std,
]


@pytest.mark.parametrize("check", CHECKERS, ids=[c.__name__ for c in CHECKERS])
def test_stub_says_not_done_and_errors_never_raise(check, capsys):
    feedback = check(_stub)
    assert feedback.status == "not done" and "not done yet" in feedback.message
    assert "compare each unit" not in feedback.message  # the hint is in the notebook once, not repeated here
    feedback = check(_raises)
    assert feedback.status == "error" and "ZeroDivisionError" in feedback.message
    assert "not done yet" in capsys.readouterr().out


@pytest.mark.parametrize("check", CHECKERS, ids=[c.__name__ for c in CHECKERS])
def test_strict_mode_raises_on_failure(check, monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        check(_stub)


def test_importing_the_checkers_loads_no_framework():
    assert "course_utils.exercises.signal" in sys.modules
    # the notebook's checkers run in NumPy; importing them must not start TensorFlow or PyTorch
    import subprocess

    code = ("import sys, course_utils.exercises.signal as s; "
            "print('tensorflow' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ------------------------------------------------------------- holes closed after the expert review


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda k: float(np.abs(np.diff(k, axis=1)).max()), ["*neighbouring*", "0.6"]),
        (lambda k: float(np.abs(k - k[:, :1]).max()), ["unit 0 only"]),
        (lambda k: float(np.abs(k[:, -1] - k[:, 0]).max()), ["first and the last unit"]),
        (lambda k: float(k.max() - k.min()), ["whole kernel", "input by input"]),
    ],
)
def test_unit_difference_partial_comparisons_are_named(wrong, fragments):
    _assert_fails_with(signal.check_max_unit_difference(wrong), *fragments)


def _rule(high, low, reference):
    def diagnose(stds):
        stds = np.asarray(stds, dtype=float)
        if not np.isfinite(stds).all() or high(stds) > 10 * reference(stds):
            return "exploding"
        return "vanishing" if low(stds) < 0.1 * reference(stds) else "stable"

    return diagnose


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (_rule(lambda s: s[-1], lambda s: s[-1], lambda s: 1.0), ["flat profile around 1e-3", "fixed numbers"]),
        (_rule(np.max, np.min, lambda s: s[0]), ["dips", "largest or the smallest"]),
        (_rule(np.max, lambda s: s[-1], lambda s: s[0]), ["peaks", "largest or the smallest"]),
        (_rule(lambda s: s[-1], lambda s: s[-1], lambda s: s[1]), ["stds[1]", "SECOND"]),
    ],
)
def test_diagnose_wrong_rules_are_named(wrong, fragments):
    _assert_fails_with(signal.check_diagnose_profile(wrong), *fragments)


def test_diagnose_ratio_form_of_the_rule_passes():
    def by_ratio(stds):
        stds = np.asarray(stds, dtype=float)
        if not np.isfinite(stds).all():
            return "exploding"
        ratio = stds[-1] / stds[0]
        return "exploding" if ratio > 10 else "vanishing" if ratio < 0.1 else "stable"

    assert signal.check_diagnose_profile(by_ratio).passed


@pytest.mark.parametrize("p_value", [
    lambda a, b: _ttest_p(a, b),
    lambda a, b: _mann_whitney_p(a, b),
])
def test_separate_significance_tests_are_rejected(p_value):
    _assert_fails_with(signal.check_runs_separate(lambda a, b: bool(p_value(a, b) < 0.05)),
                       "overlap", "significance test")


def test_separate_significance_test_is_rejected_on_separated_runs_too():
    # a stricter threshold passes the overlapping case and fails the separated-but-noisy one
    _assert_fails_with(signal.check_runs_separate(lambda a, b: bool(_ttest_p(a, b) < 0.001)),
                       "every run of A beats every run of B", "significance test")


def _ttest_p(a, b):
    from scipy import stats

    return stats.ttest_ind(a, b).pvalue


def _mann_whitney_p(a, b):
    from scipy import stats

    return stats.mannwhitneyu(a, b).pvalue


# ----------------------------------------------------------------- notebook 01, exercise 4: choose a std for a ratio


def _ratio_answer(root):
    return lambda n, depth, r: math.sqrt(2 / n) * root(r, depth)


def test_std_for_ratio_passes_and_is_confirmed_by_a_measurement(capsys):
    assert signal.check_std_for_ratio(_ratio_answer(lambda r, d: r ** (1 / (d - 1)))).passed
    assert "measures" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, advice",
    [
        (_ratio_answer(lambda r, d: 1.0), "He's std"),
        (_ratio_answer(lambda r, d: r ** (1 / d)), "multiplied 19 times, not 20"),
        (lambda n, d, r: math.sqrt(1 / n) * r ** (1 / (d - 1)), "halves the second moment"),
        (_ratio_answer(lambda r, d: r ** (1 / (2 * (d - 1)))), "the variance's factor"),
        (_ratio_answer(lambda r, d: r ** (d - 1)), "not the ratio to the power 19"),
        (_ratio_answer(lambda r, d: r ** (-1 / (d - 1))), "upside down"),
        (lambda n, d, r: 2 / n * r ** (2 / (d - 1)), "That is the variance"),
        (lambda n, d, r: 0.1, "solve for s"),
        (lambda n, d, r: None, "forget the `return`"),
    ],
)
def test_std_for_ratio_names_the_mistake(answer, advice, capsys):
    assert not signal.check_std_for_ratio(answer).passed
    assert advice in capsys.readouterr().out
