"""The learner's own copy (issue 23): `make lab` opens my-notebooks/, the student edition, and nothing a
learner wrote there is ever overwritten; the course's JupyterLab settings; progress bars that leave text.

* ``test_learner_edit_survives_setup_and_course_update``: a learner edits their copy, set-up runs again, the
  course changes a notebook and adds one; the edit is intact, the change is offered beside it.
* ``test_make_lab_opens_the_learners_copy``: what ``make lab`` and ``make lab-instructor`` run (``make -n``).
* ``test_learner_copy_of_the_real_course``: the CLI on ``notebooks/``: the copy is the student edition.
* ``test_lab_settings_reach_jupyterlab`` (slow): a JupyterLab server started on the installed settings
  answers saveState true and no news.
* ``test_progress_bar_leaves_a_text_line`` (slow): in a kernel, a finished bar is a plain-text output.
* ``test_student_hints_appear_once`` (slow): per student notebook, each hint's text once in sources and
  outputs of the exercises run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tools import editions, labsettings

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob(editions.NOTEBOOK_GLOB))
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _course(folder: Path, names=("01_first", "02_second"), extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        nb = new_notebook(metadata={"kernelspec": KERNELSPEC})
        nb.cells = [
            new_markdown_cell(f"# {name}{extra}"),
            new_code_cell("def my_answer():\n    # Hint: the answer to everything.\n    ### BEGIN SOLUTION\n    return 42\n"
                          "    ### END SOLUTION", metadata={"tags": [editions.SOLUTION_TAG]}),
            new_code_cell("check_answer(my_answer)"),
        ]
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def test_learner_edit_survives_setup_and_course_update(tmp_path):
    course, mine = _course(tmp_path / "notebooks"), tmp_path / "my-notebooks"
    first = editions.update_learner_copy(mine, course)
    assert first == [f"added {mine / '01_first.ipynb'}", f"added {mine / '02_second.ipynb'}"]
    assert "    return 42" not in (mine / "01_first.ipynb").read_text(), "the learner's copy is the student edition"

    # The learner answers exercise 1 and saves.
    nb = nbformat.read(mine / "01_first.ipynb", as_version=4)
    nb.cells[1].source = "def my_answer():\n    return 41 + 1  # my own answer"
    nbformat.write(nb, mine / "01_first.ipynb")
    edited = (mine / "01_first.ipynb").read_bytes()

    # Set-up runs again (make lab, make setup, Binder's postBuild): nothing to say, nothing written.
    assert editions.update_learner_copy(mine, course) == []
    assert (mine / "01_first.ipynb").read_bytes() == edited

    # A new version of the course: notebook 01 changed, 03 added.
    _course(course, names=("01_first",), extra=" (revised)")
    _course(course, names=("03_third",))
    lines = editions.update_learner_copy(mine, course)
    assert (mine / "01_first.ipynb").read_bytes() == edited, "the learner's edit must survive a course update"
    offered = mine / "01_first.new.ipynb"
    assert "(revised)" in offered.read_text() and "(revised)" not in (mine / "01_first.ipynb").read_text()
    assert lines == [
        f"{mine / '01_first.ipynb'}: the course changed this notebook; yours is untouched and the new version "
        "is beside it as 01_first.new.ipynb",
        f"added {mine / '03_third.ipynb'}",
    ]
    assert editions.update_learner_copy(mine, course) == [], "an update is offered once, not at every start"
    assert (mine / "01_first.ipynb").read_bytes() == edited

    # Notebook 02, never edited, is left alone too; the course dropping a notebook deletes nothing of the learner's.
    (course / "02_second.ipynb").unlink()
    assert editions.update_learner_copy(mine, course) == [] and (mine / "02_second.ipynb").exists()
    with pytest.raises(ValueError, match="overwrite the solutions"):
        editions.update_learner_copy(course, course)


def _make_n(target: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.installed", target],
                            cwd=REPO, capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_make_lab_opens_the_learners_copy():
    lines = _make_n("lab")
    learner = [i for i, line in enumerate(lines) if "tools.editions learner my-notebooks" in line]
    lab = [i for i, line in enumerate(lines) if "jupyter lab" in line]
    assert learner and lab and learner[0] < lab[0], lines
    assert "my-notebooks/00_setup_and_tour.ipynb" in shlex.split(lines[lab[0]])
    assert any("tools.labsettings install" in line for line in lines[: lab[0]])
    instructor = [line for line in _make_n("lab-instructor") if "jupyter lab" in line]
    assert len(instructor) == 1 and "notebooks/00_setup_and_tour.ipynb" in shlex.split(instructor[0])
    assert "/my-notebooks/" in (REPO / ".gitignore").read_text().splitlines()
    readme = (REPO / "README.md").read_text()
    assert "make lab-instructor" in readme and "my-notebooks/" in readme


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in notebooks/ yet")
def test_learner_copy_of_the_real_course(tmp_path):
    mine = tmp_path / "my-notebooks"
    run = [sys.executable, "-m", "tools.editions", "learner", str(mine)]
    result = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("added ") == len(NOTEBOOKS)
    for path in NOTEBOOKS:
        assert (mine / path.name).read_text() == nbformat.writes(editions.make_student_notebook(path)) + "\n"
    again = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert again.returncode == 0 and again.stdout.strip() == f"editions: {mine}/ is up to date."


def test_lab_settings_file():
    overrides = json.loads(labsettings.SOURCE.read_text())
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"] == {"saveState": True}
    assert overrides["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false",
                                                                        "checkForUpdates": False}
    assert "python -m tools.labsettings install" in (REPO / "postBuild").read_text()


@pytest.mark.slow
def test_lab_settings_reach_jupyterlab(tmp_path):
    """A server whose settings folder got `labsettings install` serves saveState true and no news."""
    from test_browser import _free_port, _get, _jupyter, _lab_args, lab_server

    settings = tmp_path / "app-settings"
    installed = labsettings.install(settings)
    assert installed == settings / "overrides.d" / labsettings.NAME
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [*_jupyter(), "lab", *_lab_args(port, token), f"--LabApp.app_settings_dir={settings}"]
    env_dir = tmp_path / "server"
    env_dir.mkdir()
    with lab_server(cmd, port=port, token=token, tmp=env_dir) as base:
        for plugin, expected in [("@jupyter-widgets/jupyterlab-manager:plugin", {"saveState": True}),
                                 ("@jupyterlab/apputils-extension:notification",
                                  {"fetchNews": "false", "checkForUpdates": False})]:
            status, body = _get(f"{base}/lab/api/settings/{plugin}?token={token}")
            assert status == 200, plugin
            # The overrides are the schema's defaults, which JupyterLab's page composes with the user's settings.
            schema = json.loads(body)["schema"]["properties"]
            assert {k: schema[k]["default"] for k in expected} == expected, plugin


@pytest.mark.slow
def test_progress_bar_leaves_a_text_line(tmp_path):
    """In a kernel, a training run's bar ends as one plain-text output (no widget reference left behind)."""
    from nbclient import NotebookClient

    nb = new_notebook(metadata={"kernelspec": KERNELSPEC})
    nb.cells = [new_code_cell(
        "from course_utils.training import _Bar\n"
        "bar = _Bar(True, 12, 'keras adam')\n"
        "for _ in range(12):\n    bar.update(1)\n"
        "bar.epoch_end(3, 3, {'loss': 0.25})\nbar.close()\nprint('done')"
    )]
    env = {**os.environ, "COURSE_PROGRESS": "1", "PYTHONPATH": str(REPO)}
    NotebookClient(nb, kernel_name="python3", timeout=120).execute(env=env)
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data", "stream"], outputs
    assert list(outputs[0].data) == ["text/plain"], "the widget view must be replaced, not left beside"
    assert re.match(r"keras adam: 100%\|.+\| 12/12 \[.*epoch=3/3, loss=0\.25\]$", outputs[0].data["text/plain"])


def _normal(text: str) -> str:
    return " ".join(text.replace("`", "").split())


@pytest.mark.slow
@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in NOTEBOOKS])
def test_student_hints_appear_once(path, tmp_path):
    """Each exercise's hint text appears once in the student notebook: sources and the checkers' outputs."""
    from test_editions import exercise_run

    hints = [_normal(h) for cell in nbformat.read(path, as_version=4).cells
             if editions.SOLUTION_TAG in cell.metadata.get("tags", []) for h in editions.solution_hints(cell.source)]
    if not hints:
        pytest.skip(f"{path.name} has no exercises")
    student = tmp_path / path.name
    nbformat.write(editions.make_student_notebook(path), student)
    ran, _ = exercise_run(student)
    whole = nbformat.read(student, as_version=4)
    text = _normal(" ".join([c.source for c in whole.cells] + [
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) + str(o.get("evalue", ""))
        for c in ran.cells for o in c.get("outputs", [])]))
    counts = {hint: text.count(hint) for hint in hints}
    folded = sum(bool(editions._FOLDED.search(c.source)) for c in whole.cells if c.cell_type == "markdown")
    # Once each; a hint given only as a folded <details> block in the text (other words) leaves its comment out.
    assert all(n <= 1 for n in counts.values()), f"{path.name}: hint counts {counts}"
    assert sum(n == 0 for n in counts.values()) <= folded, f"{path.name}: a hint is nowhere: {counts}"


def test_marks_render_without_an_emoji_font():
    """The checkers' marks are text characters (not emoji-presentation, wide, ones like U+2705), and where
    fontconfig is installed a plain font (DejaVu, what JupyterLab falls back to here) has each of them."""
    import shutil
    import unicodedata

    from course_utils.exercises import MARKS

    for status, mark in MARKS.items():
        assert len(mark) == 1 and unicodedata.east_asian_width(mark) != "W", (status, mark)
    assert unicodedata.east_asian_width("\u2705") == "W"  # what the marks used to be
    if shutil.which("fc-list"):
        for mark in MARKS.values():
            fonts = subprocess.run(["fc-list", f":charset={ord(mark):x}", "family"], capture_output=True,
                                   text=True, timeout=30).stdout
            assert "DejaVu" in fonts or not subprocess.run(["fc-list", "DejaVu Sans"], capture_output=True,
                                                           text=True, timeout=30).stdout, (mark, fonts)
