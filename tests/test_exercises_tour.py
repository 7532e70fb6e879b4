"""The warm-up checker of notebook 00: specific feedback, never a crash."""

from __future__ import annotations

import pytest

from course_utils.exercises import ExerciseFailed, tour


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def test_solution_passes(capsys):
    assert tour.check_dense_parameter_count(lambda i, o: i * o + o).passed
    assert "401,920" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, advice",
    [(lambda i, o: i * o, "bias"), (lambda i, o: i * o + i, "per *unit*"), (lambda i, o: i + o, "expected")],
)
def test_wrong_answers_get_specific_advice(answer, advice, capsys):
    assert not tour.check_dense_parameter_count(answer).passed
    assert advice in capsys.readouterr().out


def test_stub_and_crash_are_messages_not_exceptions(capsys):
    def stub(i, o):
        raise NotImplementedError("Student exercise: count weights and biases.")

    feedback = tour.check_dense_parameter_count(stub)
    assert feedback.status == "not done" and "count weights" not in feedback.message  # the hint is not repeated
    feedback = tour.check_dense_parameter_count(lambda i, o: i / 0)
    assert feedback.status == "error" and "ZeroDivisionError" in feedback.message


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        tour.check_dense_parameter_count(lambda i, o: 0)
