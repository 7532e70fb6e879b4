"""The sweep runner: every combination, cached by configuration and code, recomputed on change."""

from __future__ import annotations

import math

import pytest

from course_utils import advice, config, experiments

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


# ------------------------------------------------------------------ additions for notebooks 11-12


def _metric(init, seed, offset=0.0):
    return {"acc": {"a": 0.9, "b": 0.8}[init] + offset + 0.01 * seed}


def test_initializer_objects_show_with_their_parameters():
    from course_utils import initializers

    small = initializers.get("random_normal", std=0.01)
    assert experiments.init_label(small) == "random_normal(std=0.01)"
    assert experiments.init_label(initializers.get("he_normal")) == "he_normal"
    assert experiments.init_label("he_normal") == "he_normal"

    def run(init, seed):
        return {"std": init.params["std"]}

    table = experiments.sweep(run, {"init": [small, initializers.get("random_normal", std=0.1)]})
    assert table.init.tolist() == ["random_normal(std=0.01)", "random_normal(std=0.1)"]
    assert table.attrs["parameters"] == ["init", "seed"]


def test_compare_pairs_by_seed_and_gives_a_t_interval():
    import pandas as pd
    from scipy import stats

    rows = [{"init": i, "seed": s, "acc": v} for s, (a, b) in enumerate([(0.91, 0.90), (0.92, 0.90), (0.90, 0.91)])
            for i, v in (("a", a), ("b", b))]
    c = experiments.compare(pd.DataFrame(rows), "init", "a", "b", "acc")
    d = [0.01, 0.02, -0.01]
    assert c["n"] == 3 and c["differences"] == pytest.approx(d)
    assert c["mean"] == pytest.approx(sum(d) / 3)
    sd = pd.Series(d).std()
    assert c["ci_high"] - c["mean"] == pytest.approx(stats.t.ppf(0.975, 2) * sd / 3**0.5)
    assert (c["wins"], c["losses"], c["resolved"]) == (2, 1, False)
    clear = experiments.compare(pd.DataFrame([{"init": i, "seed": s, "acc": (1.0 if i == "a" else 0.0) + s / 100}
                                              for s in range(3) for i in "ab"]), "init", "a", "b", "acc")
    assert clear["resolved"] and clear["ci_low"] == pytest.approx(1.0)


def test_compare_explains_bad_input():
    import pandas as pd

    table = pd.DataFrame([{"init": "a", "seed": 0, "acc": 1.0}, {"init": "b", "seed": 0, "acc": 0.5}])
    with pytest.raises(ValueError, match="no runs with init == 'c'"):
        experiments.compare(table, "init", "a", "c", "acc")
    with pytest.raises(ValueError, match="not a column"):
        experiments.compare(table, "init", "a", "b", "loss")
    doubled = pd.concat([table, table])
    with pytest.raises(ValueError, match="not unique"):
        experiments.compare(doubled, "init", "a", "b", "acc")
    one = experiments.compare(table, "init", "a", "b", "acc")
    assert one["n"] == 1 and one["mean"] == 0.5 and not one["resolved"]


def test_compare_by_is_compare_within_each_group_in_order():
    import pandas as pd

    # depth 20: a ahead by 0.1 + s/100 per seed (resolved); depth 2: a tie that flips sign (not resolved)
    rows = [{"depth": depth, "init": i, "seed": s, "acc": v}
            for depth, deltas in ((20, [0.10, 0.11, 0.12]), (2, [0.01, -0.01, 0.0]))
            for s, delta in enumerate(deltas) for i, v in (("a", 0.5 + delta), ("b", 0.5))]
    table = pd.DataFrame(rows)
    by = experiments.compare_by(table, "depth", "init", "a", "b", "acc")
    assert by.index.name == "depth" and by.index.tolist() == [20, 2]
    for depth in (20, 2):
        expected = experiments.compare(table[table.depth == depth], "init", "a", "b", "acc")
        assert by.loc[depth, "mean"] == pytest.approx(expected["mean"])
        assert by.loc[depth, "ci_low"] == pytest.approx(expected["ci_low"])
        assert by.loc[depth, "differences"] == pytest.approx(expected["differences"])
    assert bool(by.loc[20, "resolved"]) and not bool(by.loc[2, "resolved"])
    with pytest.raises(ValueError, match="'width' is not a column"):
        experiments.compare_by(table, "width", "init", "a", "b", "acc")


def test_curves_expand_histories_for_plots():
    def run(init, seed):
        return {"val_accuracy": 0.5, "history": {"epoch": [1, 2], "val_accuracy": [0.4, 0.5 + seed],
                                                 "loss": [2.0, 1.0]}}

    table = experiments.sweep(run, {"init": ["a", "b"]}, seeds=[0, 1])
    long = experiments.curves(table)
    assert set(long.columns) >= {"epoch", "metric", "value", "run", "init", "seed"}
    assert "val_accuracy" not in long.columns  # metrics stay rows, not parameter columns
    assert len(long) == 4 * 2 * 2
    last = long[(long.metric == "val_accuracy") & (long.epoch == 2) & (long.init == "b")]
    assert sorted(last.value) == [0.5, 1.5]
    from course_utils import plots

    plots.plot_learning_curves(long, by="init")  # the frame is what plots expects
    with pytest.raises(ValueError, match="history"):
        experiments.curves(table.drop(columns="history"))


def test_train_mlp_is_the_classic_model_and_caches(monkeypatch):
    """One tiny real run per framework: metrics, curves, and the sweep's cache."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)

    class Small:
        x_train, y_train, x_test, y_test = x, y, x[:32], y[:32]
        n_classes = 10

    experiments.cached_dataset.cache_clear()
    monkeypatch.setattr(experiments, "cached_dataset", lambda name, n=None, seed=0: Small)
    table = experiments.sweep(experiments.train_mlp, {"framework": ["torch"], "init": ["zeros", "he_normal"]},
                              seeds=[0], epochs=2, hidden=16, batch_size=32, train_loss=True)
    assert set(table.columns) >= {"val_accuracy", "val_loss", "loss", "seconds_per_epoch", "build_seconds",
                                  "final_train_loss", "history"}
    assert table.history.iloc[0]["epoch"] == [1, 2] and len(table.history.iloc[0]["val_accuracy"]) == 2
    zeros = table.set_index("init").loc["zeros"]
    # zero hidden weights and zero biases: the hidden layer outputs 0, so only the output bias learns
    assert zeros["final_train_loss"] >= 2.0
    again = experiments.sweep(experiments.train_mlp, {"framework": ["torch"], "init": ["zeros", "he_normal"]},
                              seeds=[0], epochs=2, hidden=16, batch_size=32, train_loss=True)
    assert again.cached.all() and again.val_loss.tolist() == table.val_loss.tolist()


def test_signal_summary_separates_good_and_bad_scales():
    good = advice.signal_summary("he_normal", "relu", 20, seed=0, width=64, n_samples=128)
    bad = advice.signal_summary("glorot_normal", "relu", 20, seed=0, width=64, n_samples=128)
    # He keeps n Var(w) / 2 = 1 per ReLU layer; Glorot halves the variance: 2^-10 in std over 20 layers
    assert good["decades"] < 0.5
    assert 2.0 < -math.log10(bad["forward_ratio"]) < 4.0 and bad["decades"] >= 2.0
    boom = advice.signal_summary(experiments_initializer("random_normal", std=1.0), "relu", 50, seed=0,
                                      width=64, n_samples=16)
    assert boom["decades"] > 10


def experiments_initializer(name, **params):
    from course_utils import initializers

    return initializers.get(name, **params)


def test_time_init_measures_one_draw():
    for framework in ("numpy", "torch"):
        seconds = experiments.time_init("he_normal", (64, 32), framework, repeats=2)
        assert 0 < seconds < 5
    with pytest.raises(ValueError):
        experiments.time_init("he_normal", (8, 8), "jax")


def test_workers_run_in_parallel_processes_with_the_same_results():
    grid = {"activation": ["relu", "tanh"], "init": ["he_normal", experiments_initializer("random_normal", std=0.01)]}
    fixed = {"depth": 4, "width": 16, "n_samples": 32}
    parallel = experiments.sweep(advice.signal_summary, grid, seeds=[0, 1], workers=2, **fixed)
    assert not parallel.cached.any() and len(parallel) == 8
    again = experiments.sweep(advice.signal_summary, grid, seeds=[0, 1], **fixed)
    assert again.cached.all(), "runs made by workers are cached like any other"
    fresh = experiments.sweep(advice.signal_summary, grid, seeds=[0, 1], cache=False, **fixed)
    # NumPy draws from seeded generators: the worker processes compute exactly what this process does
    assert fresh.forward_ratio.tolist() == parallel.forward_ratio.tolist()
    assert parallel.init.tolist()[:4] == ["he_normal", "he_normal", "random_normal(std=0.01)", "random_normal(std=0.01)"]


def test_workers_need_an_importable_function_and_report_failures():
    def local(x, seed):
        return {"y": x}

    with pytest.raises(ValueError, match="import"):
        experiments.sweep(local, {"x": [1, 2]}, workers=2)
    with pytest.raises(RuntimeError, match="activation"):
        experiments.sweep(advice.signal_summary, {"activation": ["nope", "also_nope"]}, workers=2,
                          init="he_normal", depth=2)
    with pytest.raises(ValueError, match="workers"):
        experiments.sweep(_square, {"x": [1]}, workers=0)


def test_check_model_gives_a_verdict_and_the_guides_advice():
    import numpy as np

    from course_utils import frameworks, initializers, models

    torch = frameworks.torch()
    rng = np.random.default_rng(0)
    x = rng.random((128, 32), dtype=np.float32)
    y = rng.integers(0, 10, 128)
    torch.manual_seed(0)
    layers = []
    for i in range(10):
        layers += [torch.nn.Linear(32 if i == 0 else 64, 64), torch.nn.ReLU()]
    default = torch.nn.Sequential(*layers, torch.nn.Linear(64, 10))
    report = advice.check_model(default, x, y)
    # nn.Linear's default has n Var(w) / 2 = 1/6 per ReLU layer: the weight gradients fade toward the input
    assert report["decades"] > advice.HEALTHY_DECADES and report["verdict"].startswith("problem")
    assert "he_normal" in report["verdict"] and report["activation"] == "relu"
    assert len(report["layers"]) == 11
    healthy = models.build_mlp("torch", 32, 64, "relu", "he_normal", depth=10, seed=0)
    good = advice.check_model(healthy, x, y)
    assert good["decades"] < 1 and good["verdict"].startswith("healthy")
    assert all(str(s).startswith("he_normal") for s in good["schemes"])
    with pytest.raises(ValueError, match="two hidden"):
        advice.check_model(models.build_mlp("torch", 32, 8, seed=0), x, y)
    assert initializers.get(advice.GUIDE["relu"][0][0]).name == "he_normal"


def test_guide_names_registry_schemes_for_every_activation():
    from course_utils import initializers, models

    names = set(initializers.names())
    assert set(models.ACTIVATIONS) <= set(advice.GUIDE)
    for accepted, why in advice.GUIDE.values():
        assert accepted and set(accepted) <= names and why.endswith(".")


@pytest.mark.skipif(config._malloc_trim() is None, reason="malloc_trim is glibc's; elsewhere release_memory is a no-op")
def test_time_init_gives_a_large_draws_memory_back():
    """An orthogonal draw of 2048 x 2048 left ~70 MB resident after it was freed (glibc keeps freed
    pages); time_init hands them back through config.release_memory."""
    import psutil

    proc = psutil.Process()
    experiments.time_init("orthogonal", (256, 256), "torch", repeats=1)  # torch and its allocator warmed up
    before = proc.memory_info().rss
    experiments.time_init("orthogonal", (2048, 2048), "torch", repeats=2)
    grown = (proc.memory_info().rss - before) / 2**20
    assert grown < 30, f"{grown:.0f} MB stayed resident after the draws"


def test_cached_dataset_keeps_recent_datasets_within_a_byte_budget(monkeypatch):
    """Datasets are shared between runs, but a full one is not kept alive for the rest of the kernel."""
    experiments.cached_dataset.cache_clear()
    monkeypatch.setattr(experiments, "DATASET_CACHE_BYTES", 20 * 2**20)  # the 2,000 and 1,000 sets (12.5 + 6.3 MB)
    a = experiments.cached_dataset("fashion_mnist", 2_000)
    assert experiments.cached_dataset("fashion_mnist", 2_000) is a  # a hit: the same arrays
    b = experiments.cached_dataset("fashion_mnist", 1_000)
    assert experiments.cached_dataset("fashion_mnist", 2_000) is a  # both fit in the budget
    experiments.cached_dataset("fashion_mnist", 3_000)  # over the budget: the least recently used (b) goes
    assert experiments.cached_dataset("fashion_mnist", 1_000) is not b
    experiments.cached_dataset.cache_clear()
