"""The course's publish address, in one place: pyproject.toml.

``[project.urls] Repository`` names the GitHub repository, ``[tool.course.publish]``
the branch and the BinderHub, Colab and JupyterHub to launch on. Everything that
links to where the course lives is generated from these:

* the badges between ``<!-- publish:badges:start -->`` and ``<!-- publish:badges:end -->``
  in README.md;
* the ``repository:`` and ``launch_buttons:`` block of the book's ``_config.yml``
  (between ``# publish:start`` and ``# publish:end``), from which Jupyter Book
  draws each page's Binder, Colab and JupyterHub buttons.

``python -m tools.publish`` rewrites both; ``python -m tools.publish --check`` exits 1
when either differs from what pyproject.toml says (tests/test_publish.py runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
BADGES = ("<!-- publish:badges:start -->", "<!-- publish:badges:end -->")
CONFIG = ("# publish:start", "# publish:end")
# The notebook the README's badges open: the tour, in the instructor edition (Colab, from GitHub) ...
FIRST_NOTEBOOK = "notebooks/00_setup_and_tour.ipynb"
# ... and in the learner's own copy, my-notebooks/ (the student edition): Binder's postBuild creates it,
# and on a hub the branch [tool.course.publish] student_branch carries it (docs/instructors.md).
LEARNER_NOTEBOOK = "my-notebooks/00_setup_and_tour.ipynb"
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
    student_branch: str = "student"  # the branch with the student edition in my-notebooks/ (hub links)

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

    def jupyterhub_url(self, path: str = LEARNER_NOTEBOOK, branch: str | None = None) -> str:
        """nbgitpuller link: clone (or update, keeping the learner's edits) ``branch`` (default: the student
        branch) on the hub, then open ``path`` in JupyterLab."""
        name = self.org_name.split("/")[1]
        return (f"{self.jupyterhub}/hub/user-redirect/git-pull?repo={quote(self.repository, safe='')}"
                f"&urlpath={quote(f'lab/tree/{name}/{path}', safe='')}&branch={branch or self.student_branch}")


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
    return {
        readme: _replace(readme.read_text(encoding="utf-8"), BADGES, readme_badges(p), "README.md"),
        config: _replace(config.read_text(encoding="utf-8"), CONFIG, config_block(p), "_config.yml"),
    }


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
    print(f"publish: {'rewrote ' + ', '.join(stale) if stale else 'README.md and _config.yml in step'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
