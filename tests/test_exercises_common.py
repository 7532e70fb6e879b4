"""The helpers every checker module shares (course_utils.exercises._common)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from course_utils.exercises import _common


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "forget the `return`"),
        (True, "the bool"),
        ("1.5", "should be a number"),
        ([1.0, 2.0], "one number; got an array of shape (2,)"),
        (float("inf"), "finite"),
    ],
)
def test_number_says_why_a_value_is_not_one_number(value, fragment):
    message = _common.number(value)
    assert isinstance(message, str) and fragment in message, message


def test_number_accepts_numbers_of_any_kind_and_nan_when_asked():
    assert _common.number(np.float32(0.5)) == 0.5
    assert _common.number(np.array([[3]])) == 3.0
    assert np.isnan(_common.number(float("nan"), finite=False))


def test_pair_reads_two_numbers_or_says_why_not():
    assert _common.pair((1, 2.5), "mean", "variance") == (1.0, 2.5)
    assert "return two numbers, (mean, variance)" in _common.pair(3.0, "mean", "variance")
    assert "the backward factor" in _common.pair((1.0, None), "forward", "backward", noun=" factor")


def test_first_match_calls_a_test_only_when_it_is_reached():
    calls = []
    assert _common.first_match([(False, "a"), (lambda: calls.append(1) or True, "b"), (lambda: 1 / 0, "c")]) == "b"
    assert calls == [1]
    assert _common.first_match([(False, "a")]) is None


def test_diagnose_ignores_a_mistake_that_equals_the_right_answer():
    assert _common.diagnose(2.0, 2.0, [(2.0, "same as right")]) is None
    assert _common.diagnose(3.0, 2.0, [(2.0, "no"), (3.0, "yes")]) == "yes"


def test_check_cases_advises_on_the_first_miss():
    def advise(x, got, expected):
        return f"x={x}: {got} for {expected}"

    assert _common.check_cases(lambda x: 2 * x, lambda x: 2 * x, [(1,), (2,)], advise) is None
    assert _common.check_cases(lambda x: x * x, lambda x: 2 * x, [(2,), (3,)], advise) == "x=3: 9.0 for 6"
    assert "should be a number" in _common.check_cases(lambda x: "no", lambda x: x, [(1,)], advise)


def test_generator_advice_names_both_ways_of_ignoring_the_generator():
    assert _common.generator_advice(lambda n, rng: rng.normal(size=n), 4) is None
    assert "seeded alike" in _common.generator_advice(lambda n, rng: np.random.default_rng().normal(size=n), 4)
    assert "two different generators" in _common.generator_advice(
        lambda n, rng: np.random.default_rng(0).normal(size=n), 4, what="matrix")


def test_importing_every_checker_module_loads_no_framework():
    code = ("import sys\n"
            "for m in ('_common', 'tour', 'signal', 'symmetry', 'scale', 'variance_scaling', 'orthogonal', 'sparse',"
            " 'variational', 'choosing'):\n"
            "    __import__('course_utils.exercises.' + m)\n"
            "print([m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
