"""The checker of notebook 14's exercise, fed the right answer and the common wrong ones."""

from __future__ import annotations

import math

import pytest

from course_utils.exercises import STUB_MARKER, transformer


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*args, **kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: fill in the formula.")


def test_solution_passes_and_stub_is_not_done():
    assert transformer.check_residual_projection_std(lambda n: 0.02 / math.sqrt(2 * n)).passed
    assert transformer.check_residual_projection_std(_stub).status == "not done"
    assert transformer.check_residual_projection_std(lambda n: None).status == "failed"


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda n: 0.02 / math.sqrt(n), "two residual branches"),
    (lambda n: 0.02 / (2 * n), "variance"),
    (lambda n: 0.02 * math.sqrt(2 * n), "divide"),
    (lambda n: 0.02, "scaled down with depth"),
    (lambda n: 1 / math.sqrt(2 * n), "start from GPT-2's std"),
    (lambda n: 0.01, "sum to what one adds"),
])
def test_mistakes(wrong, message):
    feedback = transformer.check_residual_projection_std(wrong)
    assert not feedback.passed and message in feedback.message, feedback.message


def test_logit_std_solution_passes_and_stub_is_not_done():
    assert transformer.check_attention_logit_std(lambda d, s: d * s**2).passed
    assert transformer.check_attention_logit_std(_stub).status == "not done"


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda d, s: math.sqrt(d) * s, "one entry of q"),
    (lambda d, s: (d * s**2) ** 2, "variance"),
    (lambda d, s: d * s, "squared"),
    (lambda d, s: s**2, "cancels the sum"),
])
def test_logit_std_mistakes(wrong, message):
    feedback = transformer.check_attention_logit_std(wrong)
    assert not feedback.passed and message in feedback.message, feedback.message
