"""`make student`: student edition (stubs with hints) and instructor edition (solutions).

The mechanics are tested on a synthetic notebook in tmp_path, so they mean
something before the real notebooks exist; the same checks then run over every
notebook in ``notebooks/``. That the instructor edition's solutions pass their
checkers is the nbval run's job in `make test` (COURSE_CHECK_STRICT=1); here we
only check that each exercise is followed by a checker that exists.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import course_utils.exercises
from course_utils.exercises import MARKS, NOT_DONE, STUB_MARKER
from tools import editions

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob(editions.NOTEBOOK_GLOB))
# One case per notebook, or one skipped case that says why there is nothing to check yet.
NOTEBOOK_PARAMS = [pytest.param(p, id=p.stem) for p in NOTEBOOKS] or [
    pytest.param(None, id="no-notebooks", marks=pytest.mark.skip(reason="no notebooks in notebooks/ yet"))
]
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
# Seconds one cell may take while running exercise cells (setup imports + a checker call).
CELL_TIMEOUT = 120

# Saved widget state, as JupyterLab stores it: the student edition must drop it.
WIDGET_STATE = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}}
SETUP = '''\
from course_utils import expect, pick, profile, set_seed
from course_utils.exercises import checker, close, fail, ok


@checker("He standard deviation")
def check_he_std(my_he_std):
    got, expected = my_he_std(784), (2 / 784) ** 0.5
    if not close(got, expected):
        return fail(f"your std is {got:.4g}; He gives {expected:.4g} for fan_in=784.")
    return ok()


@checker("Glorot variance")
def check_glorot_var(my_glorot_var):
    got, expected = my_glorot_var(100, 300), 2 / 400
    return ok() if close(got, expected) else fail(f"your variance is {got:.4g}; Glorot gives {expected:.4g}.")
'''
HE_HINT = "He keeps Var(w) = 2 / fan_in."
# Quotes and a backslash: the stub's message must carry them exactly.
GLOROT_HINT = r"""average the fans: "fan_avg" = (n_in + n_out) / 2, so \sigma^2 = 1 / fan_avg; it's that."""
HE_CELL = f'''\
def my_he_std(fan_in):
    """Standard deviation of He-normal weights for a layer with `fan_in` inputs."""
    # Hint: {HE_HINT}
    ### BEGIN SOLUTION
    return (2 / fan_in) ** 0.5
    ### END SOLUTION
'''
GLOROT_CELL = f'''\
def my_glorot_var(fan_in, fan_out):
    """Variance of Glorot weights."""
    # Hint: {GLOROT_HINT}
    ### BEGIN SOLUTION
    fan_avg = (fan_in + fan_out) / 2
    return 1 / fan_avg
    ### END SOLUTION
'''


def _solution(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"tags": [editions.SOLUTION_TAG]})


def _synthetic(folder: Path, name: str = "01_exercises.ipynb", cells: list | None = None) -> Path:
    nb = new_notebook(metadata={"kernelspec": KERNELSPEC, "widgets": WIDGET_STATE})
    nb.cells = cells or [
        new_markdown_cell("# 01 · Exercises\n\n**Time**: about 5 minutes"),
        new_code_cell(SETUP),
        new_code_cell("import math"),
        new_markdown_cell("## Exercise 1"),
        _solution(HE_CELL),
        new_code_cell("check_he_std(my_he_std)"),
        new_markdown_cell("## Exercise 2"),
        _solution(GLOROT_CELL),
        new_code_cell("check_glorot_var(my_glorot_var)"),
        new_code_cell("print('the rest of the notebook', math.pi)"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="old output\n")]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def _run(nb: nbformat.NotebookNode, cwd: Path, **env: str) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    kernel_env = {**os.environ, "COURSE_PROFILE": "quick", **env}
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=kernel_env)
    return nb


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"cell {i + 1}: {o.ename}: {o.evalue}"
        for i, c in enumerate(nb.cells)
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]


def _is_import_only(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: not plain imports
        return False
    return bool(tree.body) and all(isinstance(s, ast.Import | ast.ImportFrom) for s in tree.body)


def _stub_hints(cell: nbformat.NotebookNode) -> list[str | None]:
    """Per stub in ``cell`` (in order): its number's ``# Hint:`` comment left in the cell, or None when the
    hint is in the notebook's text instead. Checks each stub raises ``exercise N: see the hint above``."""
    messages = [node.exc.args[0].value for node in ast.walk(ast.parse(cell.source))
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args
                and isinstance(node.exc.args[0], ast.Constant)]
    assert messages and all(re.fullmatch(rf"{STUB_MARKER} \d+: see the hint above", m) for m in messages), messages
    left = [m.group(1).strip() for line in cell.source.splitlines() if (m := editions._HINT.search(line))]
    return [left[min(i, len(left) - 1)] if left else None for i in range(len(messages))]


def exercise_run(student_path: Path) -> tuple[nbformat.NotebookNode, list[tuple[str, int]]]:
    """Run only a student notebook's setup cell, its import-only cells, and each stub with its checker cell.

    Returns the executed mini-notebook and, per exercise, (its hint comment or None, index of its checker cell).
    """
    nb = nbformat.read(student_path, as_version=4)
    # the Colab setup cell (tools.publish) does nothing outside Colab: the setup cell is the first code cell after it
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and "colab-setup" not in c.metadata.get("tags", [])]
    keep, exercises = [], []
    for pos, i in enumerate(code):
        cell = nb.cells[i]
        if editions.EXERCISE_TAG in cell.metadata.get("tags", []):
            checker = nb.cells[code[pos + 1]]
            keep += [cell, checker]
            exercises += [(hint, len(keep) - 1) for hint in _stub_hints(cell)]
        elif pos == 0 or _is_import_only(cell.source):
            keep.append(cell)
    mini = new_notebook(metadata=nb.metadata)
    mini.cells = [nbformat.from_dict(dict(c)) for c in keep]
    return _run(mini, student_path.parent, COURSE_CHECK_STRICT="0"), exercises


def _solution_lines(source: str) -> list[str]:
    inside, lines = False, []
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def _assert_no_solution_left(instructor: Path, student: Path) -> None:
    src, out = nbformat.read(instructor, as_version=4), nbformat.read(student, as_version=4)
    assert len(src.cells) == len(out.cells)
    for i, (a, b) in enumerate(zip(src.cells, out.cells, strict=True)):
        assert not re.search(r"###\s*(BEGIN|END) SOLUTION", b.source), f"{student.name} cell {i + 1} has markers"
        if editions.SOLUTION_TAG in a.metadata.get("tags", []):
            left = set(_solution_lines(a.source)) & {line.strip() for line in b.source.splitlines()}
            assert not left, f"{student.name} cell {i + 1} still has solution code: {left}"
            assert STUB_MARKER in b.source and editions.EXERCISE_TAG in b.metadata["tags"]
        else:
            assert a.source == b.source, f"{student.name} cell {i + 1} changed but is not a solution cell"
    assert all(not c.get("outputs") for c in out.cells if c.cell_type == "code")
    assert "widgets" not in out.metadata


# ------------------------------------------------------------------ mechanics


def test_stub_keeps_signature_docstring_and_exact_hint():
    out = editions.student_source(GLOROT_CELL)
    assert out.splitlines()[:3] == GLOROT_CELL.splitlines()[:3]
    assert "fan_avg = " not in out and "return" not in out
    namespace: dict = {}
    exec(compile(out, "<stub>", "exec"), namespace)  # defining the stub must not raise
    with pytest.raises(NotImplementedError) as info:
        namespace["my_glorot_var"](1, 2)
    assert str(info.value) == "exercise 1: see the hint above"
    assert f"# Hint: {GLOROT_HINT}" in out, "with no hint in the text, the comment is the one place it lives"
    assert GLOROT_HINT not in str(info.value), "the stub's message does not repeat the hint"


def test_hint_shown_in_the_text_is_dropped_from_the_stub(tmp_path):
    """The folded hint in the markdown is the one place; the comment goes, the stubs count through the notebook."""
    folded = f"<details><summary>Hint</summary>\n\n{HE_HINT}\n</details>"
    path = _synthetic(tmp_path, cells=[
        new_code_cell(SETUP), new_markdown_cell(folded), _solution(HE_CELL), new_code_cell("check_he_std(my_he_std)"),
        _solution(GLOROT_CELL), new_code_cell("check_glorot_var(my_glorot_var)"),
    ])
    nb = editions.make_student_notebook(path)
    he, glorot = nb.cells[2].source, nb.cells[4].source
    assert "# Hint:" not in he and 'raise NotImplementedError("exercise 1: see the hint above")' in he
    assert f"# Hint: {GLOROT_HINT}" in glorot and '"exercise 2: see the hint above"' in glorot

    # A folded hint in other words also counts as the hint's one place; it covers its own exercise only.
    path = _synthetic(tmp_path, "02_folded.ipynb", cells=[
        new_code_cell(SETUP), new_markdown_cell("A nudge.\n\n<details><summary>The formula</summary>Var = 2/n</details>"),
        _solution(HE_CELL), new_code_cell("check_he_std(my_he_std)"),
        _solution(GLOROT_CELL), new_code_cell("check_glorot_var(my_glorot_var)"),
    ])
    nb = editions.make_student_notebook(path)
    assert "# Hint:" not in nb.cells[2].source and f"# Hint: {GLOROT_HINT}" in nb.cells[4].source


def test_each_block_takes_the_hint_above_it():
    source = "def f():\n    # Hint: first\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n\n\n" \
             "def g():\n    # Hint: second\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n"
    assert editions.solution_hints(source) == ["first", "second"]
    assert editions.solution_hints("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION") == [
        "see the explanation above this cell."
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    return 1\n", "has no '### BEGIN SOLUTION' block"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "without a BEGIN"),
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n", "nested"),
    ],
)
def test_malformed_blocks_are_named(source, message):
    with pytest.raises(ValueError, match=message):
        editions.student_source(source, cell_name="05_x.ipynb cell 7")


def test_check_notebook_finds_each_rule_broken(tmp_path):
    good = _synthetic(tmp_path)
    assert editions.check_notebook(good) == []
    bad = _synthetic(
        tmp_path,
        "02_bad.ipynb",
        [
            new_code_cell("x = 1"),
            _solution("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),  # no hint
            new_code_cell("check_f(f)"),
            _solution("# Hint: top level\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION"),  # raises when run
            new_code_cell("print(y)"),  # no checker
            new_code_cell("def g():\n    ### BEGIN SOLUTION\n    return 3\n    ### END SOLUTION"),  # untagged
            _solution("def h():\n    # Hint: h\n    ### BEGIN SOLUTION\n    return 4\n"),  # unclosed
        ],
    )
    problems = editions.check_notebook(bad)
    assert problems == [
        "02_bad.ipynb cell 2: no '# Hint:' line for the student stub.",
        "02_bad.ipynb cell 4: the solution block is not inside a function (the stub would raise when run).",
        "02_bad.ipynb cell 4: the next code cell does not call a checker (exercises.<topic>.check_...(...)).",
        "02_bad.ipynb cell 6: has '### BEGIN/END SOLUTION' but is not tagged 'solution'.",
        "02_bad.ipynb cell 7: '### BEGIN SOLUTION' is never closed.",
    ]
    result = subprocess.run([sys.executable, "-m", "tools.editions", "check", str(good), str(bad)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1 and result.stdout.count("02_bad.ipynb") == 5


def test_student_edition_written_without_solutions(tmp_path):
    source = _synthetic(tmp_path / "notebooks")
    before = source.read_bytes()
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "09_removed.ipynb").write_text("{}")  # from an earlier run; its source is gone
    written = editions.write_student_edition(tmp_path / "student", tmp_path / "notebooks")
    assert written == [tmp_path / "student" / "01_exercises.ipynb"]
    assert not (tmp_path / "student" / "09_removed.ipynb").exists()
    _assert_no_solution_left(source, written[0])
    assert source.read_bytes() == before, "the instructor edition must not change"
    with pytest.raises(ValueError, match="overwrite the solutions"):
        editions.write_student_edition(tmp_path / "notebooks", tmp_path / "notebooks")


@pytest.mark.slow
def test_student_exercises_say_not_done_yet_and_instructor_passes(tmp_path):
    source = _synthetic(tmp_path / "notebooks")
    student = editions.write_student_edition(tmp_path / "student", tmp_path / "notebooks")[0]
    ran, exercises = exercise_run(student)
    assert _errors(ran) == []
    assert [hint for hint, _ in exercises] == [HE_HINT, GLOROT_HINT]
    for hint, index in exercises:
        text = _text(ran.cells[index])
        assert NOT_DONE in text and hint not in text, text
    assert "the rest of the notebook" not in str(ran), "only the setup, import and exercise cells run"

    # The whole student edition runs top to bottom, and the instructor's solutions pass in strict mode.
    whole = _run(nbformat.read(student, as_version=4), student.parent, COURSE_CHECK_STRICT="0")
    assert _errors(whole) == [] and "the rest of the notebook" in _text(whole.cells[-1])
    instructor = _run(nbformat.read(source, as_version=4), source.parent, COURSE_CHECK_STRICT="1")
    assert _errors(instructor) == []
    assert f"{MARKS['passed']} He standard deviation" in _text(instructor.cells[5])


def test_make_student_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tools.editions", "student", str(tmp_path / "s")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "s").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert "instructor edition" in result.stdout


# ------------------------------------------------------------ real notebooks


def _checker_names(source: str) -> list[tuple[str | None, str]]:
    return re.findall(r"(?:\b(\w+)\.)?(check_\w+)\s*\(", source)


def _find_checker(module: str | None, name: str):
    topics = [m.name for m in pkgutil.iter_modules(course_utils.exercises.__path__)]
    candidates = [module] if module in topics else topics
    for topic in candidates:
        fn = getattr(importlib.import_module(f"course_utils.exercises.{topic}"), name, None)
        if fn is not None:
            return fn
    return None


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    editions.write_student_edition(out)
    return out


@pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
def test_real_exercises_follow_the_rules(path):
    assert editions.check_notebook(path) == []
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    solutions = [i for i, c in enumerate(code) if editions.SOLUTION_TAG in c.metadata.get("tags", [])]
    low = 0 if path.name.startswith("00_") else 2  # issue 9: 2-4 exercises per notebook (00 is the tour)
    assert low <= len(solutions) <= 4, f"{path.name} has {len(solutions)} exercises"
    for i in solutions:
        calls = _checker_names(code[i + 1].source)
        assert calls, f"{path.name}: no checker call after exercise {code[i].source.splitlines()[0]!r}"
        for module, name in calls:
            fn = _find_checker(module, name)
            assert fn is not None, f"{path.name}: checker {name} not found in course_utils.exercises"
            assert hasattr(fn, "__wrapped__"), f"{path.name}: {name} is not made with @checker"


@pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
def test_real_student_edition_has_no_solution(path, student_dir):
    _assert_no_solution_left(path, student_dir / path.name)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
def test_real_student_exercises_say_not_done_yet(path, student_dir):
    ran, exercises = exercise_run(student_dir / path.name)
    assert _errors(ran) == [], f"{path.name}: running the student stubs and their checkers raised"
    for hint, index in exercises:
        text = _text(ran.cells[index])
        assert NOT_DONE in text, f"{path.name}: checker after stub said {text!r}"
        assert not hint or " ".join(hint.split()) not in " ".join(text.split()), f"{path.name}: hint repeated"


def test_student_branch_holds_the_student_edition_and_nothing_else_changes(tmp_path, monkeypatch):
    """``tools.editions branch``: the branch hub links pull is HEAD's tree with notebooks/ as the student
    edition, made without touching the working tree, and refreshed as a fast-forward."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Course Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "course@example.org")
    repo = tmp_path / "course"
    source = _synthetic(repo / "notebooks")
    (repo / "README.md").write_text("the course\n")

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "course")
    head, status = git("rev-parse", "HEAD"), git("status", "--porcelain")

    first = editions.commit_student_branch(repo)
    assert first and git("rev-parse", "student") == first
    assert git("rev-parse", "HEAD") == head and git("status", "--porcelain") == status
    student_nb = git("show", f"student:notebooks/{source.name}")
    assert "BEGIN SOLUTION" in source.read_text() and "BEGIN SOLUTION" not in student_nb and STUB_MARKER in student_nb
    assert git("show", "student:README.md") == "the course"
    assert git("rev-parse", f"{first}^1") == head  # made from main's HEAD (no old tip yet)

    assert editions.commit_student_branch(repo) is None, "nothing new: no empty commit"

    (repo / "README.md").write_text("the course, updated\n")
    git("commit", "-q", "-am", "update")
    second = editions.commit_student_branch(repo)
    assert git("rev-parse", f"{second}^1") == first and git("rev-parse", f"{second}^2") == git("rev-parse", "HEAD")
    assert git("show", "student:README.md") == "the course, updated"
    assert git("merge-base", "--is-ancestor", first, second) == ""  # a fast-forward for the hub's clones
    with pytest.raises(ValueError, match="rev-parse"):
        editions.commit_student_branch(repo, source="no-such-commit")
