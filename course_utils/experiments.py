"""Sweeps over configurations x seeds, with results cached on disk.

A sweep is a function of keyword arguments that returns a flat dict of
numbers, run for every combination of a grid and every seed::

    def final_loss(init, depth, seed):
        model = models.build_mlp("torch", 784, [64] * depth, "relu", init, seed=seed)
        return {"loss": training.train(model, data, epochs=1, seed=seed).loss[-1]}

    table = sweep(final_loss, {"init": ["glorot_normal", "he_normal"], "depth": [5, 20]}, seeds=[0, 1, 2])

Each run is cached as JSON under ``cache_dir()/experiments`` (never pickle),
keyed by the function's qualified name, the source code of the function, the
package version, the profile and the full configuration. Re-running a
notebook is therefore instant, and changing the configuration or the code
recomputes exactly the runs affected.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import inspect
import itertools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import config
from ._validation import check_choice, check_int

__all__ = [
    "sweep",
    "run_key",
    "clear_cache",
    "summarize",
    "compare",
    "curves",
    "cached_dataset",
    "train_mlp",
    "signal_summary",
    "init_label",
    "time_init",
    "GUIDE",
    "HEALTHY_DECADES",
    "check_model",
]


@functools.lru_cache(maxsize=1)
def _package_version() -> str:
    """A hash of course_utils' own source: a change to any helper invalidates cached runs."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _code_version(fn: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):  # defined without retrievable source: its bytecode stands in
        source = repr(fn.__code__.co_code) if hasattr(fn, "__code__") else repr(fn)
    return hashlib.sha256(f"{_package_version()}\n{source}".encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    """Configuration values as JSON: names for initializer objects, lists for tuples."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if hasattr(value, "name") and hasattr(value, "params"):  # a registry Initializer
        return {"initializer": value.name, "params": _jsonable(dict(value.params))}
    if hasattr(value, "item"):  # NumPy scalar
        return value.item()
    raise TypeError(
        f"sweep configurations must be plain values (str, number, bool, list, dict, Initializer); "
        f"got {type(value).__name__} {value!r}."
    )


def run_key(fn: Callable[..., Any], params: Mapping[str, Any]) -> str:
    """The cache key of one run: function name, code version, profile and configuration."""
    payload = {
        "function": f"{fn.__module__}.{fn.__qualname__}",
        "code": _code_version(fn),
        "profile": config.profile(),
        "params": _jsonable(dict(params)),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _cache_folder() -> Path:
    folder = config.cache_dir() / "experiments"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        return folder
    except OSError:
        fallback = Path(tempfile.gettempdir()) / "course_utils-experiments"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # missing or half-written: recompute
        return None


def _write(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, allow_nan=True))
    tmp.replace(path)  # atomic: an interrupted run never leaves a broken cache entry


def sweep(
    fn: Callable[..., Mapping[str, Any]],
    grid: Mapping[str, Sequence[Any]],
    *,
    seeds: Iterable[int] = (0,),
    cache: bool = True,
    progress: bool | None = None,
    workers: int = 1,
    grouped: bool = False,
    **fixed: Any,
):
    """Run ``fn(**config, seed=seed, **fixed)`` over the grid's product and every seed.

    Args:
        fn: returns a flat mapping of metric name -> number for one run.
        grid: parameter name -> values to sweep; the runs are the Cartesian product.
        seeds: one run per seed per configuration (a claim needs several: see notebook 11).
        cache: read and write the on-disk cache (off: always recompute, never store).
        progress: show a tqdm bar (default: only outside the quick profile).
        workers: run the uncached runs in this many worker processes at once, each
            with ``n_threads() // workers`` threads (at least 1). On a few cores, two
            single-threaded trainings of small models finish sooner than the same two
            run one after the other with two threads each (``bench/RESULTS.md``). Each
            worker imports the frameworks once (seconds), so this pays off for runs of
            a minute or more. ``fn`` must be importable by ``module.name``
            (a course_utils function such as :func:`train_mlp`, not one defined in a
            notebook); configurations travel as JSON, never pickle.
        grouped: with ``fn=train_mlp``, train the uncached runs that differ only in ``init``,
            ``seed``, ``lr``, ``output_init`` or ``bias_init`` as groups (:mod:`course_utils.grouped`:
            one batched computation, the same numbers to float32 reassociation, less CPU per run);
            the rest one at a time as usual.
        **fixed: parameters passed to every run, part of the cache key too.

    Returns:
        A pandas DataFrame, one row per run: the parameters, ``seed``, the metrics,
        ``seconds`` (the run's own time, from the cache when cached) and ``cached``.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if not callable(fn):
        raise TypeError(f"fn must be a function returning a dict of metrics; got {type(fn).__name__}.")
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty dict of parameter name -> list of values.")
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values; got {values!r}.")
    seeds = [check_int("seed", s, low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. seeds=[0, 1, 2].")

    workers = check_int("workers", workers, low=1)
    names = list(grid)
    runs = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]
    folder = _cache_folder() if cache else None
    show = (not config.is_quick()) if progress is None else progress
    jobs = [(params, seed, {**params, **fixed, "seed": seed}) for params in runs for seed in seeds]
    paths = [folder / f"{run_key(fn, call)}.json" if folder else None for _, _, call in jobs]
    records = [_read(path) if path else None for path in paths]
    cached = [r is not None for r in records]
    todo = [i for i, r in enumerate(records) if r is None]
    bar = tqdm(total=len(todo), desc=getattr(fn, "__name__", "sweep"), disable=not show or not todo, leave=False)

    def done(i: int, record: dict[str, Any]) -> None:
        records[i] = record
        if paths[i]:
            _write(paths[i], record)
        bar.update(1)

    try:
        if grouped and todo:
            from . import grouped as grouping

            todo = grouping.sweep_groups(fn, [(i, jobs[i][2]) for i in todo], done)
        if workers > 1 and len(todo) > 1:
            _run_parallel(fn, [(i, jobs[i][2]) for i in todo], workers, done)
        else:
            for i in todo:
                done(i, _run_one(fn, jobs[i][2]))
    finally:
        bar.close()
    rows = [{**{k: _display(v) for k, v in params.items()}, "seed": seed, **record["metrics"],
             "seconds": record["seconds"], "cached": was_cached}
            for (params, seed, _), record, was_cached in zip(jobs, records, cached, strict=True)]
    table = pd.DataFrame(rows)
    table.attrs["parameters"] = [*names, "seed"]  # which columns are the configuration (see curves())
    return table


def _run_one(fn: Callable[..., Mapping[str, Any]], call: Mapping[str, Any]) -> dict[str, Any]:
    """One run in this process: the metrics as JSON-ready values, and its seconds."""
    start = time.perf_counter()
    metrics = fn(**call)
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{getattr(fn, '__name__', fn)} must return a dict of metrics; got {type(metrics).__name__}.")
    return {"metrics": {k: _jsonable(v) for k, v in metrics.items()}, "seconds": time.perf_counter() - start}


def _function_ref(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of a function a fresh process can import, or a ValueError saying why not."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        raise ValueError(f"workers > 1 runs {getattr(fn, '__name__', fn)!r} in fresh processes, which must import it; "
                         "define it in a module (e.g. use experiments.train_mlp) or use workers=1.")
    return f"{module}:{qualname}"


def _revive(value: Any) -> Any:
    """A configuration value back from JSON: registry initializers become Initializer objects again."""
    if isinstance(value, dict) and set(value) == {"initializer", "params"}:
        from . import initializers

        return initializers.get(value["initializer"], **value["params"])
    if isinstance(value, dict):
        return {k: _revive(v) for k, v in value.items()}
    return value


def _run_parallel(fn: Callable[..., Any], tasks: list[tuple[int, Mapping[str, Any]]], workers: int,
                  done: Callable[[int, dict[str, Any]], None]) -> None:
    """Run ``tasks`` (index, call) in ``workers`` worker processes (``python -m course_utils.experiments
    --worker``), one JSON line per task each way; ``done(index, record)`` as each finishes."""
    import queue
    import subprocess
    import sys
    import threading

    ref = _function_ref(fn)
    workers = min(workers, len(tasks))
    env = dict(os.environ, COURSE_THREADS=str(max(1, config.n_threads() // workers)))
    pending: queue.Queue = queue.Queue()
    for task in tasks:
        pending.put(task)
    errors: list[str] = []
    lock = threading.Lock()

    def serve() -> None:
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.experiments", "--worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env, cwd=str(config.repo_root()))
        try:
            while not errors:
                try:
                    index, call = pending.get_nowait()
                except queue.Empty:
                    break
                proc.stdin.write(json.dumps({"fn": ref, "params": _jsonable(dict(call))}) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                reply = json.loads(line) if line else {"error": "the worker process ended unexpectedly"}
                with lock:
                    if "error" in reply:
                        errors.append(reply["error"])
                    else:
                        done(index, reply)
        finally:
            proc.stdin.close()
            proc.wait()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"a run failed in a worker process:\n{errors[0]}")


def _worker() -> None:
    """Serve runs: read {"fn", "params"} JSON lines on stdin, answer {"metrics", "seconds"} or {"error"}."""
    import importlib
    import sys
    import traceback

    out = sys.stdout
    sys.stdout = sys.stderr  # whatever the runs print must not interleave with the replies
    for line in sys.stdin:
        try:
            task = json.loads(line)
            module, qualname = task["fn"].split(":")
            fn: Any = importlib.import_module(module)
            for part in qualname.split("."):
                fn = getattr(fn, part)
            reply = _run_one(fn, {k: _revive(v) for k, v in task["params"].items()})
        except Exception:  # noqa: BLE001 - reported to the parent, which raises it
            reply = {"error": traceback.format_exc()}
        out.write(json.dumps(reply, allow_nan=True) + "\n")
        out.flush()


def init_label(initializer: Any) -> str:
    """A readable name for a scheme: ``he_normal``, or ``random_normal(std=0.01)`` when its
    parameters differ from the registry's defaults (so two scales of one scheme stay apart)."""
    from . import initializers

    if isinstance(initializer, str):
        return initializer
    if not (hasattr(initializer, "name") and hasattr(initializer, "params")):
        raise TypeError(f"initializer must be a scheme name or a course_utils Initializer; got "
                        f"{type(initializer).__name__} {initializer!r}.")
    try:
        defaults = initializers.get(initializer.name).params
    except (ValueError, TypeError):  # not a registry name: show every parameter
        defaults = {}
    changed = {k: v for k, v in initializer.params.items() if defaults.get(k, object()) != v}
    if not changed:
        return initializer.name
    return initializer.name + "(" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in changed.items()) + ")"


def _display(value: Any) -> Any:
    """How a parameter appears in the result table (an Initializer shows as its label)."""
    if hasattr(value, "name") and hasattr(value, "params"):
        return init_label(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def summarize(table, by: Sequence[str] | str, metric: str, *, confidence: float = 0.95):
    """Mean, standard deviation, count and a t-based confidence interval of ``metric`` per group.

    The interval is mean +/- t_{(1+confidence)/2, n-1} * sd / sqrt(n) (Student's t,
    because a course experiment has 3-10 seeds, far too few for the normal 1.96).
    """
    from scipy import stats

    by = [by] if isinstance(by, str) else list(by)
    unknown = [column for column in by if column not in table.columns]
    if unknown:
        raise ValueError(f"by names column(s) {unknown} that the table lacks; columns are {list(table.columns)}.")
    if metric not in table.columns:
        raise ValueError(f"metric {metric!r} is not a column; columns are {list(table.columns)}.")
    grouped = table.groupby(by, sort=False)[metric]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    t = out["count"].map(lambda n: stats.t.ppf((1 + confidence) / 2, n - 1) if n > 1 else math.nan)
    half = t * out["std"] / out["count"] ** 0.5
    out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    return out


def clear_cache() -> int:
    """Delete every cached experiment result; returns how many were removed."""
    folder = _cache_folder()
    removed = 0
    for path in folder.glob("*.json"):
        path.unlink()
        removed += 1
    return removed


def compare(table, column: str, a: Any, b: Any, metric: str, *, pair_on: Sequence[str] | str = "seed",
            confidence: float = 0.95) -> dict[str, Any]:
    """Is ``a`` better than ``b``? The paired difference ``metric(a) - metric(b)`` with a t-interval.

    Runs are paired on ``pair_on`` (default the seed: the same seed gives both
    runs the same data order and dropout masks, so pairing removes that part of
    the noise). The interval is ``mean(d) +/- t_{(1+confidence)/2, n-1} sd(d) / sqrt(n)``
    over the ``n`` paired differences ``d``; every other column of ``table`` must
    be the same within a pair (filter the table first).

    Returns a dict: ``mean``, ``sd``, ``n``, ``ci_low``, ``ci_high``, ``resolved``
    (the interval excludes 0), ``wins`` (pairs where ``a`` is ahead), ``losses``,
    ``differences`` (list, in ``pair_on`` order).
    """
    from scipy import stats

    keys = [pair_on] if isinstance(pair_on, str) else list(pair_on)
    for name in (column, metric, *keys):
        if name not in table.columns:
            raise ValueError(f"{name!r} is not a column; columns are {list(table.columns)}.")
    left = table[table[column] == a].set_index(keys)[metric]
    right = table[table[column] == b].set_index(keys)[metric]
    if left.empty or right.empty:
        missing = a if left.empty else b
        raise ValueError(f"no runs with {column} == {missing!r}; values are {sorted(map(str, set(table[column])))}.")
    if not left.index.is_unique or not right.index.is_unique:
        raise ValueError(f"pairs are not unique on {keys}: filter the table so that one run per {keys} remains "
                         f"for each {column}.")
    d = (left - right).dropna().sort_index()
    n = len(d)
    if n == 0:
        raise ValueError(f"no {keys} value has runs of both {a!r} and {b!r}.")
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n) if n > 1 else math.nan
    low, high = mean - half, mean + half
    return {"mean": mean, "sd": sd, "n": n, "ci_low": low, "ci_high": high,
            "resolved": bool(n > 1 and (low > 0 or high < 0)), "wins": int((d > 0).sum()),
            "losses": int((d < 0).sum()), "differences": [float(v) for v in d]}


def curves(table, column: str = "history"):
    """The per-epoch curves stored by :func:`train_mlp` as one long DataFrame for
    :func:`course_utils.plots.plot_learning_curves`: columns ``epoch``, ``metric``,
    ``value``, ``run`` and every parameter column of ``table`` (init, framework, seed, ...)."""
    import pandas as pd

    if column not in table.columns:
        raise ValueError(f"{column!r} is not a column; train_mlp() stores the curves in 'history'.")
    params = [c for c in table.attrs.get("parameters", table.columns) if c in table.columns
              and not isinstance(table[c].iloc[0], (dict, list)) and c not in ("seconds", "cached")]
    frames = []
    for run, (_, row) in enumerate(table.iterrows()):
        history = row[column]
        epochs = history["epoch"]
        for metric, values in history.items():
            if metric == "epoch":
                continue
            frames.append(pd.DataFrame({"epoch": epochs, "metric": metric, "value": values, "run": run,
                                        **{c: row[c] for c in params if c not in ("epoch", "metric", "value")}}))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ ready-made runs


#: Bytes of arrays :func:`cached_dataset` keeps between calls. One full 60,000-image set (219 MB as
#: float32) fits; a second one evicts the older. An unbounded cache (it was 8 datasets) kept a full
#: MNIST alive for the rest of a kernel: 219 MB of Binder's 2 GB.
DATASET_CACHE_BYTES = 256 * 2**20
_DATASETS: collections.OrderedDict[tuple[str, int | None, int], Any] = collections.OrderedDict()


def _dataset_bytes(ds: Any) -> int:
    return sum(a.nbytes for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))


def cached_dataset(name: str, n_train: int | None = None, seed: int = 0):
    """``data.load_dataset(name, subset=n_train, flatten=True, seed=seed)``, loaded once per kernel.

    The arrays are shared between runs, so treat them as read-only. The most recently used
    datasets are kept, up to :data:`DATASET_CACHE_BYTES` (always at least the newest one).
    """
    from . import data

    key = (name, n_train, seed)
    if key in _DATASETS:
        _DATASETS.move_to_end(key)
        return _DATASETS[key]
    ds = data.load_dataset(name, subset=n_train, flatten=True, seed=seed)
    _DATASETS[key] = ds
    while len(_DATASETS) > 1 and sum(_dataset_bytes(d) for d in _DATASETS.values()) > DATASET_CACHE_BYTES:
        _DATASETS.popitem(last=False)  # the least recently used
    return ds


cached_dataset.cache_clear = _DATASETS.clear  # type: ignore[attr-defined]  # as functools' caches have


def train_mlp(
    framework: str,
    init: Any,
    seed: int,
    *,
    dataset: str = "mnist",
    n_train: int | None = None,
    hidden: int | Sequence[int] = 512,
    depth: int | None = None,
    activation: str = "relu",
    dropout: float = 0.2,
    epochs: int = 5,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 1e-3,
    output_init: Any = "glorot_uniform",
    bias_init: Any = "zeros",
    train_loss: bool = False,
    flush_denormal: bool = True,
) -> dict[str, Any]:
    """One training run of an MLP on flattened images, as a row of metrics for :func:`sweep`.

    The defaults are the classic experiment: 784 -> Dense(512, ReLU) -> Dropout(0.2)
    -> Dense(10), Adam (lr 1e-3), batch 32, 5 epochs, with ``init`` on the hidden
    layer(s) and the output layer left at Keras's default (``glorot_uniform``)
    and zero biases, as in ``keras.layers.Dense``. ``depth`` repeats an int
    ``hidden`` (``hidden=256, depth=10``: ten hidden layers).

    Returns ``val_accuracy``, ``val_loss``, ``loss``, ``accuracy`` (last epoch),
    ``seconds_per_epoch`` (median over epochs: the first Keras epoch also builds
    the graph), ``build_seconds`` (building the model, initializers included),
    with ``train_loss=True`` the loss on the whole training subset after training,
    in inference mode (``final_train_loss``; trainability), and ``history``:
    the per-epoch curves (for :func:`curves`).

    ``flush_denormal``: PyTorch on CPU treats subnormal floats (below ~1e-38) as
    zero during the run, as TensorFlow does by default. A vanishing signal
    otherwise fills a deep network with subnormals, whose arithmetic is many
    times slower on x86 CPUs (measured: 10 s instead of 1 s for a 20-layer net
    initialized at N(0, 0.01^2)); the results differ only in values that small.
    """
    import statistics

    from . import data, frameworks, models, training

    framework = frameworks.check_framework(framework)  # before any data is loaded
    dataset = check_choice("dataset", dataset, tuple(data.names()))
    ds = cached_dataset(dataset, n_train)
    start = time.perf_counter()
    model = models.build_mlp(framework, ds.x_train.shape[1], hidden, activation, init, bias_init=bias_init,
                             dropout=dropout, n_classes=ds.n_classes, output_init=output_init, seed=seed, depth=depth)
    build = time.perf_counter() - start
    flush = framework == "torch" and flush_denormal
    if flush:
        from . import frameworks

        torch = frameworks.torch()
        torch.set_flush_denormal(True)  # returns False where the CPU cannot; then nothing changes
    try:
        hist = training.train(model, ds, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                              seed=seed, progress=False)
        final_train = training.evaluate(model, ds.x_train, ds.y_train)["loss"] if train_loss else None
    finally:
        if flush:
            torch.set_flush_denormal(False)  # PyTorch's default
    out = {"val_accuracy": hist.val_accuracy[-1], "val_loss": hist.val_loss[-1], "loss": hist.loss[-1],
           "accuracy": hist.accuracy[-1], "seconds_per_epoch": statistics.median(hist.seconds_per_epoch),
           "build_seconds": build}
    if train_loss:
        out["final_train_loss"] = final_train
    out["history"] = {"epoch": hist.epoch, "val_accuracy": hist.val_accuracy, "val_loss": hist.val_loss,
                      "loss": hist.loss, "accuracy": hist.accuracy, "seconds_per_epoch": hist.seconds_per_epoch}
    return out


def signal_summary(init: Any, activation: str, depth: int, seed: int, *, width: int = 256,
                   n_samples: int = 512) -> dict[str, float]:
    """How well an untrained ``depth``-layer plain network preserves its signal, in three numbers.

    From :func:`course_utils.diagnostics.signal_propagation` (NumPy, cheap):

    * ``forward_ratio`` = std(z_depth) / std(z_1), the pre-activation std of the last
      layer over the first's (1: the forward signal keeps its scale);
    * ``backward_ratio`` = std(dL/dW_1) / std(dL/dW_depth), the weight-gradient std of
      the first layer over the last's (1: every layer learns at the same rate);
    * ``decades`` = max(|log10 forward_ratio|, |log10 backward_ratio|): how many
      orders of magnitude the worse of the two is off (0 is perfect; NaN or
      infinite ratios -- an overflow -- count as ``inf``).
    """
    import numpy as np

    from . import diagnostics

    frame = diagnostics.signal_propagation(init, activation, depth, width, n_samples=n_samples, seed=seed)
    layers = frame[frame["depth"] >= 1]
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 when a signal vanished entirely: NaN -> inf decades
        forward = float(np.float64(layers["preact_std"].iloc[-1]) / layers["preact_std"].iloc[0])
        backward = float(np.float64(layers["weight_grad_std"].iloc[0]) / layers["weight_grad_std"].iloc[-1])

    def decades(ratio: float) -> float:
        if not math.isfinite(ratio) or ratio <= 0:
            return math.inf
        return abs(math.log10(ratio))

    return {"forward_ratio": forward, "backward_ratio": backward,
            "decades": max(decades(forward), decades(backward))}


def time_init(init: Any, shape: Sequence[int], framework: str = "torch", *, repeats: int = 3) -> float:
    """Seconds to draw one weight tensor of ``shape`` (Keras layout ``(in, out)``) with ``init``:
    the best of ``repeats`` draws (the minimum: other processes only ever add time).

    ``framework``: ``"numpy"`` (the registry's reference ``sample``), ``"torch"``
    (``apply_torch_`` on a tensor of the transposed shape) or ``"keras"`` (the
    Keras initializer called on the shape). The cost of an initializer is paid
    once per model build; orthogonal's QR decomposition costs ``O(n^3)`` for an
    ``n x n`` layer where a normal draw costs ``O(n^2)``.
    """
    from . import frameworks, initializers

    repeats = check_int("repeats", repeats, low=1)
    initializer = initializers.get(init)
    shape = tuple(int(s) for s in shape)
    if framework == "numpy":
        def draw(i: int) -> Any:
            return initializer.sample(shape, seed=i)
    else:
        fw = frameworks.check_framework(framework)
        if fw == "torch":
            torch = frameworks.torch()
            tensor = torch.empty(tuple(reversed(shape[-2:])) if len(shape) == 2 else shape)
            generator = torch.Generator().manual_seed(0)

            def draw(i: int) -> Any:
                return initializer.apply_torch_(tensor, generator=generator)
        else:
            keras = frameworks.keras()

            def draw(i: int) -> Any:
                return keras.ops.convert_to_numpy(initializer.to_keras(seed=i)(shape))
    best = math.inf
    for i in range(repeats):
        start = time.perf_counter()
        draw(i)
        best = min(best, time.perf_counter() - start)
    config.release_memory()  # a large QR's workspace would otherwise stay resident
    return best


#: The decision guide per hidden activation: (accepted registry names, the first being the
#: recommendation; why). Notebook 12 derives it from its grid; exercises.choosing checks against it.
GUIDE: dict[str, tuple[tuple[str, ...], str]] = {
    "sigmoid": (("glorot_normal", "glorot_uniform", "glorot_normal_torch", "lecun_normal", "lecun_uniform",
                 "lecun_normal_torch", "orthogonal", "he_normal", "he_uniform", "he_normal_torch"),
                "Glorot is the textbook choice (Glorot & Bengio 2010), but in notebook 12's grid no scheme makes a "
                "sigmoid stack deeper than a few layers train, and a larger scale (He) trains shallow ones at "
                "least as well: sigmoid's slope is at most 1/4, so gradients shrink in every layer. Avoid "
                "sigmoid in hidden layers."),
    "tanh": (("glorot_normal", "glorot_uniform", "glorot_normal_torch", "lecun_normal", "lecun_uniform",
              "lecun_normal_torch", "orthogonal", "he_normal", "he_uniform", "he_normal_torch"),
             "tanh has slope 1 at 0, so the variance-preserving scale is Var(w) = 1/fan_in (LeCun) or the "
             "fan-average compromise 2/(fan_in + fan_out) (Glorot); orthogonal trained deep tanh stacks best in "
             "notebook 12's grid, and tanh is forgiving enough that He trains too at depths up to 30."),
    "relu": (("he_normal", "he_uniform", "he_normal_torch"),
             "ReLU zeroes half of its inputs, halving the second moment per layer; He's Var(w) = 2/fan_in "
             "doubles it back (He et al. 2015)."),
    "leaky_relu": (("he_normal", "he_uniform", "he_normal_torch"),
                   "leaky ReLU is ReLU with a small slope a; He's gain sqrt(2 / (1 + a^2)) is practically "
                   "sqrt(2) for a = 0.01."),
    "selu": (("lecun_normal", "lecun_normal_torch", "lecun_uniform", "orthogonal"),
             "SELU's self-normalizing fixed point (mean 0, variance 1) assumes Var(w) = 1/fan_in, LeCun's "
             "scale (Klambauer et al. 2017); orthogonal weights have the same variance and trained deep SELU "
             "stacks best in notebook 12's grid."),
    "elu": (("he_normal", "he_uniform", "he_normal_torch"),
            "ELU behaves like ReLU for positive inputs; He's scale is the usual choice."),
    "gelu": (("he_normal", "he_uniform", "he_normal_torch"),
             "GELU is a smooth ReLU; He's scale keeps the signal, as for ReLU."),
    "linear": (("glorot_normal", "glorot_uniform", "glorot_normal_torch", "lecun_normal", "lecun_uniform",
                "lecun_normal_torch", "orthogonal"),
               "a linear layer keeps the variance with Var(w) = 1/fan_in; orthogonal matrices keep every "
               "direction's length exactly (Saxe et al. 2014, notebook 08)."),
}

#: Orders of magnitude (decades) a signal may drift through a network before the verdict calls it a problem:
#: a factor of 10 in std is what deep nets of a few dozen layers show even when well initialized at small width.
HEALTHY_DECADES = 1.0


def check_model(model: Any, x: Any, y: Any) -> dict[str, Any]:
    """Check your own model: does its initial signal survive the trip through its hidden layers?

    On one batch ``(x, y)`` (a few hundred examples), with
    :func:`~course_utils.diagnostics.activation_stats` and
    :func:`~course_utils.diagnostics.gradient_stats` over the hidden weight layers
    (every weight layer but the last):

    * ``forward_ratio`` = std of the last hidden layer's activations / the first's;
    * ``backward_ratio`` = std of dL/dW of the first hidden layer / the last's;
    * ``decades`` = max(|log10 forward_ratio|, |log10 backward_ratio|);

    and a ``verdict`` in words: healthy below :data:`HEALTHY_DECADES`, else which
    signal vanishes or explodes, with the :data:`GUIDE`'s scheme for the hidden
    activation when the model's kernels (by ``initializers.describe_model_init``)
    are not drawn from it. Also returns ``layers`` (the per-layer table) and
    ``schemes`` (the fitted scheme per hidden kernel).
    """
    import numpy as np

    from . import diagnostics, initializers

    acts = diagnostics.activation_stats(model, x)
    grads = diagnostics.gradient_stats(model, x, y)
    if len(acts) < 3:
        raise ValueError("check_model needs a model with at least two hidden weight layers before its output layer; "
                         f"this one has {len(acts)} weight layer(s).")
    layers = acts[["layer", "depth", "activation", "std"]].merge(
        grads[["layer", "weight_std", "weight_grad_std"]], on="layer")
    hidden = layers.iloc[:-1]
    forward = float(hidden["std"].iloc[-1] / hidden["std"].iloc[0])
    backward = float(hidden["weight_grad_std"].iloc[0] / hidden["weight_grad_std"].iloc[-1])

    def off(ratio: float) -> float:
        return abs(math.log10(ratio)) if math.isfinite(ratio) and ratio > 0 else math.inf

    decades = max(off(forward), off(backward))
    described = initializers.describe_model_init(model)
    kernels = described[described["role"] == "kernel"]["closest"].tolist()[: len(hidden)]
    activation = str(hidden["activation"].mode().iloc[0]) if hidden["activation"].notna().any() else "linear"
    advice = ""
    if activation in GUIDE:
        accepted, why = GUIDE[activation]
        odd = sorted({k for k in kernels if not any(str(k).startswith(a) for a in accepted)})
        if odd:
            advice = (f" Its hidden kernels look like {', '.join(map(str, odd))}; for {activation} the guide says "
                      f"{accepted[0]}: {why}")
    n = len(hidden)
    if decades < HEALTHY_DECADES:
        verdict = (f"healthy: over {n} hidden layers the activations' std changes by x{forward:.3g} and the "
                   f"weight gradients' by x{1 / backward:.3g} (within {HEALTHY_DECADES:g} decade).")
    else:
        parts = []
        if off(forward) >= HEALTHY_DECADES:
            parts.append(f"the forward signal {'vanishes' if forward < 1 else 'explodes'} (std x{forward:.3g} "
                         f"from the first to the last hidden layer)")
        if off(backward) >= HEALTHY_DECADES:
            parts.append(f"the first layer's weight gradients are x{backward:.3g} the last's "
                         f"({'vanishing' if backward < 1 else 'exploding'} toward the input)")
        verdict = f"problem over {n} hidden layers: " + "; ".join(parts) + "." + advice
    return {"forward_ratio": forward, "backward_ratio": backward, "decades": decades, "verdict": verdict,
            "activation": activation, "schemes": kernels, "layers": layers.assign(
                log10_std_vs_first=np.log10(layers["std"] / hidden["std"].iloc[0]))}


if __name__ == "__main__":  # python -m course_utils.experiments --worker (started by sweep(workers=...))
    import sys

    if sys.argv[1:] != ["--worker"]:
        raise SystemExit("usage: python -m course_utils.experiments --worker  (started by sweep(..., workers=N))")
    _worker()
