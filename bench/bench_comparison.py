"""Benchmark: the classic 4-initializer x 5-epoch comparison, classic code vs course_utils, in one run.

The experiment of notebook 11 at full size, on Fashion-MNIST's 60,000 training
images (this machine has no full MNIST; Fashion-MNIST has the same format and
size): Flatten -> Dense(512, ReLU) -> Dropout(0.2) -> Dense(10), Adam (lr 1e-3),
batch 32, 5 epochs, validation on the 10,000 test images after every epoch, with
zeros, RandomNormal(0, 0.1), GlorotNormal and HeNormal on the hidden layer, in
Keras and in PyTorch: 8 trainings.

Variants, each in its own fresh process, timed from process start to end
(imports and data loading included: what a learner waits for):

  classic  the tutorial code as written, run sequentially: Keras (`model.fit` with its
           defaults, verbose=0) for the 4 initializers, then PyTorch (a `DataLoader` loop)
           for the 4. Never imports course_utils (its import sets thread limits).
  course   notebook 11's cell in the full profile: experiments.sweep(experiments.train_mlp,
           {"framework": ["keras", "torch"], "init": [...]}, workers=2, ...) with an empty cache.
  course1  the same with workers=1 (separates the faster training loops from the parallel runs).

Usage:  python bench/bench_comparison.py [--variants classic,course,course1] [--rounds 2] [--epochs 5]
                                          [--n-train N] [--out bench/RESULTS.md] [--json FILE]

Rounds interleave the variants (classic, course, course1, classic, ...) so that
load from other processes spreads over all of them; the table shows, per
variant, the round with the median wall time, and every round's wall time.

With --out, the table replaces this benchmark's own section of the file (between
its markers) and leaves every other section as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / "artifacts" / "comparison"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
START, END = "<!-- bench_comparison: start -->", "<!-- bench_comparison: end -->"

BATCH = 32
HIDDEN = 512
DROPOUT = 0.2
SEED = 0
INITS = ("zeros", "random_normal", "glorot_normal", "he_normal")
WORKERS = 2  # the machine's 2 cores; course_utils gives each worker n_threads() // 2 = 1 thread

DESCRIPTIONS = {
    "classic": "classic code as written, Keras then PyTorch, sequential",
    "course": f"course_utils: `experiments.sweep(train_mlp, ..., workers={WORKERS})`, full profile",
    "course1": "course_utils: the same sweep with `workers=1`",
}


# ----------------------------------------------------------------- child side


def _peak_rss_mb() -> float:
    # Linux reports KiB; children's peak covers the worker processes of the "course" variant
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def child_classic(epochs: int, n_train: int | None) -> dict:
    """The tutorial code, Keras then PyTorch, exactly as a learner would paste it."""
    import numpy as np

    x_train, y_train, x_test, y_test = (np.load(CACHE / f"{name}.npy") for name in ARRAYS)
    if n_train:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    x_train, x_test = x_train / 255.0, x_test / 255.0
    runs = []

    import keras

    keras_inits = {
        "zeros": keras.initializers.Zeros(),
        "random_normal": keras.initializers.RandomNormal(mean=0.0, stddev=0.1),
        "glorot_normal": keras.initializers.GlorotNormal(),
        "he_normal": keras.initializers.HeNormal(),
    }
    for name, init in keras_inits.items():
        t0 = time.perf_counter()
        keras.utils.set_random_seed(SEED)
        model = keras.Sequential([
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(HIDDEN, activation="relu", kernel_initializer=init),
            keras.layers.Dropout(DROPOUT),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        hist = model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH, validation_data=(x_test, y_test),
                         verbose=0)
        runs.append({"framework": "keras", "init": name, "seconds": time.perf_counter() - t0,
                     "val_accuracy": float(hist.history["val_accuracy"][-1])})

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch_inits = {
        "zeros": nn.init.zeros_,
        "random_normal": lambda w: nn.init.normal_(w, mean=0.0, std=0.1),
        "glorot_normal": nn.init.xavier_normal_,
        "he_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    }
    X_test = torch.tensor(x_test, dtype=torch.float32)
    Y_test = torch.tensor(y_test)
    for name, init_ in torch_inits.items():
        t0 = time.perf_counter()
        torch.manual_seed(SEED)
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT),
                              nn.Linear(HIDDEN, 10))
        init_(model[1].weight)
        optimizer = torch.optim.Adam(model.parameters())
        loss_fn = nn.CrossEntropyLoss()
        loader = DataLoader(TensorDataset(torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train)),
                            batch_size=BATCH, shuffle=True)
        for _ in range(epochs):
            model.train()
            for xb, yb in loader:
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                accuracy = (model(X_test).argmax(1) == Y_test).float().mean().item()
        runs.append({"framework": "torch", "init": name, "seconds": time.perf_counter() - t0,
                     "val_accuracy": accuracy, "threads": torch.get_num_threads()})
    return {"runs": runs}


def child_course(epochs: int, n_train: int | None, workers: int) -> dict:
    """Notebook 11's sweep cell in the full profile, with an empty cache."""
    os.environ["COURSE_PROFILE"] = "full"
    os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_comparison_")
    from course_utils import config, experiments, initializers

    inits = ["zeros", initializers.get("random_normal", std=0.1), "glorot_normal", "he_normal"]
    table = experiments.sweep(experiments.train_mlp, {"framework": ["keras", "torch"], "init": inits}, seeds=[SEED],
                              workers=workers, progress=False, dataset="fashion_mnist", n_train=n_train,
                              hidden=HIDDEN, activation="relu", dropout=DROPOUT, batch_size=BATCH, epochs=epochs)
    runs = [{"framework": r.framework, "init": r.init, "seconds": float(r.seconds),
             "val_accuracy": float(r.val_accuracy)} for r in table.itertuples()]
    return {"runs": runs, "threads": config.n_threads(), "workers": workers}


def run_child(variant: str, epochs: int, n_train: int | None) -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if variant == "classic":
        result = child_classic(epochs, n_train)
    else:
        result = child_course(epochs, n_train, WORKERS if variant == "course" else 1)
    result["peak_rss_mb"] = _peak_rss_mb()
    print("BENCH_RESULT " + json.dumps(result))


# ---------------------------------------------------------------- parent side


def prepare_data() -> str:
    """Write the raw uint8 images and labels the classic child reads, once; return their source."""
    sys.path.insert(0, str(REPO))
    import numpy as np

    from course_utils import data

    ds = data.load_dataset("fashion_mnist", normalize=False, dtype="uint8")
    if ds.is_fallback or len(ds.x_train) != 60_000:
        raise SystemExit(f"the benchmark needs the full Fashion-MNIST (60,000 images); got {ds!r}. "
                         "Install it with `apt-get install -y dataset-fashion-mnist`.")
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ARRAYS:
        path = CACHE / f"{name}.npy"
        arr = getattr(ds, name)
        if not path.exists() or np.load(path, mmap_mode="r").shape != arr.shape:
            np.save(path, arr)
    return ds.source


def spawn(variant: str, epochs: int, n_train: int | None) -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for var in ("COURSE_PROFILE", "COURSE_THREADS", "COURSE_CACHE_DIR"):
        env.pop(var, None)
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--epochs", str(epochs)]
    if n_train:
        cmd += ["--n-train", str(n_train)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    wall = time.perf_counter() - t0
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"variant {variant} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    result.update(wall_s=wall, load_before=load_before, load_after=os.getloadavg()[0])
    return result


def machine() -> str:
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    from importlib.metadata import version

    versions = []
    for dist in ("tensorflow-cpu", "keras", "torch"):
        try:
            versions.append(f"{dist} {version(dist)}")
        except Exception:  # noqa: BLE001 - a missing package is reported as such
            versions.append(f"{dist} not installed")
    return f"{cpu}, {usable} usable CPUs, Python {platform.python_version()}, " + ", ".join(versions)


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def render(all_results: dict[str, list[dict]], source: str, epochs: int, n_train: int | None, started: str) -> str:
    n = n_train or 60_000
    results = {v: _median_run(runs) for v, runs in all_results.items()}
    rounds = max(len(runs) for runs in all_results.values())
    lines = [
        START,
        "## Benchmark: the classic 4-initializer x 5-epoch comparison (`bench/bench_comparison.py`)",
        "",
        f"Run {started}, {rounds} round(s), variants interleaved. The experiment of notebook 11 at full size, on **Fashion-MNIST** ({n:,} training "
        f"images, 10,000 validation; full MNIST is not available offline here, Fashion-MNIST has the same format "
        f"and size): 784 - Dense(512, ReLU) - Dropout(0.2) - 10, Adam, batch {BATCH}, {epochs} epochs, "
        "validation after every epoch, initializers zeros, RandomNormal(0, 0.1), GlorotNormal, HeNormal on the "
        f"hidden layer, Keras and PyTorch: 8 trainings per variant. Data: {source}.",
        "",
        f"Machine: {machine()}. Each variant runs in a fresh process; seconds are wall time from process start "
        "to end (imports and data loading included). Other engineers' jobs share these CPUs: the load average "
        "(1 min) before and after each variant is listed; compare rows with similar load.",
        "",
        "| variant | total wall (s), median round | every round | training only (s) | Keras runs (s) | "
        "PyTorch runs (s) | val accuracy, Keras (z / rn / gl / he) | PyTorch | peak RSS (MB) | load before / after |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for v, r in results.items():
        runs = r["runs"]
        per = {fw: sum(x["seconds"] for x in runs if x["framework"] == fw) for fw in ("keras", "torch")}

        def accs(fw: str, runs: list = runs) -> str:
            return " / ".join(f"{100 * x['val_accuracy']:.1f}" for x in runs if x["framework"] == fw)

        every = ", ".join(f"{x['wall_s']:.0f}" for x in all_results[v])
        lines.append(f"| {DESCRIPTIONS[v]} | {r['wall_s']:.0f} | {every} | {per['keras'] + per['torch']:.0f} | "
                     f"{per['keras']:.0f} | {per['torch']:.0f} | {accs('keras')} | {accs('torch')} | "
                     f"{r['peak_rss_mb']:.0f} | {r['load_before']:.1f} / {r['load_after']:.1f} |")
    lines.append("")
    if "classic" in results:
        base = results["classic"]["wall_s"]
        for v in ("course", "course1"):
            if v in results:
                ratio = results[v]["wall_s"] / base
                verdict = "meets" if ratio <= 0.5 else "misses"
                lines.append(f"- {DESCRIPTIONS[v]}: **{ratio:.2f}x** the classic wall time "
                             f"({verdict} the target of at most 0.5x).")
        lines.append("- `training only` for the course variants is the sum of the runs' own times; with "
                     f"{WORKERS} workers two runs overlap, so it exceeds their share of the wall time.")
        lines.append("- The classic PyTorch code keeps a random bias in `nn.Linear`, so its 'zeros' run learns; "
                     "course_utils zeroes every bias in both frameworks (notebook 11, section 2).")
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of ``path`` (between its markers) or append it; keep the rest."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ holds the shared writer
    from _sections import write_marked_section

    write_marked_section(path, section, START, END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", choices=sorted(DESCRIPTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--variants", default="classic,course,course1",
                        help="comma-separated, from: " + ", ".join(DESCRIPTIONS))
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all variants (default 2)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=None, help="fewer training images (a smoke test)")
    parser.add_argument("--out", default=None, help="write the table into this Markdown file's own section")
    parser.add_argument("--json", default=None, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, args.epochs, args.n_train)
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in DESCRIPTIONS]
    if unknown or not variants:
        parser.error(f"--variants must name some of {', '.join(DESCRIPTIONS)}; got {args.variants!r}")
    started = time.strftime("%Y-%m-%d %H:%M")
    source = prepare_data()
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(max(1, args.rounds)):
        for v in variants:
            res = spawn(v, args.epochs, args.n_train)
            results[v].append(res)
            print(f"round {r + 1} ({v}) {DESCRIPTIONS[v]}: {res['wall_s']:.1f} s wall, load "
                  f"{res['load_before']:.2f} -> {res['load_after']:.2f}", flush=True)
    text = render(results, source, args.epochs, args.n_train, started)
    print(text)
    if args.out:
        write_section(Path(args.out), text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
