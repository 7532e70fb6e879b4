"""The course's JupyterLab settings, installed where JupyterLab reads its defaults.

``lab/overrides.json`` changes two defaults (a learner can still change them in
*Settings*):

* ``@jupyter-widgets/jupyterlab-manager:plugin`` ``saveState: true``: widget state
  is saved with the notebook, so a notebook reopened the next day shows its
  widgets instead of ``Error displaying widget: model not found``;
* ``@jupyterlab/apputils-extension:notification`` ``fetchNews: "false"``,
  ``checkForUpdates: false``: no "get notified about Jupyter news?" prompt over
  the first notebook, and no request to the internet for it.

``python -m tools.labsettings install`` copies the file into
``<app dir>/settings/overrides.d/weight-init-course.json`` (the app dir is
``<sys.prefix>/share/jupyter/lab`` unless ``JUPYTERLAB_DIR`` says otherwise;
``overrides.d`` keeps a user's own ``overrides.json`` untouched). ``make setup``
and Binder's ``postBuild`` run it; ``python -m tools.labsettings path`` prints
where it goes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "lab" / "overrides.json"
NAME = "weight-init-course.json"


def settings_dir() -> Path:
    """The JupyterLab application settings folder of this environment."""
    if os.environ.get("JUPYTERLAB_DIR"):
        return Path(os.environ["JUPYTERLAB_DIR"]) / "settings"
    try:
        from jupyterlab.commands import get_app_dir
    except ImportError:  # JupyterLab's own default, without importing it
        return Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    return Path(get_app_dir()) / "settings"


def install(target_dir: Path | str | None = None) -> Path:
    """Write the course's overrides into ``target_dir`` (default: :func:`settings_dir`) ``/overrides.d``."""
    overrides = json.loads(SOURCE.read_text(encoding="utf-8"))  # fails here, not in JupyterLab, if malformed
    target = Path(target_dir or settings_dir()) / "overrides.d" / NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(overrides, indent=1) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.labsettings", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["install", "path"])
    parser.add_argument("--dir", default=None, help="settings folder (default: this environment's JupyterLab)")
    args = parser.parse_args(argv)
    if args.command == "path":
        print(Path(args.dir or settings_dir()) / "overrides.d" / NAME)
        return 0
    print(f"labsettings: wrote {install(args.dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
