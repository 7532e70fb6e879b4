"""Student and instructor editions of the notebooks (a build tool: learners never import it).

The notebooks in ``notebooks/`` are the instructor (solution) edition. In a
cell tagged ``solution`` the code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` is the answer; the student edition replaces it with a
line that raises ``NotImplementedError("exercise N: see the hint above")``
(N counts the notebook's exercises). The hint lives in one place: the
cell's ``# Hint:`` comment stays in the stub, unless the notebook already gives
a hint in its text: the same words in a markdown cell above, or a folded
``<details>`` hint (the two-level hint) since the previous exercise; then the
comment is dropped. The function's ``def`` line and docstring stay, so the
checker below it can call the stub and say "not done yet" instead of crashing
(the nbgrader convention, without nbgrader)::

    def my_he_std(fan_in):
        \"\"\"Return the standard deviation of He-normal weights.\"\"\"
        # Hint: He keeps Var(w) = 2 / fan_in.
        ### BEGIN SOLUTION
        return (2 / fan_in) ** 0.5
        ### END SOLUTION

The next code cell calls the exercise's checker,
``exercises.<topic>.check_he_std(my_he_std)``.

``python -m tools.editions student [OUT]`` writes the student edition
(default ``student/``, a build output rewritten each time; ``make student``
calls it); the instructor edition is ``notebooks/`` itself.
``python -m tools.editions learner [OUT]`` brings the learner's own copy
(default ``my-notebooks/``, git-ignored; ``make lab`` and Binder's ``postBuild``
call it) up to date without ever overwriting a notebook in it: see
:func:`update_learner_copy`. ``python -m tools.editions check`` lists every
exercise that breaks these rules (see :func:`check_notebook`).
``python -m tools.editions branch [NAME]`` commits the student edition as the
branch a hub's nbgitpuller links pull (default ``student``): the tree of
``HEAD`` with ``notebooks/`` replaced by the student edition (see
:func:`commit_student_branch`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
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
    "update_learner_copy",
    "LEARNER_DIR",
    "check_notebook",
    "commit_student_branch",
]

SOLUTION_TAG = "solution"
# The tag a solution cell carries in the student edition.
EXERCISE_TAG = "exercise"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")
_MARKER = re.compile(r"###\s*(BEGIN|END) SOLUTION")
_HINT = re.compile(r"#\s*Hint:\s*(.+)$", re.IGNORECASE)
# A folded hint in the text above an exercise (the two-level hint: a nudge, then <details> with the formula).
_FOLDED = re.compile(r"<details\b", re.IGNORECASE)
_CHECK_CALL = re.compile(r"\bcheck_\w+\s*\(")
_DEFAULT_HINT = "see the explanation above this cell."
# The learner's own folder (git-ignored), and the record of what the course last gave it.
LEARNER_DIR = "my-notebooks"
MANIFEST = ".course-editions.json"
# A course update offered beside the learner's notebook: 06_he_kaiming.ipynb -> 06_he_kaiming.new.ipynb.
NEW_SUFFIX = ".new.ipynb"


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


def stub_message(number: int) -> str:
    """The message a student stub raises with: short, the hint itself stays in one place above it."""
    return f"{STUB_MARKER} {number}: see the hint above"


def student_source(source: str, *, cell_name: str = "solution cell", first: int = 1,
                   drop_hints: frozenset[str] | set[str] = frozenset()) -> str:
    """Return ``source`` with each solution block replaced by a stub that raises.

    The stub is ``raise NotImplementedError("exercise N: see the hint above")`` at the
    block's indentation, N counting from ``first``. A ``# Hint:`` line whose hint is
    in ``drop_hints`` (already shown in the notebook's text) is dropped, so the
    learner reads each hint once.
    """
    number = first
    out, inside, found = [], False, False
    for line in source.splitlines():
        begin = _BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{cell_name}: nested '### BEGIN SOLUTION'.")
            inside, found = True, True
            out.append(f'{begin.group(1)}raise NotImplementedError("{stub_message(number)}")')
            number += 1
        elif _END.match(line):
            if not inside:
                raise ValueError(f"{cell_name}: '### END SOLUTION' without a BEGIN.")
            inside = False
        elif not inside:
            hint = _HINT.search(line)
            if hint and line.strip().startswith("#") and _normal(hint.group(1)) in drop_hints:
                continue
            out.append(line)
    if inside:
        raise ValueError(f"{cell_name}: '### BEGIN SOLUTION' is never closed.")
    if not found:
        raise ValueError(f"{cell_name}: tagged '{SOLUTION_TAG}' but has no '### BEGIN SOLUTION' block.")
    return "\n".join(out)


def _normal(text: str) -> str:
    """Text compared without its spacing and markdown backticks (a hint in prose vs. in a comment)."""
    return " ".join(text.replace("`", "").split())


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", [])


def make_student_notebook(path: Path | str) -> nbformat.NotebookNode:
    """Read the instructor notebook at ``path`` and return its student edition.

    Solution blocks become stubs, solution cells are retagged ``exercise``, and
    outputs, execution counts and saved widget state are dropped.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    number, shown, folded = 1, "", False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            shown += " " + _normal(cell.source)
            folded = folded or _FOLDED.search(cell.source) is not None
        if _is_solution(cell):
            blocks = solution_hints(cell.source)
            hints = {_normal(h) for h in blocks}
            cell.source = student_source(cell.source, cell_name=f"{path.name} cell {index + 1}", first=number,
                                         drop_hints={h for h in hints if folded or h in shown})
            folded = False
            number += len(blocks)
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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def update_learner_copy(out_dir: Path | str | None = None, notebooks_dir: Path | str | None = None) -> list[str]:
    """Bring the learner's own folder (default ``<repo>/my-notebooks``) up to date; overwrite nothing in it.

    * A notebook the folder lacks is added (the student edition).
    * A notebook the folder has is never written. When the course's student
      edition of it has changed since the folder last received it (recorded, by
      SHA-256, in ``.course-editions.json``), the new version is written beside it
      as ``NN_name.new.ipynb`` and one line says so; the learner merges by hand.
    * Notebooks the course no longer has are left where they are.

    Returns one line per notebook added or offered (an empty list when nothing is news).
    """
    src = Path(notebooks_dir) if notebooks_dir else repo_root() / "notebooks"
    dst = Path(out_dir) if out_dir else repo_root() / LEARNER_DIR
    if dst.resolve() == src.resolve():
        raise ValueError(f"out_dir must differ from the notebooks folder ({src}); it would overwrite the solutions.")
    sources = sorted(src.glob(NOTEBOOK_GLOB))
    if not sources:
        raise ValueError(f"no notebooks ({NOTEBOOK_GLOB}) in {src}.")
    texts = {path.name: nbformat.writes(make_student_notebook(path)) + "\n" for path in sources}
    dst.mkdir(parents=True, exist_ok=True)
    manifest_path = dst / MANIFEST
    try:
        given = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        given = {}
    lines = []
    for name, text in texts.items():
        target, digest = dst / name, _digest(text)
        if not target.exists():
            target.write_text(text, encoding="utf-8")
            lines.append(f"added {target}")
        elif given.get(name) != digest and _digest(target.read_text(encoding="utf-8")) != digest:
            offered = target.with_name(name[: -len(".ipynb")] + NEW_SUFFIX)
            offered.write_text(text, encoding="utf-8")
            lines.append(f"{target}: the course changed this notebook; yours is untouched and the new version "
                         f"is beside it as {offered.name}")
        given[name] = digest
    manifest_path.write_text(json.dumps(given, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return lines


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


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True,
                            env=env, check=False)
    if result.returncode != 0:
        raise ValueError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def commit_student_branch(repo: Path | str | None = None, branch: str = "student", source: str = "HEAD") -> str | None:
    """Commit the student edition of ``source`` to ``branch``; return the new commit, or None if unchanged.

    The branch's tree is ``source``'s tree with every ``notebooks/NN_*.ipynb`` replaced by its student
    edition, so a hub's nbgitpuller link (``tools.publish``'s ``jupyterhub_url``) clones a course whose
    ``notebooks/`` hold stubs, not solutions. The commit's parents are the branch's old tip (so pushing it
    is a fast-forward, and nbgitpuller can merge it into learners' clones, keeping their edits) and
    ``source`` (so ``git log student`` shows which course it was made from). Nothing in the working tree,
    the index or the current branch changes: the tree is written through a temporary index.
    """
    repo = Path(repo) if repo else repo_root()
    commit = _git(repo, "rev-parse", "--verify", f"{source}^{{commit}}")
    old = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
                         capture_output=True, text=True, check=False).stdout.strip() or None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _git(repo, "archive", "--output", str(tmp / "src.tar"), commit, "notebooks")
        subprocess.run(["tar", "-xf", str(tmp / "src.tar"), "-C", str(tmp)], check=True)
        env = {**os.environ, "GIT_INDEX_FILE": str(tmp / "index")}
        _git(repo, "read-tree", commit, env=env)
        for path in sorted((tmp / "notebooks").glob(NOTEBOOK_GLOB)):
            text = nbformat.writes(make_student_notebook(path)) + "\n"
            blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text)
            _git(repo, "update-index", "--cacheinfo", f"100644,{blob},notebooks/{path.name}", env=env)
        tree = _git(repo, "write-tree", env=env)
    if old and _git(repo, "rev-parse", f"{old}^{{tree}}") == tree:
        return None
    parents = [arg for parent in (old, commit) if parent for arg in ("-p", parent)]
    message = f"Student edition of {_git(repo, 'rev-parse', '--short', commit)} (python -m tools.editions branch)"
    new = _git(repo, "commit-tree", tree, *parents, "-m", message)
    _git(repo, "update-ref", f"refs/heads/{branch}", new, *([old] if old else []))
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.editions", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student edition")
    student.add_argument("out", nargs="?", default=None, help="output folder (default: student/)")
    learner = sub.add_parser("learner", help="add new notebooks to the learner's own copy; overwrite nothing")
    learner.add_argument("out", nargs="?", default=None, help=f"the learner's folder (default: {LEARNER_DIR}/)")
    branch = sub.add_parser("branch", help="commit the student edition to the branch hub links pull")
    branch.add_argument("name", nargs="?", default="student", help="the branch (default: student)")
    branch.add_argument("--source", default="HEAD", help="the course to make it from (default: HEAD)")
    check = sub.add_parser("check", help="check every notebook's exercises follow the rules")
    check.add_argument("notebooks", nargs="*", help="notebooks (default: all in notebooks/)")
    args = parser.parse_args(argv)
    if args.command == "check":
        paths = [Path(p) for p in args.notebooks] or sorted((repo_root() / "notebooks").glob(NOTEBOOK_GLOB))
        problems = [p for path in paths for p in check_notebook(path)]
        print("\n".join(problems) if problems else f"editions: {len(paths)} notebooks, exercises in order.")
        return 1 if problems else 0
    if args.command == "branch":
        try:
            new = commit_student_branch(branch=args.name, source=args.source)
        except ValueError as err:
            print(f"editions: {err}", file=sys.stderr)
            return 1
        print(f"editions: branch {args.name} " + (f"is now {new[:12]}, the student edition of {args.source}; "
              f"publish it with: git push origin {args.name}" if new else "already holds this student edition."))
        return 0
    if args.command == "learner":
        try:
            lines = update_learner_copy(args.out)
        except ValueError as err:
            print(f"editions: {err}", file=sys.stderr)
            return 1
        print("\n".join(lines) if lines else f"editions: {args.out or LEARNER_DIR}/ is up to date.")
        return 0
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
