"""Checkers of notebook 03: the solution passes, typical mistakes get their specific message, stubs say 'not done'."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.exercises import MARKS, STUB_MARKER, ExerciseFailed, symmetry


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*args, **kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: write the function.")


# --------------------------------------------------------------------- gradients


def _grads(x, y, W1, b1, W2, b2, *, at_zero=0.0, mask=True, mean=True, transpose_w1=False, pre_relu_h=False):
    """A learner's backward pass, with switches for the usual mistakes."""
    n = x.shape[0]
    z1 = x @ W1 + b1
    h = np.maximum(z1, 0)
    s = h @ W2 + b2
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ds = p.copy()
    ds[np.arange(n), y] -= 1
    if mean:
        ds /= n
    dh = ds @ W2.T
    slope = np.where(z1 > 0, 1.0, np.where(z1 == 0, at_zero, 0.0)) if mask else 1.0
    dz1 = dh * slope
    dW1 = x.T @ dz1
    return {"W1": dW1.T if transpose_w1 else dW1, "b1": dz1.sum(0), "W2": (z1 if pre_relu_h else h).T @ ds,
            "b2": ds.sum(0)}


def test_gradients_solution_passes(capsys):
    fb = symmetry.check_relu_mlp_gradients(_grads)
    assert fb.passed and fb.status == "passed"
    assert "only db2" in fb.message
    assert MARKS["passed"] in capsys.readouterr().out


def test_gradients_tuple_is_accepted():
    assert symmetry.check_relu_mlp_gradients(lambda *a: tuple(_grads(*a).values())).passed


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"at_zero": 1.0}, "relu'(0) = 0"),
        ({"mask": False}, "ignore the ReLU"),
        ({"mean": False}, "times too large"),
        ({"transpose_w1": True}, "transposed?"),
        ({"pre_relu_h": True}, "after the ReLU"),
    ],
)
def test_gradients_typical_mistakes(kwargs, needle):
    fb = symmetry.check_relu_mlp_gradients(lambda *a: _grads(*a, **kwargs))
    assert not fb.passed and fb.status == "failed"
    assert needle in fb.message


def test_gradients_wrong_container_and_missing_keys():
    fb = symmetry.check_relu_mlp_gradients(lambda *a: [1, 2])
    assert not fb.passed and "return a dict" in fb.message
    fb = symmetry.check_relu_mlp_gradients(lambda *a: {"W1": 0})
    assert not fb.passed and "lacks" in fb.message


def test_gradients_reference_zero_w1_gives_zero_hidden_gradients():
    x, y, W1, b1, W2, b2 = symmetry._problem(3, zero_w1=True)
    g = symmetry.reference_relu_mlp_gradients(x, y, W1, b1, W2, b2)
    assert np.all(g["W1"] == 0) and np.all(g["b1"] == 0) and np.all(g["W2"] == 0)
    assert np.abs(g["b2"]).max() > 1e-3
    # the softmax gradient sums to zero over the classes
    assert abs(g["b2"].sum()) < 1e-12


def test_gradients_reference_matches_finite_differences():
    x, y, W1, b1, W2, b2 = symmetry._problem(4, zero_w1=False, n=4, d=3, hidden=4, classes=3)

    def loss(W1_):
        z = np.maximum(x @ W1_ + b1, 0) @ W2 + b2
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))

    g = symmetry.reference_relu_mlp_gradients(x, y, W1, b1, W2, b2)["W1"]
    eps = 1e-6  # central differences: error O(eps^2) on a smooth piece (no z1 at a kink for this draw)
    num = np.zeros_like(W1)
    for idx in np.ndindex(*W1.shape):
        d = np.zeros_like(W1)
        d[idx] = eps
        num[idx] = (loss(W1 + d) - loss(W1 - d)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


def test_gradients_stub_and_crash_do_not_raise():
    fb = symmetry.check_relu_mlp_gradients(_stub)
    assert fb.status == "not done" and "not done yet" in fb.message
    fb = symmetry.check_relu_mlp_gradients(lambda *a: 1 / 0)
    assert fb.status == "error" and "ZeroDivisionError" in fb.message


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        symmetry.check_relu_mlp_gradients(_stub)
    assert symmetry.check_relu_mlp_gradients(_grads).passed


# ------------------------------------------------------------------- first-step gradients

_F0 = {"relu": (0.0, 0.0), "tanh": (0.0, 1.0), "sigmoid": (0.5, 0.25)}


def _first_step(activation, hidden, output):
    """The reasoning a learner should write: h = f(0) and f'(0) decide, W2 = 0 blocks dW1."""
    f0, df0 = _F0[activation]
    names = {"b2"}
    if hidden == "random" or f0 != 0:
        names.add("W2")
    if output == "random" and (hidden == "random" or df0 != 0):
        names |= {"W1", "b1"}
    return names


def test_first_step_solution_passes():
    fb = symmetry.check_first_step_gradients(_first_step)
    assert fb.passed and "f'(0) = 0" in fb.message


def test_first_step_reference_table():
    assert symmetry.reference_first_step("relu", "zeros", "random") == {"b2"}
    assert symmetry.reference_first_step("tanh", "zeros", "random") == {"W1", "b1", "b2"}
    assert symmetry.reference_first_step("sigmoid", "zeros", "zeros") == {"W2", "b2"}
    assert symmetry.reference_first_step("relu", "random", "zeros") == {"W2", "b2"}
    assert symmetry.reference_first_step("relu", "random", "random") == {"W1", "b1", "W2", "b2"}


def test_first_step_accepts_lists_and_d_prefix():
    assert symmetry.check_first_step_gradients(lambda *a: sorted("d" + n for n in _first_step(*a))).passed


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        # "zero init is fine for ReLU": claims W1 learns
        (lambda a, h, o: _first_step(a, h, o) | ({"W1", "b1"} if o == "random" else set()), "relu'(0) = 0"),
        # forgets that h = sigmoid(0) = 0.5 feeds W2
        (lambda a, h, o: _first_step(a, h, o) - ({"W2"} if h == "zeros" else set()), "sigmoid(0) = 0.5"),
        # forgets that a zero W2 blocks the gradient to W1
        (lambda a, h, o: _first_step(a, h, o) | {"W1", "b1"} if (a, h) == ("relu", "random") else _first_step(a, h, o),
         "W2 = 0 makes it zero"),
        (lambda a, h, o: _first_step(a, h, o) - {"b2"}, "b2 always gets a gradient"),
    ],
)
def test_first_step_typical_mistakes(answer, needle):
    fb = symmetry.check_first_step_gradients(answer)
    assert not fb.passed and needle in fb.message, fb.message


def test_first_step_bad_types_and_stub():
    assert "return a set" in symmetry.check_first_step_gradients(lambda *a: 3).message
    assert "unknown names" in symmetry.check_first_step_gradients(lambda *a: {"W3"}).message
    assert symmetry.check_first_step_gradients(_stub).status == "not done"


# ----------------------------------------------------------------------- initial loss


def test_initial_loss_solution_passes():
    assert symmetry.check_initial_loss(lambda n: math.log(n)).passed
    assert symmetry.check_initial_loss(lambda n: np.log(np.float32(n))).passed


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (lambda n: math.log10(n), "natural log"),
        (lambda n: math.log2(n), "bits"),
        (lambda n: 1 / n, "probability of each class"),
        (lambda n: -math.log(n), "sign"),
        (lambda n: 0.0, "1/10"),
        (lambda n: "ln n", "1/10"),
    ],
)
def test_initial_loss_typical_mistakes(answer, needle):
    fb = symmetry.check_initial_loss(answer)
    assert not fb.passed and needle in fb.message


def test_initial_loss_stub():
    assert symmetry.check_initial_loss(_stub).status == "not done"


# ------------------------------------------------------- holes closed after the expert review


@pytest.mark.parametrize("name", ["W1", "b1", "W2", "b2"])
def test_first_step_messages_read_well_for_every_slip(name):
    # one wrong name on one case at a time: every explanation must be grammatical ("gets NO a gradient" was not)
    for case in [(a, h, o) for a in ("relu", "tanh", "sigmoid") for h in ("zeros", "random") for o in ("zeros", "random")]:
        def answer(*args, case=case):
            right = symmetry.reference_first_step(*args)
            return right ^ {name} if args == case else right

        fb = symmetry.check_first_step_gradients(answer)
        assert not fb.passed
        assert "gets NO a" not in fb.message and "gets a a" not in fb.message, fb.message


# ------------------------------------------------------------- zero layers in a deeper stack


def _escapes(activation, hidden):
    n_zero = sum(s == "zeros" for s in hidden)
    return n_zero == 0 if activation == "relu" else n_zero < 2


def test_escapes_reference_is_the_rule():
    for activation, hidden in symmetry._ESCAPE_CASES:
        assert symmetry.reference_escapes(activation, hidden) == _escapes(activation, hidden), (activation, hidden)


def test_escapes_solution_passes():
    fb = symmetry.check_escapes(_escapes)
    assert fb.passed and "two zero layers anywhere" in fb.message


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        # "tanh'(0) = 1, so tanh always escapes"
        (lambda a, h: a == "tanh" or "zeros" not in h, "zero weights AND zero input"),
        # "only two ADJACENT zero layers block"
        (lambda a, h: _escapes(a, h) or (a == "tanh" and "zeros, zeros" not in ", ".join(h)), "a random layer between"),
        # "any zero layer freezes any network"
        (lambda a, h: "zeros" not in h, "a single zero tanh layer"),
        # "for ReLU only a zero FIRST layer matters"
        (lambda a, h: h[0] != "zeros" if a == "relu" else _escapes(a, h), "One zero ReLU layer anywhere"),
    ],
)
def test_escapes_typical_mistakes(answer, needle):
    fb = symmetry.check_escapes(answer)
    assert not fb.passed and needle in fb.message, fb.message


def test_escapes_bad_types_and_stub():
    assert "return True or False" in symmetry.check_escapes(lambda *a: "yes").message
    assert symmetry.check_escapes(_stub).status == "not done"
