"""Checker of notebook 15: the solution passes, each usual mistake gets its own message, stubs say 'not done'."""

from __future__ import annotations

import math

import pytest

from course_utils.exercises import STUB_MARKER, ExerciseFailed, width_transfer


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _solution(lr, base_width, width):
    m = width / base_width
    return {"input": lr, "hidden": lr / m, "output": lr, "multiplier": 1 / m}


def _wrong(**change):
    def answer(lr, base_width, width):
        m = width / base_width
        out = _solution(lr, base_width, width)
        out.update({k: f(lr, m) for k, f in change.items()})
        return out

    return answer


def test_solution_passes_and_stub_is_not_done():
    assert width_transfer.check_mup_rates(_solution).passed

    def stub(*args):
        raise NotImplementedError(f"{STUB_MARKER}: write the function.")

    assert width_transfer.check_mup_rates(stub).status == "not done"


def test_strict_mode_raises_on_failure(monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        width_transfer.check_mup_rates(_wrong(hidden=lambda lr, m: lr))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"input": lambda lr, m: lr / m}, "do not grow with the width"),
        ({"input": lambda lr, m: lr / math.sqrt(m)}, "fan-in (the pixels) does not grow"),
        ({"hidden": lambda lr, m: lr}, "standard parametrization: Adam moves"),
        ({"hidden": lambda lr, m: lr / math.sqrt(m)}, "initial std"),
        ({"hidden": lambda lr, m: lr * m}, "inverted: a wider layer"),
        ({"output": lambda lr, m: lr / m}, "counts m twice"),
        ({"output": lambda lr, m: lr / math.sqrt(m)}, "output weights keep lr"),
        ({"multiplier": lambda lr, m: 1.0}, "(no multiplier)"),
        ({"multiplier": lambda lr, m: 1 / math.sqrt(m)}, "keeps the logits' initial size"),
        ({"multiplier": lambda lr, m: m}, "inverted: the multiplier is 1/m"),
    ],
)
def test_each_usual_mistake_gets_its_message(change, needle):
    fb = width_transfer.check_mup_rates(_wrong(**change))
    assert not fb.passed and needle in fb.message, fb.message


def test_bad_shapes_of_answer():
    fb = width_transfer.check_mup_rates(lambda *a: [1, 2, 3, 4])
    assert not fb.passed and "return a dict" in fb.message
    fb = width_transfer.check_mup_rates(lambda *a: {"input": 1.0})
    assert not fb.passed and "lacks hidden, output, multiplier" in fb.message
    fb = width_transfer.check_mup_rates(lambda *a: {**_solution(*a), "hidden": None})
    assert not fb.passed and "'hidden' entry" in fb.message
    fb = width_transfer.check_mup_rates(_wrong(hidden=lambda lr, m: 0.123))
    assert not fb.passed and "expected" in fb.message and "m = width / base_width = 16" in fb.message


def test_reference_at_base_width_is_sp():
    assert width_transfer.reference_mup_rates(1e-3, 64, 64) == {"input": 1e-3, "hidden": 1e-3, "output": 1e-3,
                                                                "multiplier": 1.0}


# --------------------------------------------------------------------- extrapolate_lr


def _extrapolate(lr_n, lr_w, n, w, t):
    a = math.log(lr_w / lr_n) / math.log(w / n)
    return lr_w * (t / w) ** a


def test_extrapolate_solution_passes():
    assert width_transfer.check_extrapolate_lr(_extrapolate).passed
    # the same law anchored at the narrow point is the same line
    fb = width_transfer.check_extrapolate_lr(
        lambda lr_n, lr_w, n, w, t: lr_n * (t / n) ** (math.log(lr_w / lr_n) / math.log(w / n)))
    assert fb.passed


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (lambda lr_n, lr_w, n, w, t: lr_n * n / t, "exactly as 1/width"),
        (lambda lr_n, lr_w, n, w, t: lr_w + (lr_w - lr_n) / (w - n) * (t - w), "straight line in the rate itself"),
        (lambda lr_n, lr_w, n, w, t: lr_w * (t / w) ** (-math.log(lr_w / lr_n) / math.log(w / n)), "sign is flipped"),
        (lambda lr_n, lr_w, n, w, t: math.log(lr_w / lr_n) / math.log(w / n), "returned the exponent"),
        (lambda lr_n, lr_w, n, w, t: lr_w * (t / w) ** (math.log(lr_w / lr_n) / math.log10(w / n)),
         "mixed logarithms"),
        (lambda *a: None, "None"),
        (lambda *a: 0.123, "expected"),
    ],
)
def test_extrapolate_mistakes(answer, needle):
    fb = width_transfer.check_extrapolate_lr(answer)
    assert not fb.passed and needle in fb.message, fb.message
