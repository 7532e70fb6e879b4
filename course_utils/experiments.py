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
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import config
from ._validation import check_choice, check_int

__all__ = [
    "sweep",
    "run_key",
    "summarize",
    "compare",
    "compare_by",
    "curves",
    "cached_dataset",
    "train_mlp",
    "init_label",
    "time_init",
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


_warned_uncached = False


def _cache_folder() -> Path | None:
    """The first writable of ``cache_dir()/experiments`` and this account's own cache, else None (uncached).

    Never a folder shared between accounts: on a hub another learner could fill it or lock it.
    With none writable, :func:`sweep` runs uncached and says so once.
    """
    global _warned_uncached
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    candidates = [config.cache_dir() / "experiments", Path(base).expanduser() / "course_utils" / "experiments"]
    errors = []
    for folder in dict.fromkeys(candidates):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-test-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
            return folder
        except OSError as err:
            errors.append(f"{folder} ({err.strerror or err})")
    if not _warned_uncached:
        _warned_uncached = True
        warnings.warn(
            "Experiment results are not cached: no cache folder can be written (" + "; ".join(errors) + "). "
            "Sweeps still run, but rerunning a cell recomputes them. Set COURSE_CACHE_DIR to a writable folder.",
            RuntimeWarning,
            stacklevel=3,
        )
    return None


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
    grouped: bool | None = None,
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
            one batched computation, less CPU per run); the rest one at a time as usual. ``None``
            (the default): only where a group gives each run's own numbers to the last bit, which
            is PyTorch's; ``True``: Keras's runs too (the same numbers to float32 reassociation,
            which a deep net trained with Adam can grow into percent-level differences); ``False``: never.
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
        if grouped is not False and todo:
            from . import grouped as grouping

            todo = grouping.sweep_groups(fn, [(i, jobs[i][2]) for i in todo], done,
                                         frameworks_=None if grouped else grouping.EXACT_FRAMEWORKS)
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
    """The ``init`` column's value for a scheme: a name as given, an Initializer's :attr:`label`."""
    if isinstance(initializer, str):
        return initializer
    if not (hasattr(initializer, "name") and hasattr(initializer, "params")):
        raise TypeError(f"initializer must be a scheme name or a course_utils Initializer; got "
                        f"{type(initializer).__name__} {initializer!r}.")
    return initializer.label


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


def compare_by(table, by: str, column: str, a: Any, b: Any, metric: str, *, pair_on: Sequence[str] | str = "seed",
               confidence: float = 0.95):
    """:func:`compare` within each value of ``by``: a DataFrame with one row per value (in the order the
    values first appear in ``table``), indexed by ``by``, and :func:`compare`'s keys as columns.

    Notebook 11 asks "is He better than Glorot?" per framework, per depth and per activation:
    ``compare_by(runs, "depth", "init", "he_normal", "glorot_normal", "val_accuracy")``.
    """
    import pandas as pd

    if by not in table.columns:
        raise ValueError(f"{by!r} is not a column; columns are {list(table.columns)}.")
    rows = {value: compare(table[table[by] == value], column, a, b, metric, pair_on=pair_on, confidence=confidence)
            for value in pd.unique(table[by])}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(by)


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


if __name__ == "__main__":  # python -m course_utils.experiments --worker (started by sweep(workers=...))
    import sys

    if sys.argv[1:] != ["--worker"]:
        raise SystemExit("usage: python -m course_utils.experiments --worker  (started by sweep(..., workers=N))")
    _worker()
