"""bench/RESULTS.md holds one section per benchmark, and each writer replaces only its own.

Several scripts write the file: ``bench/memcheck.py`` (the sections under its headings, up to the
next heading or marker), and ``bench/bench_training.py``, ``bench_comparison.py``, ``bench_grouped.py``
``reading_load.py`` and ``course_cpu.py`` (between their ``<!-- name: start -->`` / ``<!-- name: end -->`` markers). A writer that swallows another's
start marker makes that one append a second copy of its section the next time it runs: this
is how a stale training-speed section once survived beside the current one.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
MARKED = ("bench_training", "bench_comparison", "bench_grouped", "reading_load", "course_cpu")
# Sections under a heading of their own, written by a writer that stops at the next heading or marker.
HEADED = ("## Notebook memory and time", "## Concurrent learners")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def _check_sections(text: str) -> None:
    for name in MARKED:
        start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
        assert text.count(start) == 1 and text.count(end) == 1, f"{name}: markers {text.count(start)}/{text.count(end)}"
        assert text.index(start) < text.index(end), f"{name}: end marker before start marker"
    headings = re.findall(r"^## .+$", text, flags=re.M)
    assert len(headings) == len(set(headings)), f"a section appears twice: {headings}"
    plain = [h for h in headings if h not in HEADED]
    assert len(plain) == len(MARKED), headings


def test_results_file_has_one_section_per_benchmark():
    _check_sections(RESULTS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", MARKED)
def test_each_writer_replaces_only_its_own_section(tmp_path, name):
    """memcheck rewrites its table, then a marked benchmark rewrites its section: still one of each."""
    memcheck, bench = _load("memcheck"), _load(name)
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS.read_text(encoding="utf-8"), encoding="utf-8")
    memcheck._update_results([], path)
    _check_sections(path.read_text(encoding="utf-8"))
    bench.write_section(path, f"{bench.START}\n## New {name}\n\nfresh\n{bench.END}\n")
    text = path.read_text(encoding="utf-8")
    _check_sections(text.replace(f"## New {name}", "## placeholder"))
    assert "fresh" in text
    _, rows, _ = memcheck.parse_section(text)
    assert rows, "the memory table lost its rows"


def test_the_concurrency_writer_replaces_only_its_own_rows(tmp_path):
    memcheck = _load("memcheck")
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS.read_text(encoding="utf-8"), encoding="utf-8")
    row = ["06_he_kaiming", "quick", "4", "all (2)", "4200", "1050", "52.0", "120.0 / 130.0", "ok", "then"]
    memcheck.update_concurrent(row, path)
    memcheck.update_concurrent([*row[:4], "4100", "1025", "50.0", "110.0 / 120.0", "ok", "now"], path)
    memcheck.update_concurrent(["06_he_kaiming", "quick", "8", *row[3:]], path)
    text = path.read_text(encoding="utf-8")
    _check_sections(text)
    section = text.split("## Concurrent learners")[1]
    assert "| now |" in section and "| then |" not in section.split("| 8 |")[0]
    assert section.count("| 06_he_kaiming | quick |") == 2
    _, rows, _ = memcheck.parse_section(text)
    assert rows, "the memory table lost its rows"
