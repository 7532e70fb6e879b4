"""The executed course as a static site: ``make book`` (Jupyter Book 1).

The book is the Jupyter Book project at the repository root: ``_config.yml``
(execution, launch buttons, search) and ``_toc.yml`` (the pages: README as the
course map, the notebooks, the instructors' pages). Jupyter Book executes every
notebook from a fresh kernel in its own folder (``notebooks/``, as nbval and
JupyterLab do) and renders the site into ``_build/html``, with a table of
contents, full-text search, and Binder, Colab and JupyterHub launch buttons
on every notebook page (their address is generated from pyproject.toml by
``tools/publish.py``).

This wrapper adds what the course needs and Jupyter Book does not do itself:

* the kernels' environment: ``COURSE_PROFILE`` as given (default ``full``),
  ``MPLBACKEND`` removed (with ``Agg``, as ``make test`` sets it, ipykernel
  would not select the inline backend and plain pyplot figures would be
  missing from the pages), ``COURSE_PROGRESS=0`` (a progress bar is a live
  widget; a saved page keeps only its first frame);
* every notebook runs even after one fails, and then the build fails with one
  line per failed notebook naming the notebook, the cell and the error
  (Jupyter Book itself only warns and renders the page without outputs);
* each notebook page says in which profile and in how many seconds it ran
  (``tools/course_book.py``), and ``book.json`` in the site records it;
* the finished site is checked (:func:`check_site`): every internal link resolves, every figure a
  notebook drew is an image on its page, and every notebook page has its Binder, Colab and JupyterHub
  buttons; ``make book`` fails with one line per problem.

``python -m tools.book [--path ROOT] [--out FOLDER]``; ``make book`` calls it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parent.parent
MANIFEST = "book.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RULE = "------------------"


class BookError(RuntimeError):
    """The book could not be built: a notebook failed, or Jupyter Book did."""


def kernel_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment Jupyter Book and its kernels run with."""
    env = dict(os.environ if base is None else base)
    env.pop("MPLBACKEND", None)
    env["COURSE_PROGRESS"] = "0"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONHASHSEED", "0")
    # The course's own modules, from this tree, also in a kernel started elsewhere.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    first = lines[0] if lines else source.strip()
    return first if len(first) <= 80 else first[:77] + "..."


def describe_failure(source_path: Path, report: str, name: str | None = None) -> str:
    """One line for a failed notebook: which notebook, which cell, which error (from myst-nb's report)."""
    text = _ANSI.sub("", report)
    where = "before the first cell ran (kernel start?)"
    parts = text.split(_RULE)
    if len(parts) >= 3:  # nbclient's CellExecutionError: the cell's source between two rules
        cell_source = parts[1].strip("\n")
        where = f"the cell `{_first_line(cell_source)}`"
        try:
            import nbformat

            nb = nbformat.read(source_path, as_version=4)
            index = next(i for i, c in enumerate(nb.cells) if c.source.strip() == cell_source.strip())
            where = f"cell {index + 1} of {len(nb.cells)} (`{_first_line(cell_source)}`)"
        except (OSError, StopIteration, ValueError):
            pass
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line)]
    summary = errors[-1] if errors else (lines[-1] if lines else "unknown error")
    return f"{name or source_path.name}, {where}: {summary}"


class _Links(HTMLParser):
    """Every ``href``/``src`` of a page's links, images and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("href", "src"):
            if attrs.get(name) and tag in ("a", "link", "img", "script"):
                self.links.append(attrs[name])


# What a notebook cell shows when a figure was drawn but not rendered (a non-inline backend, e.g. Agg).
_UNRENDERED = re.compile(r"^<Figure size [^>]*>$")


def check_site(html: Path | str) -> list[str]:
    """Problems of the built site in ``html`` (``_build/html``): one line each; ``[]`` when there are none.

    * an internal link or image (``href``/``src`` without a scheme) that points at no file;
    * a notebook page with fewer images than its executed notebook has figure outputs, a figure whose
      image file is missing or empty, or a cell that printed ``<Figure size ...>`` (drawn, not rendered);
    * a notebook page without its Binder, Colab or JupyterHub launch button (addresses from
      ``tools.publish``).
    """
    from tools.publish import publish

    html = Path(html)
    problems: list[str] = []
    for page in sorted(p for p in html.rglob("*.html") if "_static" not in p.parts):
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue  # external, or an anchor on the same page
            if not (page.parent / unquote(parts.path)).resolve().exists():
                problems.append(f"{page.relative_to(html)}: link to nothing: {link}")
    p = publish()
    executed_dir = html.parent / "jupyter_execute"
    for executed in sorted(executed_dir.rglob("*.ipynb")):
        rel = executed.relative_to(executed_dir)
        page = html / rel.with_suffix(".html")
        if not page.exists():
            problems.append(f"{rel}: executed, but no page {page.relative_to(html)}")
            continue
        nb = json.loads(executed.read_text(encoding="utf-8"))
        figures = 0
        for index, cell in enumerate(nb["cells"]):
            for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
                data = output.get("data", {})
                figures += "image/png" in data or "image/svg+xml" in data
                text = "".join(data.get("text/plain", "")) if "image/png" not in data else ""
                if _UNRENDERED.match(text.strip()):
                    problems.append(f"{rel}: cell {index + 1} drew a figure that was not rendered ({text.strip()})")
        text = page.read_text(encoding="utf-8")
        images = re.findall(r'<img[^>]*src="([^"]*_images/[^"]+)"', text)
        if len(images) < figures:
            problems.append(f"{rel}: {figures} figures in the notebook, {len(images)} images on its page")
        for src in images:
            target = (page.parent / unquote(src)).resolve()
            if target.exists() and target.stat().st_size < 500:
                problems.append(f"{rel}: image {src} is {target.stat().st_size} bytes")
        source = rel.as_posix()
        for button, url in (("Binder", p.binder_url(source)), ("Colab", p.colab_url(source)),
                            ("JupyterHub", f"{p.jupyterhub}/hub/user-redirect/git-pull?repo=")):
            if f'href="{url}' not in text:
                problems.append(f"{rel}: no {button} launch button ({url})")
    return problems


def build(path: Path | str = REPO, output: Path | str | None = None, *, quiet: bool = False) -> dict:
    """Build the book at ``path`` into ``<output>/_build/html`` (default ``<path>/_build/html``); return book.json.

    Raises :class:`BookError` listing each failed notebook (notebook, cell, error),
    after every notebook has run.
    """
    root = Path(path).resolve()
    html = (Path(output).resolve() if output else root) / "_build" / "html"
    if html.exists():  # a clean site: a renamed notebook leaves no stale page, a failure no old report
        shutil.rmtree(html)
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        raise BookError("jupyter-book is not installed: pip install -e '.[book]' (make book does it).")
    cmd = [jb, "build", str(root), "--path-output", str(html.parent.parent), "--keep-going"]
    result = subprocess.run(cmd, env=kernel_env(), capture_output=quiet, text=True, check=False)
    manifest_path = html / MANIFEST
    if not manifest_path.exists():
        log = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise BookError(f"jupyter-book build failed (exit {result.returncode}) before writing the site.\n{log[-3000:]}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    failures = []
    for page in manifest["pages"]:
        if page["succeeded"]:
            continue
        report = (html / page["report"]).read_text(encoding="utf-8") if page["report"] else page["error"] or ""
        failures.append(describe_failure(root / page["source"], report, page["source"]))
    if failures:
        raise BookError(f"the book is not complete: {len(failures)} notebook(s) failed.\n" + "\n".join(failures))
    if result.returncode != 0:
        raise BookError(f"jupyter-book build exited with {result.returncode}; see its log above.")
    problems = check_site(html)
    if problems:
        raise BookError(f"the site has {len(problems)} problem(s):\n" + "\n".join(problems))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.book", description=__doc__.split("\n")[0])
    parser.add_argument("--path", default=str(REPO), help="the book's root, with _config.yml and _toc.yml (default: the repo)")
    parser.add_argument("--out", default=None, help="the site goes to <out>/_build/html (default: <path>)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        manifest = build(args.path, args.out)
    except BookError as err:
        print(f"book: {err}", file=sys.stderr)
        return 1
    for page in manifest["pages"]:
        print(f"book: {page['source']}: {page['seconds']:.1f} s")
    print(f"book: {len(manifest['pages'])} notebooks executed in the {manifest['profile']} profile; "
          f"site in {Path(args.out or args.path) / '_build' / 'html'}; done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
