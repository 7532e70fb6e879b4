"""Every notebook fits in Binder's 2 GB: the peaks recorded by ``bench/memcheck.py`` stay under 1.5 GB.

The measurement itself takes minutes (``make memcheck``); this test only reads
``bench/RESULTS.md``, so it is cheap and runs with the unit tests.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"


def _memcheck():
    spec = importlib.util.spec_from_file_location("memcheck", REPO / "bench" / "memcheck.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["memcheck"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


memcheck = _memcheck()


def _rows() -> list[dict[str, str]]:
    if not RESULTS.exists():
        return []
    _, rows, _ = memcheck.parse_section(RESULTS.read_text(encoding="utf-8"))
    return [dict(zip(memcheck.COLUMNS, r, strict=True)) for r in rows]


def test_recorded_peaks_are_under_the_limit():
    rows = _rows()
    if not rows:
        pytest.skip(f"no '{memcheck.HEADING}' table in bench/RESULTS.md yet; run `make memcheck`")
    over = [f"{r['notebook']} ({r['profile']}, {r['CPUs']}): {r['peak RSS (MB)']} MB" for r in rows
            if float(r["peak RSS (MB)"]) > memcheck.LIMIT_MB]
    assert not over, (
        f"notebooks over the {memcheck.LIMIT_MB} MB peak limit (Binder pods have 2 GB): {over}. "
        "Shrink the experiment (pick(quick=..., full=...)), free large arrays, or split the notebook."
    )


def test_every_notebook_has_a_recorded_row():
    rows = _rows()
    if not rows:
        pytest.skip("the memory table does not exist yet; this check starts once `make memcheck` wrote it")
    recorded = {r["notebook"] for r in rows}
    missing = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb") if p.stem not in recorded)
    assert not missing, (
        f"notebooks with no row in '{memcheck.HEADING}' of bench/RESULTS.md: {missing}. This check is active "
        "because the table exists; run `make memcheck MEMCHECK_ARGS='--notebooks "
        + " ".join(m[:2] for m in missing) + "'` to record them."
    )


def test_failed_runs_are_not_hidden():
    failed = [f"{r['notebook']} ({r['profile']}, {r['CPUs']}): {r['status']}" for r in _rows() if r["status"] != "ok"]
    assert not failed, f"notebooks that failed under bench/memcheck.py (their peak may be too low): {failed}"


def test_table_round_trips(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Training speed\n\nother engineer's table\n", encoding="utf-8")
    m = memcheck.Measurement("00_x", "quick", "all (2)", 900.4, 12.34, "ok", "2026-01-01 00:00", "cell 3: 1.0 s")
    memcheck.update_results([m], path)
    memcheck.update_results([memcheck.Measurement("00_x", "quick", "all (2)", 950, 1, "ok", "t")], path)
    memcheck.update_results([memcheck.Measurement("00_x", "full", "all (2)", 990, 2, "ok", "t")], path)
    text = path.read_text(encoding="utf-8")
    assert "## Training speed\n\nother engineer's table" in text
    _, rows, _ = memcheck.parse_section(text)
    assert [(r[0], r[1], r[3]) for r in rows] == [("00_x", "full", "990"), ("00_x", "quick", "950")]
