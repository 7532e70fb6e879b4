"""Benchmark: K runs trained as one group (course_utils.grouped) against one at a time (training.train).

Models, Fashion-MNIST (a subset, flattened), one epoch, Adam (lr 1e-3), validation on test images:

  a  the classic 784-512-10 MLP, ReLU, dropout 0.2, batch 32 (bench/bench_training.py's model)
  b  a 30-layer, 128-wide ReLU MLP, He normal, batch 64 (notebook 06's deep network)

For each framework and model: "alone" is ``models.build_mlp`` + ``training.train`` for one seed,
the cost of one run as the notebooks pay it today (its cost per run does not depend on K, so it is
measured on ALONE_RUNS seeds per round); "grouped" is one ``grouped.train_group`` call for K seeds,
K = 1, 2, 4, 8, 16, building included. The figure is CPU seconds per run-epoch (the process's user +
system time, all threads): what decides how many learners a shared CPU can serve; wall seconds too.

Everything runs on one thread (``COURSE_THREADS=1``: TensorFlow's pool and PyTorch's
``set_num_threads``), the setting of a busy shared server. Each round runs each framework in a fresh
subprocess; rounds interleave frameworks, models and K (shuffled) so that load from other processes
spreads over all of them; the table gives medians over rounds.

It also times one training step of the 30-layer model at K = 8 in PyTorch two ways -- stacked
weights with ``torch.baddbmm`` (what grouped uses) and ``torch.func.stack_module_state`` + ``vmap``
over ``functional_call`` -- to record why grouped uses the first.

Usage:  python bench/bench_grouped.py [--rounds 3] [--ks 1,2,4,8,16] [--n-train 2048] [--n-val 1000]
                                       [--frameworks torch,keras] [--out bench/RESULTS.md] [--json FILE]

With --out, the table replaces this benchmark's own section of the file (between its markers) and
leaves every other section as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
START, END = "<!-- bench_grouped: start -->", "<!-- bench_grouped: end -->"

MODELS = {
    "a": {"title": "784-512-10, dropout 0.2, batch 32", "mlp": {"hidden": 512, "dropout": 0.2}, "batch_size": 32},
    "b": {"title": "30 x 128 ReLU, batch 64", "mlp": {"hidden": 128, "depth": 30}, "batch_size": 64},
}
LR = 1e-3
ALONE_RUNS = 2
NOTES = """
Reading the table:

- Where the time goes. PyTorch's solo step is already a tight loop: for the 30-layer net its matrix
  products alone are over half of it (the floor line above), and a product costs the same per member
  batched or not (one 64 x 128 x 128 product: 23 us alone, 183 us for 8 in one `bmm`). Grouping can
  only remove the rest (dispatch, autograd, the optimizer's per-tensor cost), so no grouping of this
  model reaches 2x per run on this CPU. Keras's solo run pays `fit`'s machinery per run (a data
  pipeline, callbacks, per block of steps) and, for a new architecture, a traced step (solo runs of
  one architecture share one: course_utils/_keras_training.py); the group runs one traced loop per
  epoch for all members.
- Same numbers. A PyTorch group gives each member its solo run's numbers to the last bit
  (tests/test_grouped.py): the solo run's own products in the same layouts, its optimizer over whole
  vector lanes or per-member views, on the solo run's thread count. Keras groups agree for the first
  steps only (1e-7): TensorFlow's batched matmul sums in another order than `Dense`'s matmul, and in
  the 30-layer net Adam grows that into percent-level differences within one epoch, as two runs on
  two machines would differ; so experiments.sweep groups Keras runs only when asked (grouped=True).
  Validation accuracies of these barely trained deep nets move more than their losses: many logits
  are near ties.
"""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------- worker


def worker(fw: str, ks: list[int], n_train: int, n_val: int, seed: int, vmap: bool) -> None:
    """One framework, every model and K once, in an order shuffled by ``seed``; JSON lines on stdout."""
    sys.path.insert(0, str(REPO))
    from course_utils import data, grouped, models, training

    ds = data.load_dataset("fashion_mnist", flatten=True)
    d = (ds.x_train[:n_train], ds.y_train[:n_train], ds.x_test[:n_val], ds.y_test[:n_val])
    rng = random.Random(seed)
    # warm-up: the first graph/kernel of each kind in this process is not what a learner's tenth run pays
    for spec in MODELS.values():
        small = (d[0][:256], d[1][:256], d[2][:256], d[3][:256])
        training.train(models.build_mlp(fw, 784, init="he_normal", seed=0, **spec["mlp"]), small, epochs=1,
                       batch_size=spec["batch_size"])
        grouped.train_group(fw, [{"seed": 0}, {"seed": 1}], small, epochs=1, batch_size=spec["batch_size"],
                            **spec["mlp"])
    jobs = [(m, "alone", ALONE_RUNS) for m in MODELS] + [(m, "grouped", k) for m in MODELS for k in ks]
    rng.shuffle(jobs)
    for model, how, k in jobs:
        spec = MODELS[model]
        seeds = [seed * 100 + i for i in range(k)]
        c0, t0 = _cpu(), time.perf_counter()
        if how == "alone":
            hists = [training.train(models.build_mlp(fw, 784, init="he_normal", seed=s, **spec["mlp"]), d, epochs=1,
                                    batch_size=spec["batch_size"], lr=LR, seed=s) for s in seeds]
        else:
            hists = grouped.train_group(fw, [{"seed": s} for s in seeds], d, epochs=1, batch_size=spec["batch_size"],
                                        lr=LR, **spec["mlp"])
        cpu, wall = _cpu() - c0, time.perf_counter() - t0
        print(json.dumps({"framework": fw, "model": model, "how": how, "k": k, "cpu": cpu, "wall": wall,
                          "val_accuracy": {str(s): h.val_accuracy[-1] for s, h in zip(seeds, hists, strict=True)},
                          "loss": {str(s): h.loss[-1] for s, h in zip(seeds, hists, strict=True)}}), flush=True)
    if vmap and fw == "torch":
        print(json.dumps(_vmap_vs_bmm(n_train)), flush=True)


def _vmap_vs_bmm(n_train: int, k: int = 8, steps: int = 20) -> dict:
    """CPU seconds per member-step of the 30-layer model at K = 8: stacked bmm against vmap."""
    import torch
    from torch.func import functional_call, stack_module_state, vmap

    from course_utils import grouped, models

    F = torch.nn.functional
    bs = MODELS["b"]["batch_size"]
    nets = [models.build_mlp("torch", 784, init="he_normal", seed=s, **MODELS["b"]["mlp"]) for s in range(k)]
    x = torch.rand(k, bs, 784)
    y = torch.randint(0, 10, (k, bs))

    plan, params = grouped._torch_stack(torch, nets)
    targets = grouped._OptimizerParams(params, [LR] * k, torch.get_num_threads())  # what grouped's optimizer updates
    opt = torch.optim.Adam(targets.groups, lr=LR, eps=1e-7, fused=True)

    def bmm_step() -> None:
        out = grouped._torch_forward(torch, plan, x, None)
        loss = F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(k, bs).mean(1).sum()
        for p in params:
            p.grad = None
        loss.backward()
        targets.take_grads()
        opt.step()

    # One member trained alone (nn.Sequential, autograd, fused Adam: training.train's step), and the
    # floor under any grouping: the same step's matrix products alone (forward x W, backward g W^T and
    # g^T x per layer), which cost the same per member batched or not.
    solo_net = nets[0]
    opt_s = torch.optim.Adam(solo_net.parameters(), lr=LR, eps=1e-7, fused=True)

    def solo_step() -> None:
        opt_s.zero_grad(set_to_none=True)
        F.cross_entropy(solo_net(x[0]), y[0]).backward()
        opt_s.step()

    weights = [m.weight.detach() for m in solo_net.modules() if isinstance(m, torch.nn.Linear)]
    acts = [torch.rand(bs, w.shape[1]) for w in weights]
    grads = [torch.rand(bs, w.shape[0]) for w in weights]

    def floor_step() -> None:
        for i, (w, a, g) in enumerate(zip(weights, acts, grads, strict=True)):
            torch.addmm(w[:, 0], a, w.t())
            g.t().mm(a)
            if i:  # no gradient for the input images
                g.mm(w)

    stacked, buffers = stack_module_state(nets)
    base = models.build_mlp("torch", 784, init="he_normal", seed=0, **MODELS["b"]["mlp"]).to("meta")
    opt_v = torch.optim.Adam(list(stacked.values()), lr=LR, eps=1e-7, fused=True)

    def call(p: dict, b: dict, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (xb,))

    batched = vmap(call)

    def vmap_step() -> None:
        out = batched(stacked, buffers, x)
        loss = F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(k, bs).mean(1).sum()
        opt_v.zero_grad(set_to_none=True)
        loss.backward()
        opt_v.step()

    out = {"kind": "vmap_vs_bmm", "k": k}
    per = {"bmm": k, "vmap": k, "solo": 1, "floor": 1}
    for name, fn in (("bmm", bmm_step), ("vmap", vmap_step), ("solo", solo_step), ("floor", floor_step)) * 2:
        fn()  # twice, interleaved; the second counts
        c0 = _cpu()
        for _ in range(steps * per["bmm"] // per[name]):
            fn()
        out[name] = (_cpu() - c0) / (steps * per["bmm"] // per[name]) / per[name]
    return out


# ---------------------------------------------------------------------- parent


def run(args: argparse.Namespace) -> dict:
    env = {**os.environ, "COURSE_THREADS": "1", "COURSE_PROFILE": os.environ.get("COURSE_PROFILE", "full"),
           "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg", "COURSE_PROGRESS": "0",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    fws = args.frameworks.split(",")
    rows: list[dict] = []
    loads = [os.getloadavg()]
    t_start = time.time()
    for r in range(args.rounds):
        order = fws if r % 2 == 0 else fws[::-1]
        for fw in order:
            cmd = [sys.executable, __file__, "--worker", fw, "--ks", args.ks, "--n-train", str(args.n_train),
                   "--n-val", str(args.n_val), "--seed", str(r + 1)] + (["--vmap"] if r == args.rounds - 1 else [])
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if out.returncode:
                sys.stderr.write(out.stderr[-4000:])
                raise SystemExit(f"worker {fw} failed (exit {out.returncode})")
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    rec = json.loads(line)
                    rec["round"] = r
                    rows.append(rec)
            loads.append(os.getloadavg())
            print(f"round {r + 1}/{args.rounds} {fw} done ({time.time() - t_start:.0f} s)", file=sys.stderr)
    return {"rows": rows, "loads": loads, "seconds": time.time() - t_start, "args": vars(args)}


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def table(res: dict) -> str:
    rows = [r for r in res["rows"] if r.get("kind") != "vmap_vs_bmm"]
    ks = sorted({r["k"] for r in rows if r["how"] == "grouped"})
    med = statistics.median
    lines = [START, "## Grouped training: K runs as one batched computation (`bench/bench_grouped.py`)", ""]
    commit = os.environ.get("BENCH_COMMIT", "")  # set when the bench runs from an exported copy
    if not commit:
        try:
            commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, check=False).stdout.strip() or "?"
        except OSError:
            commit = "?"
    n_rounds = res["args"]["rounds"]
    loads = ", ".join(f"{a:.1f}" for a, _, _ in res["loads"])
    lines += [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit {commit} on {_cpu_model()} "
        f"({os.cpu_count()} CPUs shared with other users; 1-minute load average before and after each "
        f"worker: {loads}), {n_rounds} interleaved rounds, {res['seconds']:.0f} s in all. One epoch over "
        f"{res['args']['n_train']} Fashion-MNIST training images (validation on {res['args']['n_val']} test "
        "images), Adam lr 1e-3, one thread (`COURSE_THREADS=1`). *Alone*: build_mlp + training.train per seed "
        f"({ALONE_RUNS} seeds per round); *grouped*: one grouped.train_group call for K seeds. Seconds per "
        "run-epoch (medians over rounds, building and validation included); speed-up = alone / grouped.",
        "",
        "| framework | model | K | CPU s alone | CPU s grouped | speed-up (CPU) | wall s alone | wall s grouped "
        "| speed-up (wall) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for fw in ("torch", "keras"):
        for model, spec in MODELS.items():
            alone = [r for r in rows if r["framework"] == fw and r["model"] == model and r["how"] == "alone"]
            if not alone:
                continue
            a_cpu = med(r["cpu"] / r["k"] for r in alone)
            a_wall = med(r["wall"] / r["k"] for r in alone)
            for k in ks:
                g = [r for r in rows if r["framework"] == fw and r["model"] == model and r["how"] == "grouped"
                     and r["k"] == k]
                if not g:
                    continue
                g_cpu = med(r["cpu"] / k for r in g)
                g_wall = med(r["wall"] / k for r in g)
                lines.append(f"| {fw} | {model}: {spec['title']} | {k} | {a_cpu:.3f} | {g_cpu:.3f} | "
                             f"**{a_cpu / g_cpu:.2f}x** | {a_wall:.3f} | {g_wall:.3f} | {a_wall / g_wall:.2f}x |")
    spread = []
    for fw in ("torch", "keras"):
        for model in MODELS:
            for how, k in {(r["how"], r["k"]) for r in rows}:
                sel = [r["cpu"] for r in rows if r["framework"] == fw and r["model"] == model and r["how"] == how
                       and r["k"] == k]
                if len(sel) > 1:
                    spread.append(max(sel) / min(sel))
    vm = [r for r in res["rows"] if r.get("kind") == "vmap_vs_bmm"]
    lines.append("")
    if spread:
        lines.append(f"- Round-to-round spread (max/min CPU s of one cell): median {med(spread):.2f}x, "
                     f"worst {max(spread):.2f}x -- the CPUs are shared, read small differences with care.")
    if vm:
        v = vm[-1]
        lines.append(f"- PyTorch, 30 x 128 model, K = {v['k']}, one training step (forward, backward, fused Adam), "
                     f"CPU ms per member-step: stacked `baddbmm` **{v['bmm'] * 1e3:.2f}**, "
                     f"`torch.func.stack_module_state` + `vmap(functional_call)` **{v['vmap'] * 1e3:.2f}** "
                     "(grouped uses the first).")
        if "floor" in v:
            lines.append(f"- The same model, one member alone: a training step (`nn.Sequential`, fused Adam) costs "
                         f"**{v['solo'] * 1e3:.2f}** CPU ms, its matrix products alone **{v['floor'] * 1e3:.2f}** "
                         f"({v['floor'] / v['solo']:.0%} of the step). Batched products cost the same per member, so "
                         f"no grouping of this model can beat **{v['solo'] / v['floor']:.2f}x** per run; "
                         f"grouped at K = {v['k']} reaches {v['solo'] / v['bmm']:.2f}x of it.")
    diffs: dict[tuple[str, str], list[tuple[float, float]]] = {}  # the same seed, same round, alone and grouped
    for a in (r for r in rows if r["how"] == "alone"):
        for g in (r for r in rows if r["how"] == "grouped" and r["round"] == a["round"]
                  and r["framework"] == a["framework"] and r["model"] == a["model"]):
            for seed, loss in a["loss"].items():
                if seed in g["loss"]:
                    diffs.setdefault((a["framework"], a["model"]), []).append(
                        (abs(g["loss"][seed] - loss) / abs(loss), abs(g["val_accuracy"][seed] - a["val_accuracy"][seed])))
    if diffs:
        lines.append("- Same seed alone and in a group, largest relative difference of the epoch's training loss / "
                     "largest difference of the validation accuracy: " + "; ".join(
                         f"{fw} {m} {max(d[0] for d in v):.1e} / {max(d[1] for d in v):.3f}"
                         for (fw, m), v in sorted(diffs.items())) + " (see below).")
    lines += ["", NOTES.strip(), END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of ``path`` (between its markers) or append it; keep the rest."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ holds the shared writer
    from _sections import write_marked_section

    write_marked_section(path, section, START, END)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ks", default="1,2,4,8,16")
    p.add_argument("--n-train", type=int, default=2048)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--frameworks", default="torch,keras")
    p.add_argument("--out", help="write the table into this Markdown file's own section (bench/RESULTS.md)")
    p.add_argument("--json", help="also save the raw measurements here")
    p.add_argument("--from-json", help="make the table from saved measurements instead of measuring")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--vmap", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, [int(k) for k in args.ks.split(",")], args.n_train, args.n_val, args.seed, args.vmap)
        return
    res = json.loads(Path(args.from_json).read_text()) if args.from_json else run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    text = table(res)
    print(text)
    if args.out:
        write_section(Path(args.out), text)


if __name__ == "__main__":
    main()
