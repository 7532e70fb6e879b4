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
from ._validation import check_int

__all__ = ["sweep", "run_key", "clear_cache", "summarize"]


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
    **fixed: Any,
):
    """Run ``fn(**config, seed=seed, **fixed)`` over the grid's product and every seed.

    Args:
        fn: returns a flat mapping of metric name -> number for one run.
        grid: parameter name -> values to sweep; the runs are the Cartesian product.
        seeds: one run per seed per configuration (a claim needs several: see notebook 11).
        cache: read and write the on-disk cache (off: always recompute, never store).
        progress: show a tqdm bar (default: only outside the quick profile).
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

    names = list(grid)
    runs = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]
    folder = _cache_folder() if cache else None
    show = (not config.is_quick()) if progress is None else progress
    rows = []
    for params, seed in tqdm(
        [(p, s) for p in runs for s in seeds], desc=getattr(fn, "__name__", "sweep"), disable=not show, leave=False
    ):
        call = {**params, **fixed, "seed": seed}
        path = folder / f"{run_key(fn, call)}.json" if folder else None
        record = _read(path) if path else None
        cached = record is not None
        if record is None:
            start = time.perf_counter()
            metrics = fn(**call)
            if not isinstance(metrics, Mapping):
                raise TypeError(f"{fn.__name__} must return a dict of metrics; got {type(metrics).__name__}.")
            record = {"metrics": {k: _jsonable(v) for k, v in metrics.items()}, "seconds": time.perf_counter() - start}
            if path:
                _write(path, record)
        rows.append({**{k: _display(v) for k, v in params.items()}, "seed": seed, **record["metrics"],
                     "seconds": record["seconds"], "cached": cached})
    return pd.DataFrame(rows)


def _display(value: Any) -> Any:
    """How a parameter appears in the result table (an Initializer shows as its name)."""
    if hasattr(value, "name") and hasattr(value, "params"):
        return value.name
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
