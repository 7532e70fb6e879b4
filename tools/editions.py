"""Student and instructor editions of the notebooks (a build tool: learners never import it).

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

The next code cell calls the exercise's checker,
``exercises.<topic>.check_he_std(my_he_std)``.

``python -m tools.editions student [OUT]`` writes the student edition
(default ``student/``; ``make student`` calls it); the instructor edition is
``notebooks/`` itself. ``python -m tools.editions check`` lists every
exercise that breaks these rules (see :func:`check_notebook`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from course_utils.config import repo_root
from course_utils.exercises import STUB_MARKER

__all__ = [
    "SOLUTION_TAG",
    "EXERCISE_TAG",
    "student_source",
    "solution_hints",
    "make_student_notebook",
    "write_student_edition",
    "check_notebook",
]

SOLUTION_TAG = "solution"
# The tag a solution cell carries in the student edition.
EXERCISE_TAG = "exercise"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")
_MARKER = re.compile(r"###\s*(BEGIN|END) SOLUTION")
_HINT = re.compile(r"#\s*Hint:\s*(.+)$", re.IGNORECASE)
_CHECK_CALL = re.compile(r"\bcheck_\w+\s*\(")
_DEFAULT_HINT = "see the explanation above this cell."


def solution_hints(source: str) -> list[str]:
    """The hint of each solution block in ``source``: the last ``# Hint:`` line above the block.

    A block with no hint above it takes the cell's first hint (which may sit
    inside the block), else a generic pointer to the text above.
    """
    lines = source.splitlines()
    all_hints = [m.group(1).strip() for line in lines if (m := _HINT.search(line))]
    hints, last = [], None
    for line in lines:
        if _BEGIN.match(line):
            hints.append(last or (all_hints[0] if all_hints else _DEFAULT_HINT))
        elif m := _HINT.search(line):
            last = m.group(1).strip()
    return hints


def student_source(source: str, *, cell_name: str = "solution cell") -> str:
    """Return ``source`` with each solution block replaced by a stub that raises with its hint.

    The stub is ``raise NotImplementedError('Student exercise: <hint>')`` at the
    block's indentation; the message is written as a Python literal (``repr``),
    so any quote or backslash in the hint (LaTeX, paths) stays exact.
    """
    hints = iter(solution_hints(source))
    out, inside, found = [], False, False
    for line in source.splitlines():
        begin = _BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{cell_name}: nested '### BEGIN SOLUTION'.")
            inside, found = True, True
            message = f"{STUB_MARKER}: {next(hints)}"
            out.append(f"{begin.group(1)}raise NotImplementedError({message!r})")
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


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", [])


def make_student_notebook(path: Path | str) -> nbformat.NotebookNode:
    """Read the instructor notebook at ``path`` and return its student edition.

    Solution blocks become stubs, solution cells are retagged ``exercise``, and
    outputs, execution counts and saved widget state are dropped.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if _is_solution(cell):
            cell.source = student_source(cell.source, cell_name=f"{path.name} cell {index + 1}")
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG] + [EXERCISE_TAG]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    return nb


def write_student_edition(out_dir: Path | str | None = None, notebooks_dir: Path | str | None = None) -> list[Path]:
    """Write the student edition of every notebook into ``out_dir`` (default ``<repo>/student``).

    Notebooks left in ``out_dir`` from an earlier run whose source is gone are removed.
    """
    src = Path(notebooks_dir) if notebooks_dir else repo_root() / "notebooks"
    dst = Path(out_dir) if out_dir else repo_root() / "student"
    if dst.resolve() == src.resolve():
        raise ValueError(f"out_dir must differ from the notebooks folder ({src}); it would overwrite the solutions.")
    sources = sorted(src.glob(NOTEBOOK_GLOB))
    student = [make_student_notebook(path) for path in sources]  # every notebook converts before any is written
    dst.mkdir(parents=True, exist_ok=True)
    for stale in dst.glob(NOTEBOOK_GLOB):
        if not (src / stale.name).exists():
            stale.unlink()
    written = []
    for path, nb in zip(sources, student, strict=True):
        target = dst / path.name
        nbformat.write(nb, target)
        written.append(target)
    return written


def check_notebook(path: Path | str) -> list[str]:
    """Problems with the exercises of the notebook at ``path`` (an empty list when it follows the rules).

    Every ``solution`` cell has balanced BEGIN/END markers, a ``# Hint:`` line,
    its blocks inside a function body (so running the student stub defines the
    function instead of raising), and the next code cell calls a checker
    (``check_...(``). No untagged cell has solution markers (they would leak
    the answer into the student edition).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        where = f"{path.name} cell {index + 1}"
        if cell.cell_type != "code":
            continue
        if not _is_solution(cell):
            if _MARKER.search(cell.source):
                problems.append(f"{where}: has '### BEGIN/END SOLUTION' but is not tagged '{SOLUTION_TAG}'.")
            continue
        try:
            student_source(cell.source, cell_name=where)
        except ValueError as err:
            problems.append(str(err))
            continue
        if not any(_HINT.search(line) for line in cell.source.splitlines()):
            problems.append(f"{where}: no '# Hint:' line for the student stub.")
        for line in cell.source.splitlines():
            begin = _BEGIN.match(line)
            if begin and not begin.group(1):
                problems.append(f"{where}: the solution block is not inside a function (the stub would raise when run).")
        following = next((c for c in nb.cells[index + 1 :] if c.cell_type == "code"), None)
        if following is None or _is_solution(following) or not _CHECK_CALL.search(following.source):
            problems.append(f"{where}: the next code cell does not call a checker (exercises.<topic>.check_...(...)).")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.editions", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student edition")
    student.add_argument("out", nargs="?", default=None, help="output folder (default: student/)")
    check = sub.add_parser("check", help="check every notebook's exercises follow the rules")
    check.add_argument("notebooks", nargs="*", help="notebooks (default: all in notebooks/)")
    args = parser.parse_args(argv)
    if args.command == "check":
        paths = [Path(p) for p in args.notebooks] or sorted((repo_root() / "notebooks").glob(NOTEBOOK_GLOB))
        problems = [p for path in paths for p in check_notebook(path)]
        print("\n".join(problems) if problems else f"editions: {len(paths)} notebooks, exercises in order.")
        return 1 if problems else 0
    try:
        written = write_student_edition(args.out)
    except ValueError as err:
        print(f"editions: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(f"editions: student edition of {len(written)} notebooks in {args.out or repo_root() / 'student'}; "
          "the instructor edition (with solutions) is notebooks/.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
