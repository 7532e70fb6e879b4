"""Checker of notebook 05's deep-tanh gain exercise: a right gain passes, each usual wrong one gets its advice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.exercises import criticality


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


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
