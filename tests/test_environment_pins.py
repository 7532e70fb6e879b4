"""The pins have one source, pyproject.toml; what Binder and conda users install is generated from it and resolves.

* requirements.txt is exactly what ``python -m tools.pins`` writes from pyproject.toml;
* runtime.txt gives Binder the Python that is tested; no root environment.yml (repo2docker
  would take it over requirements.txt and build with conda); conda/environment.yml installs
  requirements.txt with pip;
* a real ``pip install --dry-run`` of requirements.txt resolves, with the indexes this machine
  has (PyPI; the PyTorch CPU index where it is reachable, else a skip that says so).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml

from tools import pins

REPO = Path(__file__).resolve().parent.parent
PYPI = "https://pypi.org/simple/"
# Seconds for a dry-run resolution of ~140 packages (metadata only, PEP 658).
RESOLVE_TIMEOUT = 600


def _reachable(url: str, timeout: float = 5) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URLs
            return response.status == 200
    except OSError:
        return False


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for extra in project["optional-dependencies"].values():
        for req in extra:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.+]+|course-utils\[\w+\]", req), f"not pinned: {req}"
    names = {p.split("==")[0] for p in pins.runtime_pins()}
    assert {"numpy", "tensorflow-cpu", "keras", "torch", "jupyterlab"} <= names
    # The build tools' dependencies are not the package's.
    assert not names & {"nbformat", "nbclient", "nbconvert", "jupyter-book"}


def test_requirements_txt_is_generated_from_pyproject():
    text = (REPO / "requirements.txt").read_text()
    assert text == pins.render(), "requirements.txt drifted from pyproject.toml: run `python -m tools.pins`"
    assert f"--extra-index-url {pins.CPU_INDEX}\n" in text
    result = subprocess.run([sys.executable, "-m", "tools.pins", "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_binder_builds_with_pip_from_requirements():
    assert (REPO / "runtime.txt").read_text().strip() == "python-3.11"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert ">=3.11" in project["requires-python"]
    for name in ("environment.yml", "environment.yaml", "binder", ".binder", "Pipfile"):
        assert not (REPO / name).exists(), f"{name} at the root would change what Binder builds from"
    assert "pip install --no-deps -e ." in (REPO / "postBuild").read_text()


def test_conda_environment_installs_the_same_pins():
    env = yaml.safe_load((REPO / "conda" / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert conda == ["python=3.11", "pip"], "conda-forge gives Python and pip; every package comes from the pins"
    assert pip == ["-r ../requirements.txt"] and (REPO / "conda" / "../requirements.txt").resolve().exists()


@pytest.mark.parametrize("script", ["postBuild", "start", ".ci/run"])
def test_shell_scripts_parse(script):
    path = REPO / script
    assert path.stat().st_mode & 0o111, f"{script} must be executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


def _dry_run(args: list[str], tmp_path: Path) -> dict[str, str]:
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--disable-pip-version-check", "--report", str(report), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT)
    assert result.returncode == 0, f"pip could not resolve: {' '.join(args)}\n{result.stderr[-3000:]}"
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
            for i in json.loads(report.read_text())["install"]}


@pytest.mark.slow
def test_requirements_resolve_with_pip(tmp_path):
    """Every pin of requirements.txt resolves together (PyPI, and whatever indexes pip is configured with).

    The PyTorch CPU index line is left out here (the next test tries that index): where it is
    unreachable pip would retry it for minutes. torch==2.13.0 then comes from PyPI or a local wheel.
    """
    if not _reachable(PYPI + "pip/"):
        pytest.skip(f"PyPI ({PYPI}) is not reachable from here: the resolution of requirements.txt is not checked")
    lines = [line for line in (REPO / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith(("#", "--extra-index-url"))]
    (tmp_path / "requirements.txt").write_text("\n".join(lines) + "\n")
    resolved = _dry_run(["-r", str(tmp_path / "requirements.txt")], tmp_path)
    for pin in pins.runtime_pins():
        name, version = pin.split("==")
        assert resolved[name.lower()].split("+")[0] == version, f"{name}: resolved {resolved[name.lower()]}"


@pytest.mark.slow
def test_torch_cpu_build_comes_from_the_cpu_index(tmp_path):
    """With requirements.txt's index line, pip takes the CPU build of the pinned torch (what Binder gets)."""
    if not _reachable(f"{pins.CPU_INDEX}/torch/"):
        pytest.skip(f"PyTorch's CPU index ({pins.CPU_INDEX}) is not reachable from here: "
                    "that requirements.txt gives Binder torch +cpu is not checked")
    torch = next(p for p in pins.runtime_pins() if p.startswith("torch=="))
    resolved = _dry_run(["--no-deps", "--index-url", pins.CPU_INDEX, "--no-cache-dir", torch], tmp_path)
    assert resolved["torch"] == torch.split("==")[1] + "+cpu"
