"""Sphinx extension of the book (loaded by Jupyter Book from _config.yml's ``local_extensions``).

What the course needs beyond Jupyter Book:

* the profile the notebooks ran in, as the MyST substitution ``{{ course_profile }}``;
* on each executed page, a line saying in which profile and how long the notebook ran;
* ``book.json`` in the site: per executed page its run time, whether it succeeded, and the
  traceback file of a failure, which ``tools/book.py`` reads to fail the build with a clear message.

It is imported by Sphinx as the top-level module ``course_book`` (Jupyter Book puts ``tools/`` on sys.path).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "book.json"


def _profile() -> str:
    try:
        from course_utils.config import profile
    except ImportError:  # a book built without the course installed: read the variable as config does
        return os.environ.get("COURSE_PROFILE", "full") or "full"
    return profile()


def _exec_data(app: Any) -> dict[str, dict]:
    metadata = getattr(app.env, "nb_metadata", {}) or {}
    return {doc: data["exec_data"] for doc, data in metadata.items() if data.get("exec_data")}


def _config_inited(app: Any, config: Any) -> None:
    substitutions = dict(getattr(config, "myst_substitutions", {}) or {})
    substitutions.setdefault("course_profile", _profile())
    config.myst_substitutions = substitutions


def _page_context(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    data = _exec_data(app).get(pagename)
    if not data or "body" not in context:
        return
    status = "ran" if data.get("succeeded") else "FAILED"
    seconds = data.get("runtime") or 0.0
    note = (f'<p class="course-exec-time">This page {status}: executed from a fresh kernel in the '
            f"<strong>{html.escape(_profile())}</strong> profile in {seconds:.0f} s when the site was built.</p>")
    context["body"] = note + context["body"]


def _build_finished(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    pages = []
    for doc, data in sorted(_exec_data(app).items()):
        report = outdir / "reports" / f"{doc}.err.log"
        pages.append({
            "docname": doc,
            "source": Path(app.env.doc2path(doc, False)).as_posix(),
            "seconds": round(data.get("runtime") or 0.0, 1),
            "succeeded": bool(data.get("succeeded")),
            "error": data.get("error"),
            "report": report.relative_to(outdir).as_posix() if report.exists() else None,
        })
    manifest = {"profile": _profile(), "pages": pages}
    (outdir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _config_inited)
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
