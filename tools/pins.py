"""requirements.txt, generated from pyproject.toml's pins: one source of truth for the versions.

pyproject.toml pins every runtime dependency of ``course_utils`` exactly; ``make test``
installs those pins and tests them. requirements.txt is the same set for Binder
(repo2docker installs it with pip, Python from runtime.txt, then runs postBuild)
and for pip users, plus one line: PyTorch's CPU index, from which pip on Linux
takes ``torch==2.13.0+cpu`` (a local version, which ``torch==2.13.0`` matches and
pip prefers) instead of PyPI's CUDA build of several GB. conda users get the same
pins through ``conda/environment.yml``, whose pip section reads this file.

``python -m tools.pins`` writes it; ``python -m tools.pins --check`` exits 1 when it
differs from what pyproject.toml says (tests/test_environment_pins.py runs the check).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)==(?P<version>[\w.+!-]+)$")

HEADER = f"""\
# Generated from pyproject.toml by `python -m tools.pins`: edit the pins there, then rerun it
# (tests/test_environment_pins.py fails when this file drifts). The versions `make test` tests.
# Binder builds from this file (with runtime.txt, then postBuild installs course_utils itself);
# pip users: pip install -r requirements.txt && pip install --no-deps -e .
# PyTorch's CPU index: on Linux pip takes torch 2.13.0+cpu from it instead of PyPI's CUDA build.
--extra-index-url {CPU_INDEX}
"""


def runtime_pins(pyproject: Path | str | None = None) -> list[str]:
    """The runtime dependencies of course_utils as pyproject.toml pins them (``name==version``, in its order)."""
    project = tomllib.loads(Path(pyproject or REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = []
    for requirement in project["dependencies"]:
        if not _PIN.match(requirement.strip()):
            raise ValueError(f"pyproject.toml: {requirement!r} is not pinned exactly (name==version).")
        pins.append(requirement.strip())
    return pins


def render(pyproject: Path | str | None = None) -> str:
    """The text of requirements.txt."""
    return HEADER + "".join(f"{pin}\n" for pin in runtime_pins(pyproject))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pins", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if requirements.txt differs from pyproject.toml")
    parser.add_argument("--out", default=str(REPO / "requirements.txt"), help="default: <repo>/requirements.txt")
    args = parser.parse_args(argv)
    out, text = Path(args.out), render()
    current = out.read_text(encoding="utf-8") if out.exists() else ""
    if args.check:
        if current != text:
            print(f"pins: {out.name} is out of step with pyproject.toml; run `python -m tools.pins`.", file=sys.stderr)
            return 1
        print(f"pins: {out.name} matches pyproject.toml.")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"pins: wrote {out} ({len(runtime_pins())} pins).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
