"""The publish address lives in pyproject.toml; every badge and launch link is built from it (tools/publish.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import publish

REPO = Path(__file__).resolve().parent.parent
# Links that name where the course is published or launched.
_LAUNCH = re.compile(r"https://(?:mybinder\.org|colab\.research\.google\.com|github\.com|[\w.-]*hub[\w.-]*|"
                     r"[\w.-]+\.github\.io)/[^\s)\"'>\]]*")
# Files a reader sees these links in (notebooks are read, never written, here).
FILES = ["README.md", "_config.yml", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")),
         *sorted(str(p.relative_to(REPO)) for p in (REPO / "notebooks").glob("*.ipynb"))]
# github.com links that are not the course's own (papers' code, frameworks' sources, issues cited).
FOREIGN = re.compile(r"https://github\.com/(?!weight-init-course/)")


def test_generated_files_are_in_step():
    result = subprocess.run([sys.executable, "-m", "tools.publish", "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    p = publish.publish()
    readme = (REPO / "README.md").read_text()
    assert f"{publish.BADGES[0]}\n{publish.readme_badges(p)}\n{publish.BADGES[1]}" in readme
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"] == {"url": p.repository, "branch": p.branch, "path_to_book": ""}
    assert config["launch_buttons"]["binderhub_url"] == p.binderhub
    assert config["launch_buttons"]["colab_url"] == p.colab
    assert config["launch_buttons"]["jupyterhub_url"] == p.jupyterhub


def test_every_badge_and_launch_link_is_built_from_the_address():
    p = publish.publish()
    bases = (p.repository, p.site, f"{p.binderhub}/v2/gh/{p.org_name}/{p.branch}?",
             f"{p.colab}/github/{p.org_name}/blob/{p.branch}/", f"{p.jupyterhub}/hub/user-redirect/git-pull?",
             "https://mybinder.org/badge_logo.svg", "https://colab.research.google.com/assets/colab-badge.svg")
    stray = []
    for name in FILES:
        for url in _LAUNCH.findall((REPO / name).read_text(encoding="utf-8")):
            if FOREIGN.match(url) and "weight-init" not in url:
                continue
            if not url.startswith(bases):
                stray.append(f"{name}: {url}")
    assert not stray, "links not built from pyproject.toml's publish address:\n" + "\n".join(stray)


def test_changing_the_address_changes_every_generated_link(tmp_path):
    for name in ("pyproject.toml", "README.md", "_config.yml"):
        shutil.copy(REPO / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("weight-init-course/weight-init-course", "someone/fork")
                         .replace('branch = "main"', 'branch = "spring"'))
    rendered = {path.name: text for path, text in publish.render(tmp_path).items()}
    assert "weight-init-course/weight-init-course" not in rendered["_config.yml"]
    assert "https://github.com/someone/fork\n  branch: spring" in rendered["_config.yml"]
    badges = rendered["README.md"].split(publish.BADGES[0])[1].split(publish.BADGES[1])[0]
    assert "mybinder.org/v2/gh/someone/fork/spring?" in badges and "/github/someone/fork/blob/spring/" in badges
    assert "weight-init-course/weight-init-course" not in badges


def test_jupyterhub_links_clone_each_edition_into_its_own_folder():
    p = publish.publish()
    student = p.jupyterhub_url("notebooks/05_xavier_glorot.ipynb")
    instructor = p.jupyterhub_url("notebooks/05_xavier_glorot.ipynb", edition="instructor")
    for url in (student, instructor):
        assert "/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fweight-init-course%2Fweight-init-course&" in url
    assert f"&branch={p.student_branch}&targetpath=weight-init-course-student&" in student
    assert "urlpath=lab%2Ftree%2Fweight-init-course-student%2Fnotebooks%2F05_xavier_glorot.ipynb" in student
    assert f"&branch={p.branch}&targetpath=weight-init-course&" in instructor
    assert "urlpath=lab%2Ftree%2Fweight-init-course%2Fnotebooks%2F05_xavier_glorot.ipynb" in instructor
    with pytest.raises(ValueError, match="edition must be one of"):
        p.jupyterhub_url(edition="students")


def test_binder_and_hub_links_open_the_learners_copy():
    """Binder and the hub open my-notebooks/ (the student edition), never notebooks/ (the solutions)."""
    p = publish.publish()
    assert p.binder_url().endswith("?urlpath=lab/tree/my-notebooks/00_setup_and_tour.ipynb")
    assert p.binder_url() in (REPO / "README.md").read_text()
    # Binder's build creates the folder the link opens.
    assert "python -m tools.editions learner my-notebooks" in (REPO / "postBuild").read_text()
    # The hub's link pulls the student branch, whose notebooks/ is the student edition (tools.editions branch).
    hub = p.jupyterhub_url()
    assert f"&branch={p.student_branch}&" in hub and p.student_branch != p.branch
    assert "urlpath=lab%2Ftree%2Fweight-init-course-student%2Fnotebooks%2F00_setup_and_tour.ipynb" in hub
