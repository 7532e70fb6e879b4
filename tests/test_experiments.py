"""The sweep runner: every combination, cached by configuration and code, recomputed on change."""

from __future__ import annotations

import pytest

from course_utils import experiments

calls: list[dict] = []


def _square(x, seed, offset=0):
    calls.append({"x": x, "seed": seed})
    return {"y": x * x + offset + seed / 10}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    calls.clear()


def test_sweep_runs_the_product_and_caches():
    table = experiments.sweep(_square, {"x": [1, 2, 3]}, seeds=[0, 1])
    assert len(table) == 6 and len(calls) == 6
    assert table.loc[(table.x == 3) & (table.seed == 1), "y"].item() == pytest.approx(9.1)
    assert not table.cached.any()
    again = experiments.sweep(_square, {"x": [1, 2, 3]}, seeds=[0, 1])
    assert len(calls) == 6, "a cached sweep must not recompute"
    assert again.cached.all()
    assert again.y.tolist() == table.y.tolist()


def test_changed_configuration_is_recomputed():
    experiments.sweep(_square, {"x": [1, 2]}, seeds=[0])
    experiments.sweep(_square, {"x": [1, 2]}, seeds=[0], offset=5)
    assert len(calls) == 4
    experiments.sweep(_square, {"x": [1, 2, 4]}, seeds=[0])
    assert len(calls) == 5, "only the new configuration runs"


def test_key_depends_on_code():
    def f(x, seed):
        return {"y": x}

    def g(x, seed):
        return {"y": x + 1}

    g.__qualname__ = f.__qualname__
    assert experiments.run_key(f, {"x": 1, "seed": 0}) != experiments.run_key(g, {"x": 1, "seed": 0})


def test_summarize_gives_t_interval():
    table = experiments.sweep(_square, {"x": [2]}, seeds=[0, 1, 2])
    summary = experiments.summarize(table, "x", "y")
    row = summary.iloc[0]
    assert row["count"] == 3 and row["mean"] == pytest.approx(4.1)
    # t_{0.975, 2} = 4.303; sd of (4.0, 4.1, 4.2) = 0.1
    assert row["ci_high"] - row["mean"] == pytest.approx(4.303 * 0.1 / 3**0.5, rel=1e-3)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="non-empty list"):
        experiments.sweep(_square, {"x": 3})
    with pytest.raises(ValueError, match="seeds"):
        experiments.sweep(_square, {"x": [1]}, seeds=[])
    with pytest.raises(TypeError, match="function"):
        experiments.sweep("not a function", {"x": [1]})
    with pytest.raises(ValueError, match="metric"):
        experiments.summarize(experiments.sweep(_square, {"x": [1]}), "x", "nope")
