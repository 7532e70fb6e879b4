"""One writer for the marked sections of bench/RESULTS.md (bench_training, bench_comparison, bench_grouped).

Each benchmark owns the text between its ``<!-- name: start -->`` and ``<!-- name: end -->`` markers;
bench/memcheck.py owns its heading's table. All take memcheck's lock, so two writers never interleave.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from pathlib import Path


def write_marked_section(path: Path, section: str, start: str, end: str) -> None:
    """Replace the section between ``start`` and ``end`` in ``path`` by ``section`` (which carries both
    markers), or append it; keep the rest of the file."""
    name = "memcheck-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16] + ".lock"
    with open(Path(tempfile.gettempdir()) / name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            tail = rest.split(end, 1)[1].lstrip("\n")
            text = head + section + ("\n" + tail if tail else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        path.write_text(text, encoding="utf-8")
