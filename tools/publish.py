"""The course's publish address, in one place: pyproject.toml.

``[project.urls] Repository`` names the GitHub repository, ``[tool.course.publish]``
the branch and the BinderHub, Colab and JupyterHub to launch on. Everything that
links to where the course lives is generated from these:

* the badges between ``<!-- publish:badges:start -->`` and ``<!-- publish:badges:end -->``
  in README.md;
* the ``repository:`` and ``launch_buttons:`` block of the book's ``_config.yml``
  (between ``# publish:start`` and ``# publish:end``), from which Jupyter Book
  draws each page's Binder, Colab and JupyterHub buttons;
* the course map in README.md (between ``<!-- publish:map:start -->`` and
  ``<!-- publish:map:end -->``): one row per notebook with the question it answers
  (the notebook's metadata ``course.question``), its time (the notebook's own
  ``**Time**:`` line, so the two cannot disagree) and its Colab link;
* the first code cell of every notebook, tagged ``colab-setup``: in Colab only, it
  clones the course and installs ``course_utils`` beside Colab's own frameworks;
  anywhere else it does nothing.

``python -m tools.publish`` rewrites both; ``python -m tools.publish --check`` exits 1
when either differs from what pyproject.toml says (tests/test_publish.py runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
BADGES = ("<!-- publish:badges:start -->", "<!-- publish:badges:end -->")
MAP = ("<!-- publish:map:start -->", "<!-- publish:map:end -->")
COLAB_TAG = "colab-setup"
CONFIG = ("# publish:start", "# publish:end")
# The notebook the README's badges open: the tour, in the instructor edition (Colab, from GitHub) ...
FIRST_NOTEBOOK = "notebooks/00_setup_and_tour.ipynb"
# ... and in the learner's own copy, my-notebooks/ (the student edition), which Binder's postBuild creates.
# On a hub, the branch [tool.course.publish] student_branch carries the student edition as its notebooks/
# (``python -m tools.editions branch`` makes it; docs/instructors.md).
LEARNER_NOTEBOOK = "my-notebooks/00_setup_and_tour.ipynb"
EDITIONS = ("student", "instructor")
_GITHUB = re.compile(r"https://github\.com/(?P<org>[\w.-]+)/(?P<name>[\w.-]+?)/?$")


@dataclass(frozen=True)
class Publish:
    """Where the course is published and where it can be launched."""

    repository: str  # https://github.com/<org>/<name>
    branch: str
    binderhub: str
    colab: str
    jupyterhub: str
    site: str  # the built book ([project.urls] Documentation)
    student_branch: str = "student"  # the branch whose notebooks/ is the student edition (hub links)

    @property
    def org_name(self) -> str:
        """``<org>/<name>`` of the GitHub repository."""
        match = _GITHUB.match(self.repository)
        if not match:
            raise ValueError(f"[project.urls] Repository must be https://github.com/<org>/<name>; got {self.repository!r}.")
        return f"{match['org']}/{match['name']}"

    def binder_url(self, path: str = LEARNER_NOTEBOOK) -> str:
        """Binder link that opens JupyterLab at ``path`` (repository-relative)."""
        return f"{self.binderhub}/v2/gh/{self.org_name}/{self.branch}?urlpath=lab/tree/{path}"

    def colab_url(self, path: str = FIRST_NOTEBOOK) -> str:
        """Colab link that opens the notebook at ``path`` from GitHub."""
        return f"{self.colab}/github/{self.org_name}/blob/{self.branch}/{path}"

    def jupyterhub_url(self, path: str = FIRST_NOTEBOOK, edition: str = "student") -> str:
        """nbgitpuller link: clone (or update, keeping the learner's edits) one edition on the hub, then
        open ``path`` in JupyterLab.

        The student edition is the branch ``student_branch`` (its ``notebooks/`` hold the stubs), the
        instructor edition ``branch``. Each clones into its own folder (``targetpath``: ``<name>-student``
        or ``<name>``), so the two never share a clone and the link's ``urlpath`` names the real folder
        (nbgitpuller's default would be the repository URL's last part, ``<name>.git`` for a ``.git`` URL).
        """
        if edition not in EDITIONS:
            raise ValueError(f"edition must be one of {EDITIONS}; got {edition!r}.")
        name = self.org_name.split("/")[1]
        target, branch = (f"{name}-student", self.student_branch) if edition == "student" else (name, self.branch)
        return (f"{self.jupyterhub}/hub/user-redirect/git-pull?repo={quote(self.repository, safe='')}"
                f"&branch={branch}&targetpath={target}&urlpath={quote(f'lab/tree/{target}/{path}', safe='')}")


def publish(pyproject: Path | str | None = None) -> Publish:
    """The publish address as pyproject.toml gives it."""
    data = tomllib.loads(Path(pyproject or REPO / "pyproject.toml").read_text(encoding="utf-8"))
    urls, conf = data["project"]["urls"], data["tool"]["course"]["publish"]
    strip = {key: str(value).rstrip("/") for key, value in conf.items()}
    return Publish(repository=urls["Repository"].rstrip("/"), site=urls["Documentation"].rstrip("/"),
                   branch=strip["branch"], binderhub=strip["binderhub"], colab=strip["colab"],
                   jupyterhub=strip["jupyterhub"], student_branch=strip.get("student_branch", "student"))


def readme_badges(p: Publish) -> str:
    """README's badge line: Binder, Colab, the book and the repository."""
    return " ".join([
        f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({p.binder_url()})",
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({p.colab_url()})",
        f"[![The book](https://img.shields.io/badge/book-executed%20course-blue)]({p.site})",
    ])


def config_block(p: Publish) -> str:
    """The ``repository:`` and ``launch_buttons:`` sections of ``_config.yml``."""
    return "\n".join([
        "repository:",
        f"  url: {p.repository}",
        f"  branch: {p.branch}",
        '  path_to_book: ""',
        "launch_buttons:",
        "  notebook_interface: jupyterlab",
        f"  binderhub_url: {p.binderhub}",
        f"  colab_url: {p.colab}",
        f"  jupyterhub_url: {p.jupyterhub}",
    ])


def _notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _time(cell_source: str, where: str) -> str:
    match = re.search(r"\*\*Time\*\*: about (\d+) minutes", cell_source)
    if not match:
        raise ValueError(f"{where}: its first cell needs a '**Time**: about N minutes' line.")
    return f"{match[1]} min"


def course_map(p: Publish, root: Path = REPO) -> str:
    """README's course map: number, title, the question the notebook answers, time, Colab link."""
    rows = ["| # | notebook | the question it answers | time | |", "| --- | --- | --- | --- | --- |"]
    for path in _notebooks(root):
        nb = json.loads(path.read_text(encoding="utf-8"))
        first = "".join(nb["cells"][0]["source"])
        title = first.splitlines()[0].lstrip("# ").split(" · ", 1)[-1]
        question = nb["metadata"].get("course", {}).get("question")
        if not question:
            raise ValueError(f"{path.name}: its metadata needs course.question (the one question it answers).")
        rel = path.relative_to(root).as_posix()
        rows.append(f"| {path.name[:2]} | [{title}]({rel}) | {question} | {_time(first, path.name)} | "
                    f"[Colab]({p.colab_url(rel)}) |")
    return "\n".join(rows)


def colab_cell_source(p: Publish) -> str:
    """The guarded first code cell: does something only inside Google Colab."""
    folder = "/content/" + p.org_name.split("/")[1]
    return "\n".join([
        "# Colab only (does nothing in JupyterLab, Binder, a hub or the tests): fetch the course and install its",
        "# helper package beside Colab's own TensorFlow and PyTorch, whose versions may differ from the tested ones.",
        "import os, subprocess, sys",
        "",
        'if "google.colab" in sys.modules and not os.path.isdir("' + folder + '"):',
        f'    subprocess.run(["git", "clone", "--depth", "1", "--branch", "{p.branch}", "{p.repository}", "{folder}"], check=True)',
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", "' + folder + '"], check=True)',
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pooch", "mlxtend"], check=True)',
        'if "google.colab" in sys.modules:',
        '    sys.path.insert(0, "' + folder + '")',
        '    os.chdir("' + folder + '/notebooks")',
    ])


def notebook_with_colab_cell(text: str, p: Publish) -> str:
    """A notebook's JSON with its ``colab-setup`` cell present (after the title) and up to date."""
    nb = json.loads(text)
    source = colab_cell_source(p)
    cells = [c for c in nb["cells"] if COLAB_TAG in c.get("metadata", {}).get("tags", [])]
    if cells:
        cells[0]["source"] = source.splitlines(keepends=True)
    else:
        cell = {"cell_type": "code", "execution_count": None, "id": "colab-setup",
                "metadata": {"jupyter": {"source_hidden": True}, "tags": [COLAB_TAG, "hide-input"]},
                "outputs": [], "source": source.splitlines(keepends=True)}
        nb["cells"].insert(1, cell)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _replace(text: str, markers: tuple[str, str], body: str, where: str) -> str:
    start, end = markers
    if text.count(start) != 1 or text.count(end) != 1:
        raise ValueError(f"{where}: expected one '{start}' and one '{end}' line.")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(root: Path = REPO) -> dict[Path, str]:
    """The files whose publish blocks are generated, with the text they should have."""
    p = publish(root / "pyproject.toml")
    readme, config = root / "README.md", root / "_config.yml"
    text = _replace(readme.read_text(encoding="utf-8"), BADGES, readme_badges(p), "README.md")
    out = {
        readme: _replace(text, MAP, course_map(p, root), "README.md"),
        config: _replace(config.read_text(encoding="utf-8"), CONFIG, config_block(p), "_config.yml"),
    }
    for path in _notebooks(root):
        out[path] = notebook_with_colab_cell(path.read_text(encoding="utf-8"), p)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.publish", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from pyproject.toml")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        if path.read_text(encoding="utf-8") != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"publish: {', '.join(stale)} out of step with pyproject.toml; run `python -m tools.publish`.",
              file=sys.stderr)
        return 1
    print(f"publish: {'rewrote ' + ', '.join(stale) if stale else 'README.md, _config.yml and the notebooks in step'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
