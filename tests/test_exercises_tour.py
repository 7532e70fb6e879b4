"""The warm-up checker of notebook 00: specific feedback, never a crash."""

from __future__ import annotations

import numpy as np
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


# ----------------------------------------------------------------- find the bug: He-normal weights


def _he(scale):
    return lambda i, o, rng: rng.normal(0.0, scale(i, o), size=(i, o))


def test_fixed_he_weights_pass_and_show_the_collapse_they_fixed(capsys):
    assert tour.check_he_weights(_he(lambda i, o: (2 / i) ** 0.5)).passed
    out = capsys.readouterr().out
    assert "shrank it to 1.2e-20" in out
    # Keras's he_normal is a truncated normal rescaled to the same variance: a He normal too
    def truncated(i, o, rng):
        z = rng.normal(size=3 * i * o)
        return np.sqrt(2 / i) / 0.87962566103423978 * z[np.abs(z) < 2][: i * o].reshape(i, o)

    assert tour.check_he_weights(truncated).passed


@pytest.mark.parametrize(
    "answer, advice",
    [
        (_he(lambda i, o: 2 / i), "is still 2/fan_in"),                       # the bug, unchanged
        (_he(lambda i, o: (2 / i) ** 2), "is (2/fan_in)^2"),
        (_he(lambda i, o: (1 / i) ** 0.5), "LeCun's"),
        (_he(lambda i, o: 2 / i**0.5), "applies to the 2 as well"),
        (_he(lambda i, o: (2 / o) ** 0.5), "not fan_out"),
        (_he(lambda i, o: (2 / (i + o)) ** 0.5), "Glorot's"),
        (_he(lambda i, o: 0.3), "He's is sqrt(2/784)"),                     # no known mistake: the numbers
        (lambda i, o, rng: rng.uniform(-(6 / i) ** 0.5, (6 / i) ** 0.5, size=(i, o)), "uniform"),
        (lambda i, o, rng: rng.normal(0.1, (2 / i) ** 0.5, size=(i, o)), "centred on 0"),
        (lambda i, o, rng: rng.normal(0.0, (2 / i) ** 0.5, size=(o, i)), "rows and columns swapped"),
        (lambda i, o, rng: np.random.normal(0.0, (2 / i) ** 0.5, size=(i, o)), "not np.random"),
        (lambda i, o, rng: np.random.default_rng(0).normal(0.0, (2 / i) ** 0.5, size=(i, o)), "a generator of your own"),
        (lambda i, o, rng: None, "forget the `return`"),
    ],
)
def test_wrong_he_weights_get_specific_advice(answer, advice, capsys):
    assert not tour.check_he_weights(answer).passed
    assert advice in capsys.readouterr().out


def test_the_bug_is_shown_by_the_depth_it_destroys():
    he = tour.relu_depth_ratio(_he(lambda i, o: (2 / i) ** 0.5))
    buggy = tour.relu_depth_ratio(_he(lambda i, o: 2 / i))
    # 19 factors sqrt(256 * (2/256)^2 / 2) = 0.088 between layer 1 and layer 20: about 1e-20
    assert 0.5 < he < 2 and 1e-21 < buggy < 1e-19


def test_he_weights_stub_is_not_done(capsys):
    def stub(fan_in, fan_out, rng):
        raise NotImplementedError("exercise 2: see the hint above")

    assert tour.check_he_weights(stub).status == "not done"
