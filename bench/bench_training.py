"""Benchmark: one epoch of the classic Fashion-MNIST MLP, classic code vs course_utils, in one run.

The model: 784-512 (ReLU) - dropout 0.2 - 10, Adam (lr 1e-3), batch 32, one
epoch over the 60,000 training images, validation on the 10,000 test images.
Variants, each in a fresh subprocess so each has its own peak memory:

  a  classic Keras: keras.Sequential + model.fit with its defaults (verbose=0)
  b  classic PyTorch: a loop over DataLoader(TensorDataset, batch_size=32, shuffle=True)
  c  course_utils.train with a Keras model from course_utils.models.build_mlp
  d  course_utils.train with a PyTorch model from build_mlp
  e  the floor: the same matrix products alone in PyTorch (forward x W1, h W2; backward
     g^T h, g W2^T, dh^T x per batch), no autograd, no optimizer, no data shuffling cost
  k  one kernel as a learner has it: import course_utils, load the data with
     load_dataset, import BOTH frameworks, train one model (Keras) with train()
  t  the same, training the PyTorch model
  o  (extra) c with TensorFlow's oneDNN optimisations on (course_utils turns them off)
  p  (extra) d with all usable CPUs instead of train()'s thread rule

Variants a and b never import course_utils (its import sets thread limits);
they read the same arrays from a .npy copy that the parent writes once.
Seconds are the wall time of the fit/train call (one epoch + validation,
including Keras's graph building), never imports or data loading (PyTorch's
optimizers import torch._dynamo on first use: (b) does that before its timer,
(d) imports it before its timer too). CPU seconds are the process's CPU time over
the same span (all threads): steadier than wall time when other work shares the CPUs.
Rounds interleave the variants so that load from other processes spreads
over all of them; the table reports medians (and minima) over rounds.

Usage:  python bench/bench_training.py [--rounds 3] [--variants abcdektop] [--out bench/RESULTS.md]
                                        [--quiet-below 1.5] [--json FILE] [--from-json FILE]

With --out, the table replaces this benchmark's own section of the file (between its
markers) and leaves every other section as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / "artifacts" / "fashion_mnist"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")

EPOCHS = 1
BATCH = 32
HIDDEN = 512
DROPOUT = 0.2
LR = 1e-3
SEED = 0

START, END = "<!-- bench_training: start -->", "<!-- bench_training: end -->"

NOTES = """
How course_utils.train gets there (see `course_utils/training.py`):

- Keras (c): `model.fit` with `steps_per_execution=64` (one graph call per 64 steps; 32 to 512 measured
  the same, 16 slower), Adam's update in TensorFlow's fused `ResourceApplyAdam` kernel (Keras's own Adam
  runs about a dozen elementwise graph ops per weight per step: a quarter of the CPU time of a step),
  validation in batches of 1024, no per-batch logging, no XLA (`jit_compile=True` was several times *slower*
  on this CPU: 13 s against 4.5 s for the epoch, one measurement). Data go in as NumPy arrays (Keras's own array adapter).
- PyTorch (d): tensors shared with the NumPy arrays, one `randperm` per epoch and `index_select` per
  batch (no `DataLoader`, which collates 32 single examples per step), fused Adam (`fused=True`: the update
  costs a tenth of the CPU of the default per-parameter loop), running sums kept as tensors (no `.item()` per step), and
  **one thread** for steps this small (`training.torch_threads_for`: below 2**26 multiply-adds per
  forward step). On an idle machine two threads would be faster (row (p)); whenever anything else runs,
  OpenMP's spinning threads make them 5-100x slower (rows (b) and (p) in runs under load: 60-290 s for
  one epoch). A deterministic rule, since the thread count changes floating-point sums and the same
  seed must give the same History.
- The floor (e) runs on the thread count train() chooses for (d).

Under load the picture changes (run of 2026-11-23 19:55, load average 3.6-7.6 while other engineers
trained models, medians of 3 rounds): (a) 12.3 s, (b) 175 s, (c) 9.5 s (3.9 CPU s against (a)'s
7.0), (d) 5.1 s, (e) 2.0 s, (p) 2.4 s median but 216 s worst; ratios (a)/(c) 1.3x in wall time and
1.8x in CPU time, (b)/(d) 34x, (d)/(e) 2.6x. Wall-time ratios on a shared machine mostly measure
the neighbours; the CPU-seconds column is the steadier comparison.

What holds it back: (d) spends about half its time outside the five matrix products -- Adam's
update (reads and writes 4 arrays of 400k floats every step, memory bound), dropout's random mask,
cross-entropy, the autograd engine and Python dispatch for 1,875 small steps. (c) pays TensorFlow's
per-op executor cost on every one of ~60 ops per step and the graph building of the first epoch
(about 0.5 s). Peak memory is dominated by the frameworks themselves: importing TensorFlow+Keras
costs ~590 MB of RSS, PyTorch ~180 MB, the training images 188 MB (float32), and Keras's array
adapter copies them into TensorFlow once more during fit.

oneDNN: course_utils runs TensorFlow with `TF_ENABLE_ONEDNN_OPTS=0`. Measured here it costs no
speed (row (o) against (c)), and runs are repeatable with it on or off (same History twice, in one
process and across processes); the two settings give slightly different numbers (row (o)'s accuracy).
"""

DESCRIPTIONS = {
    "a": "classic Keras (`model.fit` defaults)",
    "b": "classic PyTorch (`DataLoader` loop)",
    "c": "course_utils.train, Keras",
    "d": "course_utils.train, PyTorch",
    "e": "floor: matrix products alone (PyTorch)",
    "k": "one kernel, both frameworks imported, Keras model trained",
    "t": "one kernel, both frameworks imported, PyTorch model trained",
    "o": "extra: (c) with TensorFlow's oneDNN optimisations on (TF_ENABLE_ONEDNN_OPTS=1)",
    "p": "extra: (d) on all usable CPUs instead of train()'s one thread for small steps",
}


# ----------------------------------------------------------------- child side


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _load_cached():
    import numpy as np

    return [np.load(CACHE / f"{name}.npy") for name in ARRAYS]


def child_a() -> dict:
    xtr, ytr, xte, yte = _load_cached()
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dropout(DROPOUT),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t0, c0 = time.perf_counter(), time.process_time()
    hist = model.fit(xtr, ytr, batch_size=BATCH, epochs=EPOCHS, validation_data=(xte, yte), verbose=0)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "val_accuracy": float(hist.history["val_accuracy"][-1])}


def child_b() -> dict:
    xtr, ytr, xte, yte = _load_cached()
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Linear(784, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(HIDDEN, 10))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    train_loader = DataLoader(TensorDataset(torch.from_numpy(xtr), torch.from_numpy(ytr)), batch_size=BATCH,
                              shuffle=True)
    test_loader = DataLoader(TensorDataset(torch.from_numpy(xte), torch.from_numpy(yte)), batch_size=1000)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(EPOCHS):
        model.train()
        for xb, yb in train_loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for xb, yb in test_loader:
                correct += (model(xb).argmax(1) == yb).sum().item()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "val_accuracy": correct / len(yte),
            "threads": torch.get_num_threads()}


def _course_train(framework: str, data, **kwargs) -> dict:
    from course_utils import models, training

    model = models.build_mlp(framework, 784, HIDDEN, "relu", init="he_normal", dropout=DROPOUT, seed=SEED)
    t0, c0 = time.perf_counter(), time.process_time()
    hist = training.train(model, data, epochs=EPOCHS, batch_size=BATCH, optimizer="adam", lr=LR, seed=SEED,
                          progress=False, **kwargs)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "val_accuracy": hist.final("val_accuracy"),
            "threads": hist.config["threads"], "steps_per_execution": hist.config.get("steps_per_execution")}


def child_c() -> dict:
    return _course_train("keras", tuple(_load_cached()))


def child_d() -> dict:
    # PyTorch's optimizers import torch._dynamo (and sympy, ~800 modules, about a second) the first time
    # one is created in a process. (b) creates its optimizer before its timer starts; train() creates
    # one inside, so that one-time import is done here first to time both the same way.
    import torch._dynamo  # noqa: F401

    return _course_train("torch", tuple(_load_cached()))


def child_o() -> dict:
    return child_c()  # run with TF_ENABLE_ONEDNN_OPTS=1 (VARIANT_ENV)


def child_p() -> dict:
    import torch._dynamo  # noqa: F401 - as in child_d

    from course_utils import config

    return _course_train("torch", tuple(_load_cached()), threads=config.n_threads())


def child_e() -> dict:
    from course_utils import frameworks, models, training

    torch = frameworks.torch()
    xtr, _, _, _ = _load_cached()
    X = torch.from_numpy(xtr)
    # the thread count train() picks for (d): the floor of the same configuration
    torch.set_num_threads(training.torch_threads_for(models.build_mlp("torch", 784, HIDDEN), xtr, BATCH))
    g = torch.Generator().manual_seed(SEED)
    w1, b1 = torch.randn(HIDDEN, 784, generator=g) * 0.05, torch.zeros(HIDDEN)
    w2, b2 = torch.randn(10, HIDDEN, generator=g) * 0.05, torch.zeros(10)
    h = torch.empty(BATCH, HIDDEN)
    out = torch.empty(BATCH, 10)
    dw2, dh, dw1 = torch.empty(10, HIDDEN), torch.empty(BATCH, HIDDEN), torch.empty(HIDDEN, 784)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(EPOCHS):
        perm = torch.randperm(len(X), generator=g)
        for idx in perm.split(BATCH):
            if len(idx) != BATCH:  # the preallocated buffers hold full batches; the partial one is the same work
                continue
            xb = X.index_select(0, idx)
            torch.addmm(b1, xb, w1.t(), out=h)
            h.relu_()
            torch.addmm(b2, h, w2.t(), out=out)
            torch.mm(out.t(), h, out=dw2)  # dL/dW2 (out stands in for dL/dlogits: same shape, same cost)
            torch.mm(out, w2, out=dh)  # dL/dh
            torch.mm(dh.t(), xb, out=dw1)  # dL/dW1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "val_accuracy": float("nan"), "threads": torch.get_num_threads()}


def _one_kernel(framework: str) -> dict:
    from course_utils import data, frameworks

    ds = data.load_dataset("fashion_mnist", flatten=True)
    frameworks.keras()
    frameworks.torch()
    return _course_train(framework, ds)


def child_k() -> dict:
    return _one_kernel("keras")


def child_t() -> dict:
    return _one_kernel("torch")


CHILDREN = {"a": child_a, "b": child_b, "c": child_c, "d": child_d, "e": child_e, "k": child_k, "t": child_t,
            "o": child_o, "p": child_p}
# Extra variants (not run by default) and the environment each runs in.
VARIANT_ENV = {"o": {"TF_ENABLE_ONEDNN_OPTS": "1"}}


def run_child(variant: str) -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = CHILDREN[variant]()
    result["peak_rss_mb"] = _peak_rss_mb()
    print("BENCH_RESULT " + json.dumps(result))


# ---------------------------------------------------------------- parent side


def prepare_data() -> str:
    """Write the arrays the children read, once; return where the data came from."""
    sys.path.insert(0, str(REPO))
    from course_utils import data

    ds = data.load_dataset("fashion_mnist", flatten=True)
    if ds.is_fallback or len(ds.x_train) != 60_000:
        raise SystemExit(f"the benchmark needs the full Fashion-MNIST (60,000 images); got {ds!r}. "
                         "Install it with `apt-get install -y dataset-fashion-mnist`.")
    CACHE.mkdir(parents=True, exist_ok=True)
    import numpy as np

    for name in ARRAYS:
        path = CACHE / f"{name}.npy"
        arr = getattr(ds, name)
        if not path.exists() or np.load(path, mmap_mode="r").shape != arr.shape:
            np.save(path, arr)
    return ds.source


def _loadavg() -> float:
    return os.getloadavg()[0]


def spawn(variant: str) -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("COURSE_PROFILE", None)
    env.update(VARIANT_ENV.get(variant, {}))
    load_before = _loadavg()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", variant], capture_output=True,
                          text=True, env=env, cwd=REPO, check=False)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"variant {variant} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    result["load_before"] = load_before
    return result


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown"
    info["cpu"] = model
    info["cpus_usable"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        mem_kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                          if ln.startswith("MemTotal")))
        info["memory_gb"] = round(mem_kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    from importlib.metadata import version

    for dist in ("tensorflow-cpu", "keras", "torch", "numpy"):
        try:
            info[dist] = version(dist)
        except Exception:  # noqa: BLE001 - a missing package is reported as such
            info[dist] = "not installed"
    return info


def summarize(results: dict[str, list[dict]]) -> dict[str, dict]:
    out = {}
    for v, runs in results.items():
        secs = [r["seconds"] for r in runs]
        accs = [r["val_accuracy"] for r in runs if r["val_accuracy"] == r["val_accuracy"]]
        cpus = [r["cpu_seconds"] for r in runs]
        out[v] = {
            "median_s": statistics.median(secs), "min_s": min(secs), "max_s": max(secs), "runs": len(runs),
            "median_cpu_s": statistics.median(cpus),
            "val_accuracy": statistics.mean(accs) if accs else float("nan"),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "threads": runs[0].get("threads"), "steps_per_execution": runs[0].get("steps_per_execution"),
        }
    return out


def render(summary: dict[str, dict], mach: dict, source: str, rounds: int, loads: list[float],
           started: str) -> str:
    def ratio(num: str, den: str, key: str = "median_s") -> str:
        if num in summary and den in summary:
            return f"{summary[num][key] / summary[den][key]:.2f}x"
        return "n/a"

    lines = [
        START,
        "## Training speed: one epoch of the classic Fashion-MNIST MLP",
        "",
        f"Run {started} by `bench/bench_training.py` (`make bench`), {rounds} round(s), variants interleaved, "
        "each variant in its own fresh process.",
        "",
        "Model 784-512 (ReLU) - dropout 0.2 - 10, Adam lr 1e-3, batch 32, one epoch over the 60,000 "
        f"training images + validation on the 10,000 test images. Data: {source}.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in mach.items()) + ".",
        f"Load average (1 min) before each run: min {min(loads):.2f}, median {statistics.median(loads):.2f}, "
        f"max {max(loads):.2f} (other work shares these CPUs; see the spread of seconds).",
        "",
        "| variant | seconds/epoch (median) | min | max | CPU seconds (median) | val accuracy (mean) | peak RSS (MB) "
        "| threads |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for v, s in summary.items():
        acc = "-" if s["val_accuracy"] != s["val_accuracy"] else f"{100 * s['val_accuracy']:.2f}%"
        lines.append(f"| ({v}) {DESCRIPTIONS[v]} | {s['median_s']:.2f} | {s['min_s']:.2f} | {s['max_s']:.2f} | "
                     f"{s['median_cpu_s']:.2f} | {acc} | {s['peak_rss_mb']:.0f} | {s['threads'] or '-'} |")
    lines += [
        "",
        "Ratios of medians (targets in brackets):",
        "",
        f"- (a)/(c) Keras speed-up: **{ratio('a', 'c')}** [>= 1.6x]; in CPU seconds {ratio('a', 'c', 'median_cpu_s')}",
        f"- (b)/(d) PyTorch speed-up: **{ratio('b', 'd')}** [>= 2x]; in CPU seconds {ratio('b', 'd', 'median_cpu_s')}",
        f"- (d)/(e) PyTorch over the floor: **{ratio('d', 'e')}** [<= 3x]; in CPU seconds "
        f"{ratio('d', 'e', 'median_cpu_s')}",
        f"- (b)/(p) classic PyTorch over course_utils.train with all CPUs (`threads=` given): {ratio('b', 'p')}; "
        f"min over min {ratio('b', 'p', 'min_s')} (the quietest runs)",
    ]
    if "a" in summary and "c" in summary:
        lines.append(f"- accuracy (c) - (a): {100 * (summary['c']['val_accuracy'] - summary['a']['val_accuracy']):+.2f} "
                     "points; (d) - (b): "
                     + (f"{100 * (summary['d']['val_accuracy'] - summary['b']['val_accuracy']):+.2f} points"
                        if "d" in summary and "b" in summary else "n/a") + " [within 1 point]")
    both = [summary[v]["peak_rss_mb"] for v in ("k", "t") if v in summary]
    if both:
        lines.append(f"- peak RSS of one kernel importing both frameworks and training one model: "
                     f"**{max(both):.0f} MB** [< 1500 MB]")
    lines += ["", NOTES.strip(), END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of ``path`` (between its markers) or append it; keep the rest."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ holds the shared writer
    from _sections import write_marked_section

    write_marked_section(path, section, START, END)


def wait_for_quiet(below: float | None, max_wait: float) -> None:
    """Wait until the 1-minute load average drops below ``below`` (at most ``max_wait`` seconds)."""
    if below is None:
        return
    deadline = time.monotonic() + max_wait
    while _loadavg() >= below and time.monotonic() < deadline:
        time.sleep(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all variants (default 3)")
    parser.add_argument("--variants", default="abcdektop", help="which variants to run (default abcdektop)")
    parser.add_argument("--out", default=None,
                        help="write the table into this Markdown file's own section (make bench: bench/RESULTS.md)")
    parser.add_argument("--json", default=None, help="also write raw results as JSON here")
    parser.add_argument("--from-json", default=None, help="render a saved --json run instead of running")
    parser.add_argument("--quiet-below", type=float, default=None,
                        help="before each variant, wait until the 1-min load average is below this")
    parser.add_argument("--max-wait", type=float, default=600, help="seconds to wait for quiet at most (600)")
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child)
        return 0
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        results, meta = saved["runs"], saved.get("meta", {})
        loads = [r["load_before"] for runs in results.values() for r in runs]
        text = render(summarize(results), meta.get("machine") or machine(),
                      meta.get("source", "Fashion-MNIST (Debian package)"), meta.get("rounds", 1), loads,
                      meta.get("started", "earlier"))
    else:
        variants = [v for v in args.variants if v in CHILDREN]
        if not variants:
            parser.error(f"--variants must name some of {''.join(CHILDREN)}")
        started = time.strftime("%Y-%m-%d %H:%M")
        source = prepare_data()
        results: dict[str, list[dict]] = {v: [] for v in variants}
        loads = []
        for r in range(args.rounds):
            for v in variants:
                wait_for_quiet(args.quiet_below, args.max_wait)
                res = spawn(v)
                loads.append(res["load_before"])
                results[v].append(res)
                print(f"round {r + 1}/{args.rounds} ({v}) {DESCRIPTIONS[v]}: {res['seconds']:.2f} s "
                      f"({res['cpu_seconds']:.2f} CPU s), "
                      f"val acc {res['val_accuracy']:.4f}, peak RSS {res['peak_rss_mb']:.0f} MB, "
                      f"load {res['load_before']:.2f}", flush=True)
        meta = {"started": started, "source": source, "rounds": args.rounds, "machine": machine()}
        text = render(summarize(results), meta["machine"], source, args.rounds, loads, started)
        if args.json:
            Path(args.json).write_text(json.dumps({"meta": meta, "summary": summarize(results), "runs": results},
                                                  indent=1))
    print(text)
    if args.out:
        write_section(Path(args.out), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
