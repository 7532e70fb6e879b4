"""What a learner reads per notebook (issue 17): visible code characters and `expect` calls, now against the
baseline the course stood at before the learner's-notebook rework (tests/test_notebook_shape.py's BASELINE,
commit 4622b39), and the exercises per notebook.

``python bench/reading_load.py [--out bench/RESULTS.md]`` prints the table and, with ``--out``, writes it as
the ``reading_load`` section. It reads the notebooks only (no kernel): a second to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_notebook_shape import BASELINE, HALVED, NOTEBOOKS, shape  # noqa: E402

START, END = "<!-- reading_load: start -->", "<!-- reading_load: end -->"


def _cells(path: Path) -> tuple[int, int]:
    """(collapsed code cells, exercises (solution cells)) of one notebook."""
    collapsed = exercises = 0
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        meta = cell.get("metadata", {})
        if cell["cell_type"] == "code":
            collapsed += bool(meta.get("jupyter", {}).get("source_hidden") or "hide-input" in meta.get("tags", []))
            exercises += "solution" in meta.get("tags", [])
    return collapsed, exercises


def table() -> str:
    rows = ["| notebook | visible code before | now | now / before | limit (test) | `expect` before | now "
            "| collapsed code cells | exercises |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    totals = [0, 0, 0, 0]
    for number, (base_visible, base_expects) in sorted(BASELINE.items()):
        (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
        visible, expects = shape(path)
        collapsed, exercises = _cells(path)
        limit = base_visible // 2 if number in HALVED else base_visible
        rows.append(f"| {path.stem} | {base_visible:,} | {visible:,} | {visible / base_visible:.2f} | {limit:,} "
                    f"| {base_expects} | {expects} | {collapsed} | {exercises} |")
        totals = [t + v for t, v in zip(totals, (base_visible, visible, base_expects, expects), strict=True)]
    rows.append(f"| **course** | {totals[0]:,} | {totals[1]:,} | {totals[1] / totals[0]:.2f} | | {totals[2]} "
                f"| {totals[3]} | | |")
    return "\n".join(rows)


def section() -> str:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "unknown"
    return (f"{START}\n## What a learner reads: visible code per notebook (`bench/reading_load.py`)\n\n"
            f"At commit {commit}. *Before*: the course before the learner's-notebook rework (commit 4622b39; "
            "notebooks 13-15 when they landed). Visible code: characters in code cells whose input is not "
            "collapsed (`jupyter.source_hidden` or tag `hide-input`; nbval runs them all). "
            "tests/test_notebook_shape.py holds every notebook to its limit and its `expect` count.\n\n"
            f"{table()}\n{END}\n")


def write_section(path: Path, section: str) -> None:
    """Replace this report's section of ``path`` (between its markers) or append it; keep the rest."""
    from _sections import write_marked_section

    write_marked_section(path, section, START, END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="write the section into this file (RESULTS.md)")
    args = parser.parse_args(argv)
    text = section()
    print(text)
    if args.out:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
