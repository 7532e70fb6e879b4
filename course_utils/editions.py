"""Student and instructor editions of the notebooks.

The notebooks in ``notebooks/`` are the instructor (solution) edition. In a
cell tagged ``solution`` the code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` is the answer; the student edition replaces it with a
line that raises ``NotImplementedError("Student exercise: <hint>")``, the
hint taken from the cell's ``# Hint:`` comment. The function's ``def`` line
and docstring stay, so the checker below it can call the stub and print the
hint instead of crashing (the nbgrader convention, without nbgrader)::

    def my_he_std(fan_in):
        \"\"\"Return the standard deviation of He-normal weights.\"\"\"
        # Hint: He keeps Var(w) = 2 / fan_in.
        ### BEGIN SOLUTION
        return (2 / fan_in) ** 0.5
        ### END SOLUTION

``python -m course_utils.editions student [OUT]`` writes the student edition
(default ``student/``); ``make student`` calls it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat

from .config import repo_root
from .exercises import STUB_MARKER

__all__ = ["SOLUTION_TAG", "student_source", "make_student_notebook", "write_student_edition"]

SOLUTION_TAG = "solution"
_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")
_HINT = re.compile(r"#\s*Hint:\s*(.+)$", re.IGNORECASE)


def student_source(source: str, *, cell_name: str = "solution cell") -> str:
    """Return ``source`` with each solution block replaced by a stub that raises with the hint."""
    hints = [m.group(1).strip() for line in source.splitlines() if (m := _HINT.search(line))]
    hint = hints[0] if hints else "see the explanation above this cell."
    out, inside, found = [], False, False
    for line in source.splitlines():
        begin = _BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{cell_name}: nested '### BEGIN SOLUTION'.")
            inside, found = True, True
            message = f"{STUB_MARKER}: {hint}".replace('"', "'")
            out.append(f'{begin.group(1)}raise NotImplementedError("{message}")')
        elif _END.match(line):
            if not inside:
                raise ValueError(f"{cell_name}: '### END SOLUTION' without a BEGIN.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{cell_name}: '### BEGIN SOLUTION' is never closed.")
    if not found:
        raise ValueError(f"{cell_name}: tagged '{SOLUTION_TAG}' but has no '### BEGIN SOLUTION' block.")
    return "\n".join(out)


def make_student_notebook(path: Path) -> nbformat.NotebookNode:
    """Read the instructor notebook at ``path`` and return its student edition."""
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.source = student_source(cell.source, cell_name=f"{path.name} cell {index}")
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG] + ["exercise"]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def write_student_edition(out_dir: Path | str | None = None, notebooks_dir: Path | str | None = None) -> list[Path]:
    """Write the student edition of every notebook into ``out_dir`` (default ``<repo>/student``)."""
    src = Path(notebooks_dir) if notebooks_dir else repo_root() / "notebooks"
    dst = Path(out_dir) if out_dir else repo_root() / "student"
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        target = dst / path.name
        nbformat.write(make_student_notebook(path), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.editions", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student edition")
    student.add_argument("out", nargs="?", default=None, help="output folder (default: student/)")
    args = parser.parse_args(argv)
    for path in write_student_edition(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
