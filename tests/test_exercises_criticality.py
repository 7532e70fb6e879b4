"""The criticality checkers (notebooks 02, 05, 06, 07, 08): right answers pass, each common wrong answer gets its message."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import meanfield
from course_utils.activations import SELU_ALPHA, SELU_SCALE
from course_utils.exercises import criticality


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _fails_with(feedback, *fragments):
    assert not feedback.passed and feedback.status == "failed", feedback
    for fragment in fragments:
        assert fragment in feedback.message, (fragment, feedback.message)


def test_critical_sigma_w2_right_answer_passes():
    right = meanfield.critical_sigma_w2("tanh", criticality.CRITICAL_SIGMA_B2)
    assert 1.9 < right < 2.1
    assert criticality.check_critical_sigma_w2(right).passed


@pytest.mark.parametrize(("wrong", "fragment"), [
    (1.0, "edge at sigma_b = 0"),
    ((5 / 3) ** 2, "tanh gain squared"),
    (5 / 3, "gain itself"),
    (math.sqrt(meanfield.critical_sigma_w2("tanh", 0.1)), "asks for the variance"),
    (2.0, "He's factor"),
    (criticality._chi_at_unit_variance_root(), "fixed point q*"),
    (3.0, "root of chi_1"),
    (None, "forget the `return`"),
])
def test_critical_sigma_w2_mistakes(wrong, fragment):
    _fails_with(criticality.check_critical_sigma_w2(wrong), fragment)


def test_selu_constants_right_answer_passes_and_reference_solves_them():
    assert criticality.check_selu_constants((SELU_ALPHA, SELU_SCALE)).passed
    alpha, scale = criticality._selu_reference()
    assert alpha == pytest.approx(SELU_ALPHA, rel=1e-10) and scale == pytest.approx(SELU_SCALE, rel=1e-10)
    mean, var = criticality.selu_moments(SELU_ALPHA, SELU_SCALE)
    assert abs(mean) < 1e-12 and var == pytest.approx(1.0, abs=1e-12)


def _mean_only():
    # lambda = 1 and alpha solving the mean condition alone
    from scipy import optimize
    alpha = optimize.brentq(lambda a: criticality.selu_moments(a, 1.0)[0], 0.5, 5.0)
    return alpha, 1.0


def _variance_only():
    from scipy import optimize
    scale = optimize.brentq(lambda s: criticality.selu_moments(1.0, s)[1] - 1.0, 0.5, 5.0)
    return 1.0, scale


@pytest.mark.parametrize(("wrong", "fragment"), [
    ((SELU_SCALE, SELU_ALPHA), "swapped"),
    (_mean_only(), "only the mean condition"),
    (_variance_only(), "solve the mean condition"),
    ((1.0, 1.0), "plain ELU"),
    ((1.6, math.sqrt(2.0)), "He's ReLU factor"),
    ((2.0, 1.2), "fsolve"),
    (1.67, "two numbers"),
])
def test_selu_constants_mistakes(wrong, fragment):
    _fails_with(criticality.check_selu_constants(wrong), fragment)


def test_orthogonal_critical_gain_right_answer_passes():
    right = math.sqrt(meanfield.critical_sigma_w2("tanh", criticality.ORTHOGONAL_SIGMA_B2))
    assert right == pytest.approx(math.sqrt(1.76), abs=0.01)
    assert criticality.check_orthogonal_critical_gain(right).passed


@pytest.mark.parametrize(("wrong", "fragment"), [
    (5 / 3, "calculate_gain('tanh')"),
    (meanfield.critical_sigma_w2("tanh", 0.05), "the square root"),
    (1.0, "ordered"),
    (math.sqrt(2.0), "ReLU's gain"),
    (2.5, "The gain is sqrt"),
])
def test_orthogonal_critical_gain_mistakes(wrong, fragment):
    _fails_with(criticality.check_orthogonal_critical_gain(wrong), fragment)


def test_checkers_accept_the_notebooks_functions_and_report_stubs():
    from course_utils.exercises import STUB_MARKER

    assert criticality.check_critical_sigma_w2(lambda b2: meanfield.critical_sigma_w2("tanh", b2)).passed
    assert criticality.check_selu_constants(lambda: (SELU_ALPHA, SELU_SCALE)).passed
    assert criticality.check_orthogonal_critical_gain(lambda b2: math.sqrt(meanfield.critical_sigma_w2("tanh", b2))).passed

    def stub(*_args):
        raise NotImplementedError(f"{STUB_MARKER}: solve chi_1 = 1.")

    for check in (criticality.check_critical_sigma_w2, criticality.check_selu_constants,
                  criticality.check_orthogonal_critical_gain):
        assert check(stub).status == "not done"


# --------------------------------------------------------------- notebooks 05 and 06


@pytest.mark.parametrize("gain", [1.05, 1.1, 1.15])
def test_gains_just_above_one_pass(gain):
    assert criticality.check_deep_tanh_gain(gain).passed


@pytest.mark.parametrize(("wrong", "advice"), [
    (5 / 3, "calculate_gain('tanh')"),
    (math.sqrt(2), "ReLU's gain"),
    (1.0, "exactly the order-to-chaos boundary"),
    (0.9, "ordered phase"),
    (1.3, "too far above 1"),
    (1.01, "still too close to 1"),
    (-1.0, "must be positive"),
    ("1.1", "should be a number"),
    (None, "should be a number"),
    (np.ones(2), "one number"),
])
def test_wrong_gains_get_their_advice(wrong, advice):
    feedback = criticality.check_deep_tanh_gain(wrong)
    assert not feedback.passed
    assert advice in feedback.message


def test_ratios_match_the_measured_network():
    """The checker's mean-field verdict is what a real (NumPy) network of the same size shows."""
    from course_utils import diagnostics, initializers

    for gain in (1.1, 5 / 3):
        forward, backward = criticality.deep_tanh_ratios(gain, depth=50, width=256)
        measured = diagnostics.signal_propagation(initializers.get("glorot_normal_torch", gain=gain), "tanh", 50, 256,
                                                  n_samples=128, seed=0)
        assert math.isclose(diagnostics.end_to_end_ratio(measured, "std"), forward, rel_tol=0.1)
        assert math.isclose(diagnostics.end_to_end_ratio(measured, "grad_std", backward=True), backward,
                            rel_tol=0.2)


def test_five_thirds_is_chaotic_and_one_fades():
    f53, b53 = criticality.deep_tanh_ratios(5 / 3)
    f1, b1 = criticality.deep_tanh_ratios(1.0)
    assert b53 > 1e3 and f1 < 0.2 and b1 < 0.2


def test_a_function_is_called_and_a_stub_is_not_done():
    from course_utils.exercises import STUB_MARKER

    assert criticality.check_deep_tanh_gain(lambda: 1.1).passed

    def stub():
        raise NotImplementedError(f"{STUB_MARKER}: choose a gain.")

    assert criticality.check_deep_tanh_gain(stub).status == "not done"


def test_relu_correlation_solution_and_measurement():
    assert criticality.check_relu_correlation(lambda: 1 / math.pi).passed
    rng = np.random.default_rng(0)  # the answer is what a wide random ReLU layer does to two orthogonal inputs
    u, v = rng.standard_normal((2, 400_000))
    a, b = np.maximum(u, 0), np.maximum(v, 0)
    assert abs((a @ b) / np.sqrt((a @ a) * (b @ b)) - criticality.RELU_CORRELATION_OF_ORTHOGONAL) < 0.005


@pytest.mark.parametrize(("wrong", "advice"), [
    (0.0, "do not give uncorrelated"),
    (1 / (2 * math.pi), "divides by the second moment"),
    (0.5, "half of the units"),
    (2 / math.pi, "not folded over"),
    (1 / math.sqrt(2 * math.pi), "the mean of one output"),
    (1.5, "between 0 and 1"),
    (0.25, "E[relu(u)] = 1/sqrt(2 pi)"),
    ("a third", "should be a number"),
])
def test_relu_correlation_wrong_answers(wrong, advice):
    feedback = criticality.check_relu_correlation(wrong)
    assert not feedback.passed and advice in feedback.message
