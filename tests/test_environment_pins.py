"""pyproject.toml, environment.yml and the Binder scripts agree and parse."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# PyPI name -> conda-forge name where they differ.
CONDA_NAME = {"torch": "pytorch-cpu"}
# Developer tools for `make test` and `make lint`: Binder and conda users do not need them.
PIP_ONLY = {"pytest-xdist", "hypothesis", "ruff", "selenium"}


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([\w.]+)", req).groups()
        pins[name.lower()] = version
    return pins


def _conda_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "environment.yml").read_text().splitlines():
        match = re.fullmatch(r"\s+- ([A-Za-z0-9_.-]+)=([\w.]+)\s*", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_pyproject_dependency_is_pinned_exactly():
    pins = _pyproject_pins()
    assert {"numpy", "tensorflow-cpu", "keras", "torch", "jupyterlab", "nbval"} <= set(pins)


def test_environment_yml_pins_the_same_versions():
    pyproject, conda = _pyproject_pins(), _conda_pins()
    for name, version in pyproject.items():
        if name in PIP_ONLY:
            continue
        conda_name = CONDA_NAME.get(name, name)
        assert conda_name in conda, f"environment.yml lacks {conda_name} (pyproject pins {name}=={version})"
        assert conda[conda_name] == version, f"{conda_name}: environment.yml {conda[conda_name]} != pyproject {version}"
    assert "conda-forge" in (REPO / "environment.yml").read_text()
    assert "defaults\n" not in (REPO / "environment.yml").read_text().replace("nodefaults", "")


def test_environment_yml_parses_as_yaml():
    yaml = pytest.importorskip("yaml")
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"][0] == "conda-forge"
    assert any(str(dep).startswith("python=3.11") for dep in env["dependencies"])


@pytest.mark.parametrize("script", ["postBuild", "start", ".ci/run"])
def test_shell_scripts_parse(script):
    path = REPO / script
    assert path.stat().st_mode & 0o111, f"{script} must be executable"
    subprocess.run(["bash", "-n", str(path)], check=True)
