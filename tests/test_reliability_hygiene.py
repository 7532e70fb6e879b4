"""Notebook hygiene, statically: no absolute paths and no changes of working directory.

A notebook must run top to bottom from a fresh kernel started in ``notebooks/``
(nbval, JupyterLab, ``make book``'s Jupyter Book) or elsewhere (``bench/memcheck.py --cwd root``).
Absolute paths tie it to one machine; ``%cd``/``os.chdir`` make the second
half depend on where the first half left the kernel. Paths belong to
``course_utils.config`` (``repo_root()``, ``data_dir()``, ``cache_dir()``).
This test only reads the JSON, so it is cheap; the runs themselves are
``make book`` (from the root) and ``make notebooks`` (from notebooks/).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Machine-specific prefixes: this VM's checkout and home folders, and a Windows drive.
# The Windows pattern names common top folders so LaTeX such as "w:\\sigma" in Markdown is not flagged.
ABSOLUTE = re.compile(
    r"(?<![\w.~])/(?:work|root|home|Users)/|(?<![\w])[A-Za-z]:\\{1,2}(?:Users|Documents|Windows|Program|work|data|temp)",
    re.I,
)
CHDIR = re.compile(r"^\s*[%!]cd\b|os\.chdir\s*\(|\bchdir\s*\(|%pushd|%popd", re.M)


def _cells(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb.get("cells", [])):
        if "colab-setup" in cell.get("metadata", {}).get("tags", []):
            continue  # tools.publish's Colab cell: it runs only inside Colab, where /content is the course's home
        source = cell.get("source", "")
        yield index, cell.get("cell_type"), "".join(source) if isinstance(source, list) else source


def _problems(path: Path) -> list[str]:
    out = []
    for index, kind, source in _cells(path):
        for match in ABSOLUTE.finditer(source):
            out.append(f"cell {index} ({kind}): absolute path {source[match.start():match.start() + 40]!r}")
        if kind == "code":
            for match in CHDIR.finditer(source):
                out.append(f"cell {index}: changes directory: {match.group(0).strip()!r}")
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_absolute_paths_or_chdir(path):
    problems = _problems(path)
    assert not problems, f"{path.name} depends on where it runs:\n" + "\n".join(problems) + (
        "\nUse course_utils.config.repo_root() / data_dir() / cache_dir() or a path relative to them."
    )


def test_the_patterns_catch_what_they_should(tmp_path):
    nb = {"cells": [
        {"cell_type": "code", "source": ["x = np.load('/work/main/data/a.npz')\n", "%cd ..\n"]},
        {"cell_type": "code", "source": "import os\nos.chdir('notebooks')\n"},
        {"cell_type": "markdown", "source": "Saved in C:\\\\Users\\\\me and /home/me/course."},
        {"cell_type": "code", "source": "p = data_dir() / 'mnist'  # /usr/share/datasets is fine\nx = a / 2\n"},
    ]}
    path = tmp_path / "00_x.ipynb"
    path.write_text(json.dumps(nb))
    problems = _problems(path)
    assert [p.split(":")[0] for p in problems] == ["cell 0 (code)", "cell 0", "cell 1", "cell 2 (markdown)",
                                                    "cell 2 (markdown)"], problems


def test_book_and_nbval_run_notebooks_in_their_folder():
    """Where the course is executed from, as docs/reliability.md states."""
    import inspect

    import nbval.plugin
    import yaml

    from course_utils import config

    # Jupyter Book (myst-nb) runs each notebook in its own folder unless run_in_temp is set.
    assert yaml.safe_load((REPO / "_config.yml").read_text())["execute"]["run_in_temp"] is False
    assert config.repo_root() == REPO
    assert "cwd=str(self.fspath.dirname)" in inspect.getsource(nbval.plugin)
