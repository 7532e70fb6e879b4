"""The checkers of notebook 09: solutions pass, typical mistakes get their specific advice, stubs say "not done yet"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.exercises import STUB_MARKER, ExerciseFailed, sparse


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*_args, **_kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: pick k positions per unit.")


def _raises(*_args, **_kwargs):
    return 1 / 0


def _assert_fails_with(feedback, *fragments):
    assert not feedback.passed and feedback.status == "failed", feedback
    for fragment in fragments:
        assert fragment in feedback.message, (fragment, feedback.message)


# ------------------------------------------------------------------ sparse init


def sparse_solution(fan_in, units, k, rng):
    w = np.zeros((fan_in, units))
    for j in range(units):
        rows = rng.choice(fan_in, size=k, replace=False)
        w[rows, j] = rng.normal(size=k)
    return w


def test_sparse_solution_passes():
    assert sparse.check_sparse_init(sparse_solution).status == "passed"


def test_vectorised_solution_passes():
    def ranks(fan_in, units, k, rng):
        keep = np.argsort(rng.random((fan_in, units)), axis=0) < k
        return np.where(keep, rng.normal(size=(fan_in, units)), 0.0)

    assert sparse.check_sparse_init(ranks).passed


def _per_row(fan_in, units, k, rng):
    return sparse_solution(units, fan_in, k, rng).T


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda f, u, k, rng: sparse_solution(f, u, k, rng).T, ["PyTorch's (units, fan_in)"]),
        (_per_row, ["each ROW", "torch's sparse_"]),
        (lambda f, u, k, rng: sparse_solution(f, u, f - k, rng), ["ZEROS"]),
        (lambda f, u, k, rng: sparse_solution(f, u, k, rng) * math.sqrt(k / f), ["sqrt(k / fan_in)"]),
        (lambda f, u, k, rng: np.where(sparse_solution(f, u, k, rng) != 0, rng.uniform(-1, 1, (f, u)), 0.0),
         ["U(-1, 1)"]),
        (lambda f, u, k, rng: np.vstack([rng.normal(size=(k, u)), np.zeros((f - k, u))]), ["same"]),
        (lambda f, u, k, rng: sparse_solution(f, u, k, np.random.default_rng(0)), ["same matrix"]),
        (lambda f, u, k, rng: sparse_solution(f, u, k, rng)[:, :-1], ["shape"]),
        (lambda f, u, k, rng: "weights", ["str"]),
    ],
)
def test_sparse_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(sparse.check_sparse_init(wrong), *fragments)


# ------------------------------------------------------------ torch sparse_ count


def nonzeros_solution(fan_in, units, sparsity):
    return fan_in * (units - math.ceil(sparsity * units)) / units


def test_nonzeros_solution_passes():
    feedback = sparse.check_torch_sparse_nonzeros(nonzeros_solution)
    assert feedback.status == "passed" and "12.25" in feedback.message


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda f, u, s: f * (1 - s), ["ignoring the rounding"]),
        (lambda f, u, s: u - math.ceil(s * u), ["per COLUMN"]),
        (lambda f, u, s: f * (u - math.ceil(s * u)), ["total number"]),
        (lambda f, u, s: u * (f - math.ceil(s * f)) / f, ["wrong axis"]),
        (lambda f, u, s: [1.0, 2.0], ["one number"]),
        (lambda f, u, s: 13, ["expected"]),
    ],
)
def test_nonzeros_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(sparse.check_torch_sparse_nonzeros(wrong), *fragments)


def test_nonzeros_reference_matches_torch():
    torch = pytest.importorskip("torch")
    w = torch.empty(256, 784)
    torch.nn.init.sparse_(w, sparsity=1 - 15 / 784)
    assert (w != 0).sum(dim=1).float().mean().item() == pytest.approx(
        sparse.reference_torch_sparse_nonzeros(784, 256, 1 - 15 / 784))


# --------------------------------------------------------------------- CSR bytes


def csr_solution(rows, cols, nnz):
    return 4 * nnz + 8 * nnz + 8 * (rows + 1)


def test_csr_solution_passes():
    assert sparse.check_csr_bytes(csr_solution).status == "passed"


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda r, c, n: 4 * r * c, ["dense size"]),
        (lambda r, c, n: 4 * n + 4 * n + 4 * (r + 1), ["int64"]),
        (lambda r, c, n: 12 * n, ["row pointers"]),
        (lambda r, c, n: 12 * n + 8 * r, ["rows + 1"]),
        (lambda r, c, n: 20 * n, ["COO"]),
        (lambda r, c, n: None, ["one number"]),
        (lambda r, c, n: 1, ["expected"]),
    ],
)
def test_csr_mistakes_get_specific_advice(wrong, fragments):
    _assert_fails_with(sparse.check_csr_bytes(wrong), *fragments)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_csr_reference_matches_torch():
    torch = pytest.importorskip("torch")
    w = torch.zeros(256, 784)
    w[torch.arange(256), torch.arange(256)] = 1.0
    csr = w.to_sparse_csr()
    measured = sum(t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices()))
    assert measured == sparse.reference_csr_bytes(256, 784, 256)


# ------------------------------------------------------------------ every checker


CHECKERS = [sparse.check_sparse_init, sparse.check_torch_sparse_nonzeros, sparse.check_csr_bytes]


@pytest.mark.parametrize("check", CHECKERS)
def test_stub_says_not_done_yet(check):
    feedback = check(_stub)
    assert feedback.status == "not done" and "not done yet" in feedback.message


@pytest.mark.parametrize("check", CHECKERS)
def test_learner_exception_becomes_a_message(check):
    feedback = check(_raises)
    assert feedback.status == "error" and "ZeroDivisionError" in feedback.message


@pytest.mark.parametrize("check", CHECKERS)
def test_strict_mode_raises_on_failure(check, monkeypatch):
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        check(_stub)


def test_checkers_do_not_load_frameworks():
    import subprocess
    import sys

    code = ("import sys; from course_utils.exercises import sparse; "
            "print('tensorflow' in sys.modules or 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------- holes closed after the expert review


def _same_values_everywhere(fan_in, units, k, rng):
    values = rng.normal(size=k)  # drawn once: every unit gets the same k weights
    w = np.zeros((fan_in, units))
    for j in range(units):
        w[rng.choice(fan_in, size=k, replace=False), j] = values
    return w


def _global_generator(fan_in, units, k, rng):
    return sparse_solution(fan_in, units, k, np.random.default_rng(np.random.randint(2**31)))


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (_global_generator, ["seeded alike", "`rng` argument"]),
        (_same_values_everywhere, ["distinct values", "fresh values"]),
    ],
)
def test_sparse_init_generator_and_value_holes_are_named(wrong, fragments):
    _assert_fails_with(sparse.check_sparse_init(wrong), *fragments)


def test_nonzeros_sparsity_as_the_fraction_kept_is_named():
    _assert_fails_with(sparse.check_torch_sparse_nonzeros(lambda f, u, s: f * s), "fraction of each column set to ZERO")
