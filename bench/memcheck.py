"""Peak memory and wall time of every notebook, each from a fresh kernel: ``make memcheck``.

Runs each notebook in ``notebooks/`` with nbclient (a fresh ``python3`` kernel
per notebook, working directory ``notebooks/`` as under nbval, or the repo root
with ``--cwd root``), samples the resident memory (RSS) of
the kernel process *and its children* every ``--interval`` seconds with psutil,
and records per notebook the peak RSS and the wall time in the section
``## Notebook memory and time`` of ``bench/RESULTS.md``. Only that section is
rewritten; other sections of the file (other benchmarks) are kept as they are.
Rows are keyed by (notebook, profile, CPUs), so quick/full and pinned/unpinned
runs sit side by side and a rerun replaces its own row.

Binder gives a pod 2 GB and about one CPU; the course's limit is 1.5 GB peak per
notebook (``tests/test_reliability_memory.py`` checks the recorded peaks), and
``--taskset 0`` runs the kernels pinned to CPU 0 to time the course as on Binder.

Usage::

    python bench/memcheck.py --profile quick [--notebooks 00 03] [--taskset 0] [--cwd root]
    python bench/memcheck.py --profile quick --notebooks 06 --concurrent 4

``--concurrent N`` runs each chosen notebook in N kernels at once, as N learners on one
hub server would, each with its own experiment cache, and records in the section
``## Concurrent learners`` the summed peak RSS of all N kernels, the CPU seconds each
kernel used (user + system, summed over the kernel and its children), and the slowest
and median wall time: the figures behind the hub capacity table in docs/instructors.md.

Experiment caches go to a fresh temporary folder (``COURSE_CACHE_DIR``) unless
``--keep-cache`` is given, so a peak is what a learner's first run costs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import psutil

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
RESULTS = REPO / "bench" / "RESULTS.md"
HEADING = "## Notebook memory and time"
# The course's per-notebook memory budget: Binder's 2 GB pod minus room for JupyterLab itself.
LIMIT_MB = 1536
# Seconds one cell may run (the limit `make test` gives nbval).
CELL_TIMEOUT = 600
# Seconds between RSS samples: short enough to catch a peak lasting a fraction of a second.
DEFAULT_INTERVAL = 0.2
MB = 1024 * 1024

COLUMNS = ("notebook", "profile", "CPUs", "peak RSS (MB)", "wall (s)", "status", "measured (UTC)", "slowest cell")
_ROW = re.compile(r"^\|(.+)\|\s*$")


@dataclass
class Measurement:
    notebook: str
    profile: str
    cpus: str  # "all (N)" or "pinned to 0"
    peak_mb: float
    wall_s: float
    status: str  # "ok" or "FAILED: ..."
    when: str
    slowest: str = ""  # "cell 27: 41.2 s": index among all cells (Markdown included), from 0

    def cells(self) -> list[str]:
        return [self.notebook, self.profile, self.cpus, f"{self.peak_mb:.0f}", f"{self.wall_s:.1f}", self.status,
                self.when, self.slowest]


class RssSampler(threading.Thread):
    """Samples the summed RSS of this process's descendants (the kernel and whatever it starts)."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()
        self._me = psutil.Process()

    def run(self) -> None:
        while not self._halt.is_set():
            total = 0
            for proc in self._me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass  # a child that ended between listing and reading
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def find_notebooks(only: list[str] | None) -> list[Path]:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        chosen = [p for p in paths if any(p.name.startswith(o) or p.stem == o for o in only)]
        if not chosen:
            names = ", ".join(p.stem for p in paths) or "none"
            raise SystemExit(f"--notebooks {' '.join(only)} matched no notebook; there are: {names}")
        return chosen
    return paths


def run_one(path: Path, *, profile: str, cwd: Path, env: dict[str, str], interval: float, cpus: str) -> Measurement:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started: dict[int, float] = {}
    took: dict[int, float] = {}

    def on_cell_start(cell, cell_index: int) -> None:
        started[cell_index] = time.perf_counter()

    def on_cell_executed(cell, cell_index: int, execute_reply) -> None:  # after the kernel's reply
        took[cell_index] = time.perf_counter() - started.get(cell_index, time.perf_counter())

    from jupyter_client.manager import KernelManager

    # IPC sockets, not TCP: with many kernels starting at once on a shared machine, a TCP port picked as free
    # can be taken by another kernel before ours binds it, and then a reply never arrives (seen here: the
    # client waited with both sides idle). Socket files in a private folder cannot collide.
    sockets = tempfile.mkdtemp(prefix="memcheck-ipc-")
    km = KernelManager(kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"), transport="ipc",
                       ip=os.path.join(sockets, "kernel"))
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(cwd)}},
        on_cell_start=on_cell_start,
        on_cell_executed=on_cell_executed,
    )
    sampler = RssSampler(interval)
    sampler.start()
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute(env=env)
    except Exception as err:  # noqa: BLE001 - a failing notebook is recorded, the others still run
        first = str(err).strip().splitlines()[-1:] or [type(err).__name__]
        status = "FAILED: " + first[0][:80].replace("|", "/")
    wall = time.perf_counter() - start
    peak = sampler.stop()
    if km.has_kernel:  # nbclient shuts down only kernels it created itself
        km.shutdown_kernel(now=True)
    shutil.rmtree(sockets, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    slow = max(took.items(), key=lambda kv: kv[1], default=None)
    slowest = f"cell {slow[0]}: {slow[1]:.1f} s" if slow else ""
    return Measurement(path.stem, profile, cpus, peak / MB, wall, status, when, slowest)


class CpuSampler(threading.Thread):
    """Remembers the last CPU time (user + system) seen for each descendant process, so the CPU
    seconds of kernels that have already exited are still counted."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.seen: dict[int, float] = {}
        self._halt = threading.Event()
        self._me = psutil.Process()

    def run(self) -> None:
        while not self._halt.is_set():
            for proc in self._me.children(recursive=True):
                try:
                    t = proc.cpu_times()
                    self.seen[proc.pid] = t.user + t.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self._halt.wait(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return sum(self.seen.values())


CONCURRENT_HEADING = "## Concurrent learners"
CONCURRENT_COLUMNS = ("notebook", "profile", "learners", "CPUs", "summed peak RSS (MB)", "peak RSS per learner (MB)",
                      "CPU s per learner", "wall s (median / slowest)", "status", "measured (UTC)")


def run_concurrent(path: Path, n: int, *, profile: str, cwd: Path, env: dict[str, str], interval: float,
                   cpus: str) -> list[str]:
    """``path`` in ``n`` kernels at once, each with its own experiment cache: one row of the concurrency table."""
    results: list[Measurement | None] = [None] * n
    caches = [tempfile.TemporaryDirectory(prefix=f"memcheck-learner{i}-") for i in range(n)]

    def learner(i: int) -> None:
        results[i] = run_one(path, profile=profile, cwd=cwd, env={**env, "COURSE_CACHE_DIR": caches[i].name},
                             interval=interval, cpus=cpus)

    rss, cpu = RssSampler(interval), CpuSampler(interval)
    rss.start()
    cpu.start()
    threads = [threading.Thread(target=learner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak, cpu_s = rss.stop() / MB, cpu.stop()
    for c in caches:
        c.cleanup()
    walls = sorted(m.wall_s for m in results if m is not None)
    bad = [m.status for m in results if m is None or m.status != "ok"]
    status = "ok" if not bad else f"{len(bad)} of {n} failed: {bad[0]}"[:80]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    return [path.stem, profile, str(n), cpus, f"{peak:.0f}", f"{peak / n:.0f}", f"{cpu_s / n:.1f}",
            f"{walls[len(walls) // 2]:.1f} / {walls[-1]:.1f}", status, when]


def update_concurrent(row: list[str], path: Path = RESULTS) -> None:
    """Replace (or add) this (notebook, profile, learners, CPUs) row of the concurrency section."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    header = "| " + " | ".join(CONCURRENT_COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in CONCURRENT_COLUMNS) + "|"
    intro = ("N kernels of one notebook at once, as N learners on one hub server, each with its own experiment "
             "cache (`python bench/memcheck.py --concurrent N`); CPU s per learner is user + system time of its "
             "kernel and children.")
    if CONCURRENT_HEADING in text:
        head, rest = text.split(CONCURRENT_HEADING, 1)
        # the section ends at the next heading or at another benchmark's start marker
        ends = [i for i in (rest.find("\n## "), rest.find("\n<!--")) if i >= 0]
        cut = min(ends) if ends else len(rest)
        body, tail = rest[:cut], rest[cut:]
        rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| notebook")]
    else:
        head, rows, tail = text.rstrip() + "\n\n", [], ""
    key = tuple(row[:4])
    kept = [r for r in rows if tuple(c.strip() for c in r.strip("|").split("|"))[:4] != key]
    kept.append("| " + " | ".join(row) + " |")
    section = f"{CONCURRENT_HEADING}\n\n{intro}\n\n{header}\n{rule}\n" + "\n".join(sorted(kept)) + "\n"
    path.write_text(head + section + tail, encoding="utf-8")


# ------------------------------------------------------------------ RESULTS.md


def parse_section(text: str) -> tuple[str, list[list[str]], str]:
    """Split RESULTS.md into (before, rows of our table, after)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == HEADING), None)
    if start is None:
        return text, [], ""
    # The section ends at the next heading or at the next benchmark's start marker (the line above its heading):
    # stopping only at "## " swallowed that marker, and the other writer then appended a second section.
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "<!-- "))), len(lines))
    rows = []
    for line in lines[start + 1 : end]:
        match = _ROW.match(line.strip())
        if not match:
            continue
        cells = [c.strip() for c in match.group(1).split("|")]
        cells += [""] * (len(COLUMNS) - len(cells))  # rows written before a column was added
        if cells[0] == COLUMNS[0] or set("".join(cells)) <= set("-: "):
            continue  # header or separator
        rows.append(cells)
    return "".join(lines[:start]), rows, "".join(lines[end:])


def render_section(rows: list[list[str]]) -> str:
    rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    out = [
        HEADING + "\n\n",
        "Written by `bench/memcheck.py` (`make memcheck`): each notebook from a fresh kernel with nbclient,\n",
        "peak resident memory of the kernel and its children sampled every 0.2 s, wall time of the whole run.\n",
        f"Limit: {LIMIT_MB} MB peak per notebook (`tests/test_reliability_memory.py`). Machine: shared 2-core VM,\n",
        "so wall times include waiting for neighbours; \"pinned to 0\" is `--taskset 0` (one CPU, as on Binder).\n",
        "\"slowest cell\" is the cell index (counting all cells from 0) and its seconds.\n\n",
        "| " + " | ".join(COLUMNS) + " |\n",
        "|" + "|".join("---" for _ in COLUMNS) + "|\n",
    ]
    out += ["| " + " | ".join(r) + " |\n" for r in rows]
    return "".join(out) + "\n"


def update_results(measurements: list[Measurement], path: Path = RESULTS) -> None:
    import fcntl

    # Two memcheck runs (e.g. pinned and unpinned) may finish a notebook at the same moment.
    # The lock file lives in the temporary folder, not in the repository (nothing to ignore or commit).
    name = "memcheck-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16] + ".lock"
    with open(Path(tempfile.gettempdir()) / name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _update_results(measurements, path)


def _update_results(measurements: list[Measurement], path: Path) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    before, rows, after = parse_section(text)
    new = {(m.notebook, m.profile, m.cpus): m.cells() for m in measurements}
    rows = [r for r in rows if tuple(r[:3]) not in new] + list(new.values())
    if before and not before.endswith("\n\n"):
        before = before.rstrip("\n") + "\n\n"
    path.write_text(before + render_section(rows) + after, encoding="utf-8")


# ------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("quick", "full"), default="quick")
    parser.add_argument("--notebooks", nargs="*", help="prefixes or stems, e.g. 00 03 (default: all)")
    parser.add_argument("--taskset", type=int, metavar="CPU", help="pin the kernels to this CPU, as on Binder")
    parser.add_argument("--cwd", choices=("notebooks", "root"), default="notebooks", help="kernel working directory")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between RSS samples")
    parser.add_argument("--keep-cache", action="store_true", help="use the course's experiment cache")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--concurrent", type=int, metavar="N",
                        help="run each notebook in N kernels at once (N learners on one server)")
    args = parser.parse_args(argv)

    if args.taskset is not None:
        # Kernels inherit the affinity mask, so course_utils.config.n_threads() sees one CPU, as on Binder.
        os.sched_setaffinity(0, {args.taskset})
        cpus = f"pinned to {args.taskset}"
    else:
        cpus = f"all ({len(os.sched_getaffinity(0))})"
    env = dict(os.environ)
    env.update(COURSE_PROFILE=args.profile, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    env.setdefault("COURSE_CHECK_STRICT", "1")
    tmp = None
    if not args.keep_cache:
        tmp = tempfile.TemporaryDirectory(prefix="memcheck-cache-")
        env["COURSE_CACHE_DIR"] = tmp.name
    cwd = NOTEBOOKS if args.cwd == "notebooks" else REPO

    if args.concurrent:
        failed = False
        for path in find_notebooks(args.notebooks):
            row = run_concurrent(path, args.concurrent, profile=args.profile, cwd=cwd, env=env,
                                 interval=args.interval, cpus=cpus)
            print(" | ".join(row), flush=True)
            failed |= row[8] != "ok"
            if not args.no_write:
                update_concurrent(row)
        if tmp is not None:
            tmp.cleanup()
        return 1 if failed else 0

    results = []
    failed = False
    for path in find_notebooks(args.notebooks):
        m = run_one(path, profile=args.profile, cwd=cwd, env=env, interval=args.interval, cpus=cpus)
        over = m.peak_mb > LIMIT_MB
        failed |= over or m.status != "ok"
        print(f"{m.notebook}: peak {m.peak_mb:.0f} MB, {m.wall_s:.1f} s (slowest {m.slowest}), {m.status}"
              + (" OVER LIMIT" if over else ""),
              flush=True)
        results.append(m)
        if not args.no_write:
            update_results([m])  # row by row, so an interrupted run keeps what it measured
    if tmp is not None:
        tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
