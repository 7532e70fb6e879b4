"""Small synthetic data for fast demos: Gaussian inputs and two moons."""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_int, check_number
from ._load import Dataset, _stratified_indices

__all__ = ["gaussian_inputs", "two_moons"]


def gaussian_inputs(n: int, dim: int, seed: int = 0, *, std: float = 1.0, dtype: str = "float32") -> np.ndarray:
    """``n`` input vectors of ``dim`` independent N(0, std^2) entries, shape ``(n, dim)``.

    The inputs that signal-propagation analyses assume (Glorot & Bengio 2010;
    He et al. 2015): zero mean and a known variance, so the variance of each
    layer's output can be compared with what an initialization scheme predicts.
    """
    n = check_int("n", n, low=1)
    dim = check_int("dim", dim, low=1)
    seed = check_int("seed", seed, low=0)
    std = check_number("std", std, low=0, low_inclusive=False)
    dtype = check_choice("dtype", dtype, ("float32", "float64"))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.dtype(dtype).type)
    if std != 1.0:
        x *= np.asarray(std, dtype=dtype)
    return x


def two_moons(n: int, noise: float = 0.1, seed: int = 0, *, n_test: int | None = None) -> Dataset:
    """Two interleaving half circles in 2-D (two classes): ``n`` training points plus a test set.

    Class 0 lies on the upper half circle ``(cos t, sin t)``, class 1 on the
    lower one ``(1 - cos t, 1/2 - sin t)``, ``t`` uniform in ``[0, pi]``, plus
    Gaussian noise of standard deviation ``noise`` on both coordinates (the
    construction of scikit-learn's ``make_moons``). The test set
    (``n_test``, default ``max(2, n // 4)`` points) comes from the same
    distribution; both splits are balanced between the classes to within one point.
    """
    n = check_int("n", n, low=2)
    n_test = check_int("n_test", max(2, n // 4) if n_test is None else n_test, low=2)
    noise = check_number("noise", noise, low=0)
    seed = check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    total = n + n_test
    y = np.arange(total) % 2  # alternate classes so both splits stay balanced
    t = rng.uniform(0.0, np.pi, size=total)
    x = np.where(
        (y == 0)[:, None],
        np.stack([np.cos(t), np.sin(t)], axis=1),
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1),
    )
    x = (x + noise * rng.standard_normal(x.shape)).astype(np.float32)
    test = _stratified_indices(y, n_test, rng)
    train = np.setdiff1d(np.arange(total), test)
    return Dataset(
        name="two_moons",
        x_train=x[train],
        y_train=y[train].astype(np.int64),
        x_test=x[test],
        y_test=y[test].astype(np.int64),
        class_names=("upper moon", "lower moon"),
        source=f"synthetic: two_moons(n={n}, noise={noise:g}, seed={seed}, n_test={n_test})",
        source_kind="synthetic",
    )
