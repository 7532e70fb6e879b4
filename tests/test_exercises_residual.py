"""Checkers of notebook 13: solutions pass, the common wrong answers get their specific advice."""

from __future__ import annotations

import math

import pytest

from course_utils import initializers
from course_utils.exercises import STUB_MARKER, residual


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def conv_fans(shape, layout):
    return initializers.compute_fans(shape, layout)


def fixup_scale(n_blocks, m):
    return n_blocks ** (-1 / (2 * m - 2))


def growth(n_blocks, gain):
    return (1 + gain) ** n_blocks


def _stub(*args, **kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: fill in the formula.")


SOLUTIONS = [(residual.check_conv_fans, conv_fans), (residual.check_fixup_scale, fixup_scale),
             (residual.check_residual_growth, growth)]


@pytest.mark.parametrize(("check", "solution"), SOLUTIONS, ids=[c.__name__ for c, _ in SOLUTIONS])
def test_solution_passes_and_stub_is_not_done(check, solution):
    assert check(solution).passed
    feedback = check(_stub)
    assert feedback.status == "not done"
    assert check(lambda *a: None).status == "failed"


def _keras_dims(shape, layout):
    return (shape[2], shape[3], shape[:2]) if layout == "keras" else (shape[1], shape[0], shape[2:])


def channels_only(shape, layout):
    c_in, c_out, _ = _keras_dims(shape, layout)
    return c_in, c_out


def always_keras(shape, layout):
    return residual.reference_conv_fans(shape, "keras")


def swapped(shape, layout):
    a, b = residual.reference_conv_fans(shape, layout)
    return b, a


def all_dims(shape, layout):
    return math.prod(shape), math.prod(shape)


def field_only_in(shape, layout):
    c_in, c_out, field = _keras_dims(shape, layout)
    return c_in * math.prod(field), c_out


@pytest.mark.parametrize(("wrong", "message"), [
    (channels_only, "channels only"), (always_keras, "layout"), (swapped, "swapped"),
    (all_dims, "number of weights"), (field_only_in, "receptive field too"),
])
def test_conv_fans_mistakes(wrong, message):
    feedback = residual.check_conv_fans(wrong)
    assert not feedback.passed and message in feedback.message, feedback.message


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda n, m: n ** -0.5, "m = 2 case only"), (lambda n, m: n ** (-1 / (2 * m)), "not -1/(2m)"),
    (lambda n, m: n ** (-1 / (m - 1)), "variance"), (lambda n, m: 1 / n, "1/L"),
])
def test_fixup_mistakes(wrong, message):
    feedback = residual.check_fixup_scale(wrong)
    assert not feedback.passed and message in feedback.message, feedback.message


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda b, g: g**b, "identity path"), (lambda b, g: 1 + b * g, "compounds"),
    (lambda b, g: (1 + g) ** (b / 2), "std"),
])
def test_growth_mistakes(wrong, message):
    feedback = residual.check_residual_growth(wrong)
    assert not feedback.passed and message in feedback.message, feedback.message
