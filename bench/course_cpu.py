"""CPU seconds of the course: each notebook from a fresh kernel, per cell, for one or more source trees.

    python bench/course_cpu.py --profile quick                          # this checkout
    python bench/course_cpu.py --tree before=/tmp/old --tree after=.   # two versions, interleaved

On a shared machine wall time measures the neighbours; the CPU time (user + system) of the kernel and
its children is what a learner's run costs the server. Each tree's notebooks run with that tree's
``course_utils`` (``PYTHONPATH``), a fresh experiment cache and ``COURSE_THREADS=1`` (the thread count
a hub gives each learner), the trees interleaved notebook by notebook so that both see the same load.
``--write`` puts the table in bench/RESULTS.md between the ``course_cpu`` markers; ``--json`` keeps the
per-cell seconds (where the CPU goes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sections import write_marked_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
START, END = "<!-- course_cpu: start -->", "<!-- course_cpu: end -->"
CELL_TIMEOUT = 1800


def _cpu(proc: psutil.Process) -> float:
    """User + system seconds of a process and its living children."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def run_notebook(path: Path, tree: Path, profile: str) -> dict:
    """Execute one notebook; return its total CPU seconds, wall seconds and CPU seconds per cell."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    cache = tempfile.mkdtemp(prefix="course-cpu-cache-")
    sockets = tempfile.mkdtemp(prefix="course-cpu-ipc-")
    env = dict(os.environ)
    env.update(COURSE_PROFILE=profile, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0",
               COURSE_CACHE_DIR=cache, COURSE_THREADS="1", COURSE_CHECK_STRICT="1", COURSE_PROGRESS="0",
               PYTHONPATH=str(tree))
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
    cells: dict[int, float] = {}
    state: dict[str, object] = {}

    def kernel() -> psutil.Process:
        if "proc" not in state:
            state["proc"] = psutil.Process(km.provisioner.process.pid)
        return state["proc"]  # type: ignore[return-value]

    def on_cell_start(cell, cell_index: int) -> None:
        state["t"] = _cpu(kernel())

    def on_cell_executed(cell, cell_index: int, execute_reply) -> None:
        cells[cell_index] = _cpu(kernel()) - float(state["t"])  # type: ignore[arg-type]

    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(tree / "notebooks")}},
                            on_cell_start=on_cell_start, on_cell_executed=on_cell_executed)
    status, start = "ok", time.perf_counter()
    total = 0.0
    try:
        with client.setup_kernel(env=env):
            for index, cell in enumerate(client.nb.cells):
                client.execute_cell(cell, index)
            total = _cpu(kernel())
    except Exception as err:  # noqa: BLE001 - a failing notebook is recorded, the others still run
        status = "FAILED: " + (str(err).strip().splitlines()[-1:] or [type(err).__name__])[0][:100]
        total = sum(cells.values())
    wall = time.perf_counter() - start
    if km.has_kernel:  # nbclient shuts down only kernels it started itself: a kernel left behind holds ~1 GB
        km.shutdown_kernel(now=True)
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(sockets, ignore_errors=True)
    return {"cpu_s": total, "wall_s": wall, "status": status, "cells": cells}


def describe(trees: list[tuple[str, Path]]) -> dict[str, str]:
    """Each tree's last commit, short hash and date (or the path, outside git)."""
    import subprocess

    out = {}
    for label, tree in trees:
        try:
            rev = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h (%ad)", "--date=short"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "course_utils", "notebooks"],
                                   capture_output=True, text=True, check=True).stdout.strip()
            out[label] = rev + (" with uncommitted changes" if dirty else "")
        except (OSError, subprocess.CalledProcessError):
            out[label] = str(tree)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("quick", "full"), default="quick")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH",
                        help="a source tree to measure (default: this checkout, labelled 'now')")
    parser.add_argument("--notebooks", nargs="*", help="prefixes, e.g. 06 11 12 (default: all)")
    parser.add_argument("--json", type=Path, help="write every measurement, per cell, to this file")
    parser.add_argument("--write", action="store_true", help="put the table in bench/RESULTS.md")
    args = parser.parse_args(argv)
    trees = [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in args.tree] or [("now", REPO)]
    names = sorted({p.name for _, tree in trees for p in (tree / "notebooks").glob("[0-9][0-9]_*.ipynb")})
    if args.notebooks:
        names = [n for n in names if any(n.startswith(o) for o in args.notebooks)]
    load0 = os.getloadavg()[0]
    results: dict[str, dict[str, dict]] = {}
    for name in names:
        for label, tree in trees:
            path = tree / "notebooks" / name
            if not path.exists():
                continue
            r = run_notebook(path, tree, args.profile)
            results.setdefault(name, {})[label] = r
            print(f"{name} [{label}]: {r['cpu_s']:.1f} CPU s, {r['wall_s']:.1f} s wall, {r['status']}", flush=True)
    load1 = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps({"profile": args.profile, "trees": {k: str(v) for k, v in trees},
                                         "results": results}, indent=1))
    block = render(results, [label for label, _ in trees], args.profile, (load0, load1), describe(trees))
    print(block)
    if args.write:
        text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
        old = text[text.index(START):text.index(END)] if START in text and END in text else ""
        write_section(RESULTS, merge(old, block, args.profile))
    return 0 if all(r["status"] == "ok" for per in results.values() for r in per.values()) else 1


INTRO = ("## Course CPU seconds per notebook (`bench/course_cpu.py`)\n\n"
         "Each notebook from a fresh kernel, one thread (`COURSE_THREADS=1`), a fresh experiment cache; CPU seconds are "
         "user + system time of the kernel and its children, the trees' runs interleaved notebook by notebook.\n")


def render(results: dict[str, dict[str, dict]], labels: list[str], profile: str, load: tuple[float, float],
           trees: dict[str, str] | None = None) -> str:
    """One profile's block: a row per notebook, a column per tree, the ratio of the last to the first."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    head = "| notebook | " + " | ".join(f"CPU s, {lb}" for lb in labels)
    rule = "| --- |" + " ---: |" * len(labels)
    if len(labels) >= 2:
        head += f" | {labels[-1]} / {labels[0]}"
        rule += " ---: |"
    lines = [head + " |", rule]
    sums = dict.fromkeys(labels, 0.0)
    common = dict.fromkeys(labels, 0.0)
    for name, per in results.items():
        row = [name.removesuffix(".ipynb")]
        for lb in labels:
            r = per.get(lb)
            row.append("-" if r is None else f"{r['cpu_s']:.1f}" + ("" if r["status"] == "ok" else " (failed)"))
            if r is not None:
                sums[lb] += r["cpu_s"]
                if all(x in per for x in labels):
                    common[lb] += r["cpu_s"]
        if len(labels) >= 2:
            a, b = per.get(labels[0]), per.get(labels[-1])
            row.append(f"{b['cpu_s'] / a['cpu_s']:.2f}" if a and b else "-")
        lines.append("| " + " | ".join(row) + " |")
    total = ["**all notebooks**"] + [f"**{sums[lb]:.1f}**" for lb in labels]
    if len(labels) >= 2:
        total.append("")
        lines.append("| " + " | ".join(total) + " |")
        if common[labels[0]]:  # the same notebooks on both sides: the ratio that compares like with like
            lines.append("| **notebooks in every tree** | " + " | ".join(f"**{common[lb]:.1f}**" for lb in labels)
                         + f" | **{common[labels[-1]] / common[labels[0]]:.2f}** |")
    else:
        lines.append("| " + " | ".join(total) + " |")
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    what = ""
    if trees:
        what = " Trees: " + "; ".join(f"{lb}: {desc}" for lb, desc in trees.items()) + "."
    return (f"### {profile} profile\n\nMeasured {when} UTC on {cpu} ({len(os.sched_getaffinity(0))} CPUs shared with "
            f"other users, 1-minute load average {load[0]:.1f} before and {load[1]:.1f} after).{what}\n\n"
            + "\n".join(lines) + "\n")


def merge(old_section: str, block: str, profile: str) -> str:
    """The section with this profile's block replaced (or added); the other profile's block kept."""
    blocks = {}
    for part in old_section.split("\n### ")[1:]:
        body = part.split(END)[0].rstrip("\n") + "\n"
        blocks[body.split(" ", 1)[0]] = "### " + body
    blocks[profile] = block
    return f"{START}\n{INTRO}\n" + "\n".join(blocks[p] for p in ("quick", "full") if p in blocks) + f"{END}\n"


def write_section(path: Path, section: str) -> None:
    write_marked_section(path, section, START, END)


if __name__ == "__main__":
    sys.exit(main())
