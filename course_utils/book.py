"""The executed course as a static HTML site: ``make book``.

Every notebook in ``notebooks/`` is executed from a fresh kernel with
nbclient, **with the repository root as working directory** (nbval runs them
from ``notebooks/``, so between the two every notebook is shown to run from
either place), in the profile set by ``COURSE_PROFILE``. Each becomes one
page, rendered with nbconvert's ``lab`` template, figures embedded as
``data:`` images, with a "launch on Binder" link (the README badge's URL,
``urlpath`` pointing at that notebook) and a link to download the notebook.
``index.html`` is the course map: notebook, topic, the time estimate from the
notebook's ``**Time**:`` line, and the measured compute time.

A notebook that raises fails the build with a message naming the notebook and
the cell. Output, under ``_build/`` by default::

    _build/html/index.html               course map
    _build/html/NN_name.html             one page per notebook
    _build/html/notebooks/NN_name.ipynb  the notebook as committed (no outputs), to download
    _build/html/book.json                the same map, machine-readable (times, figures)
    _build/executed/NN_name.ipynb        the executed notebooks

``python -m course_utils.book [--jobs 2] [--only 05 06] [--out _build]``;
``make book BOOK_ARGS="--jobs 2"`` calls it.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from .config import n_threads, profile, repo_root

__all__ = [
    "BookError",
    "Page",
    "find_notebooks",
    "notebook_title",
    "time_estimate",
    "readme_topics",
    "binder_base",
    "binder_url",
    "execute_notebook",
    "render_page",
    "render_index",
    "build",
]

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
# What the README badge pointed at when this was written; used only if README.md has no badge.
DEFAULT_BINDER_BASE = "https://mybinder.org/v2/gh/weight-init-course/weight-init-course/HEAD"
# Seconds one cell may run: the same limit `make test` gives nbval (--nbval-cell-timeout=600).
CELL_TIMEOUT = 600
# Output MIME types that count as a figure on a page.
FIGURE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
# Cells with this tag may raise on purpose (the nbval/nbclient convention).
RAISES_TAG = "raises-exception"

# "**Time**: about 35 minutes" (NOTEBOOKS.md), also "Time: 20-30 min"; stops at the next bold label.
_TIME = re.compile(r"\**\bTime\**\s*:\s*\**\s*(?P<text>[^\n*]+)")
_MINUTES = re.compile(r"(\d+)\s*(?:-\s*\d+\s*)?min", re.IGNORECASE)
_BINDER = re.compile(r"https://mybinder\.org/v2/[^)\s?\"']+")
_README_ROW = re.compile(r"^\|[^|]*\|\s*\[[^\]]*\]\((?:\./)?notebooks/(?P<file>[^)]+\.ipynb)\)\s*\|\s*(?P<topic>[^|]*?)\s*\|", re.M)
_NUMBER_PREFIX = re.compile(r"^\d+\s*[\u00b7.:|\u2013\u2014-]\s*")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BookError(RuntimeError):
    """The book could not be built: a notebook failed, or there was nothing to build."""


@dataclass
class Page:
    """One notebook of the course and what its page shows."""

    notebook: str  # path shown to readers and used for Binder, e.g. "notebooks/05_xavier_glorot.ipynb"
    page: str  # file name of the HTML page, e.g. "05_xavier_glorot.html"
    number: str
    title: str
    topic: str
    time: str  # the notebook's own estimate, e.g. "about 35 minutes" ("" when it has none)
    minutes: int | None
    seconds: float  # measured execution time
    figures: int  # figure outputs in the executed notebook


# --------------------------------------------------------------------- reading


def find_notebooks(notebooks_dir: Path | str | None = None) -> list[Path]:
    """The course's notebooks (``NN_name.ipynb``) in ``notebooks_dir`` (default ``<repo>/notebooks``), in order."""
    folder = Path(notebooks_dir) if notebooks_dir else repo_root() / "notebooks"
    return sorted(folder.glob(NOTEBOOK_GLOB))


def _markdown(nb: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def notebook_title(nb: nbformat.NotebookNode, default: str = "") -> str:
    """The text of the notebook's first ``# `` heading without a leading ``NN ·`` (``default`` when there is none)."""
    for line in _markdown(nb).splitlines():
        if line.startswith("# "):
            # "# 05 · Xavier / Glorot": the page shows the number in its own column already.
            return _NUMBER_PREFIX.sub("", line[2:].strip()) or default
    return default


def time_estimate(nb: nbformat.NotebookNode) -> tuple[str, int | None]:
    """The notebook's ``**Time**: about N minutes`` line as ``("about N minutes", N)``; ``("", None)`` if absent."""
    match = _TIME.search(_markdown(nb))
    if not match:
        return "", None
    text = match.group("text").strip("*_ ").rstrip(".")
    minutes = _MINUTES.search(text)
    return text, int(minutes.group(1)) if minutes else None


def readme_topics(readme: Path | str | None = None) -> dict[str, str]:
    """Notebook file name -> topic, from the README's course-map table (empty when there is none)."""
    path = Path(readme) if readme else repo_root() / "README.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    return {m.group("file"): m.group("topic") for m in _README_ROW.finditer(text)}


def binder_base(readme: Path | str | None = None) -> str:
    """The Binder URL of the README's badge without its query (``https://mybinder.org/v2/gh/<org>/<repo>/<ref>``)."""
    path = Path(readme) if readme else repo_root() / "README.md"
    try:
        match = _BINDER.search(path.read_text(encoding="utf-8"))
    except OSError:
        match = None
    return match.group(0) if match else DEFAULT_BINDER_BASE


def binder_url(notebook: str, base: str | None = None) -> str:
    """Binder link that opens JupyterLab at ``notebook`` (a repo-relative path), as the README's badge does."""
    return f"{base or binder_base()}?urlpath=lab/tree/{notebook}"


# ------------------------------------------------------------------- executing


def _kernel_env(jobs: int) -> dict[str, str]:
    env = dict(os.environ)
    # MPLBACKEND=Agg (set by tests and `make test`) would stop ipykernel from selecting the
    # inline backend, and the pages would have no figures.
    env.pop("MPLBACKEND", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # A progress bar is a live widget; a static page keeps only its first frame ("0%").
    env["COURSE_PROGRESS"] = "0"
    if jobs > 1 and "COURSE_THREADS" not in env:
        # Share the CPUs between the kernels that run at once instead of oversubscribing them.
        env["COURSE_THREADS"] = str(max(1, n_threads() // jobs))
    return env


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    first = lines[0].strip() if lines else source.strip()
    return first if len(first) <= 80 else first[:77] + "..."


def _cell_error(name: str, nb: nbformat.NotebookNode, index: int | None, err: BaseException) -> BookError:
    where = "before the first cell ran (kernel start)"
    if index is not None and index < len(nb.cells):
        cell = nb.cells[index]
        where = f"cell {index + 1} of {len(nb.cells)} (`{_first_line(cell.source)}`)"
    detail = f"{getattr(err, 'ename', '') or type(err).__name__}: {getattr(err, 'evalue', '') or err}"
    detail = _ANSI.sub("", detail).strip().splitlines()
    summary = detail[-1] if detail else type(err).__name__
    # CellExecutionError's str() is the traceback; its last lines say what went wrong.
    return BookError(f"{name}, {where}: {summary}")


async def _execute(path: Path, *, cwd: Path, timeout: int, env: dict[str, str], name: str) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    current: dict[str, int] = {}

    def on_cell_start(cell: nbformat.NotebookNode, cell_index: int) -> None:
        current["index"] = cell_index

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(cwd)}},
        on_cell_start=on_cell_start,
    )
    try:
        await client.async_execute(env=env)
    except Exception as err:  # noqa: BLE001 - any failure (cell error, timeout, dead kernel) names its cell
        raise _cell_error(name, nb, current.get("index"), err) from err
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and RAISES_TAG not in cell.metadata.get("tags", []):
            if any(out.output_type == "error" for out in cell.get("outputs", [])):
                raise _cell_error(name, nb, index, RuntimeError("the cell shows an error output"))
    return nb


def execute_notebook(
    path: Path | str, *, cwd: Path | str | None = None, timeout: int = CELL_TIMEOUT, jobs: int = 1
) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` from a fresh kernel in ``cwd`` (default: the repo root) and return it.

    Raises :class:`BookError` naming the notebook and the cell when a cell raises,
    times out (``timeout`` seconds per cell) or the kernel dies.
    """
    path = Path(path)
    env = _kernel_env(jobs)
    coro = _execute(path, cwd=Path(cwd) if cwd else repo_root(), timeout=timeout, env=env, name=_display(path))
    return asyncio.run(coro)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(repo_root()))
    except ValueError:
        return str(path)


def _count_figures(nb: nbformat.NotebookNode) -> int:
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if any(mime in out.get("data", {}) for mime in FIGURE_MIMES)
    )


# ------------------------------------------------------------------- rendering

_CSS = """
.course-nav { font: 14px/1.5 system-ui, sans-serif; display: flex; flex-wrap: wrap; gap: .4em 1.2em;
  align-items: center; padding: .6em 1em; border-bottom: 1px solid #ccc; background: #f6f8fa; }
.course-nav a { text-decoration: none; }
.course-nav .course-actions { margin-left: auto; display: flex; gap: .8em; }
.course-nav .course-actions a { border: 1px solid #888; border-radius: 4px; padding: .1em .6em; }
.course-nav .course-meta { color: #555; }
"""

_INDEX_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; font-size: 90%; }
"""


def _nav(page: Page, prev: Page | None, nxt: Page | None, base: str, run_profile: str) -> str:
    e = html.escape
    parts = ['<a href="index.html">&#8617; Course map</a>']
    if prev:
        parts.append(f'<a rel="prev" href="{e(prev.page)}">&larr; {e(prev.number)} {e(prev.title)}</a>')
    if nxt:
        parts.append(f'<a rel="next" href="{e(nxt.page)}">{e(nxt.number)} {e(nxt.title)} &rarr;</a>')
    parts.append(
        f'<span class="course-meta">{e(page.time or "time not given")} &middot; executed in the '
        f"{e(run_profile)} profile in {page.seconds:.0f} s</span>"
    )
    parts.append(
        '<span class="course-actions">'
        f'<a class="binder-link" href="{e(binder_url(page.notebook, base))}">launch on Binder</a>'
        f'<a class="download-link" href="notebooks/{e(Path(page.notebook).name)}" download>download .ipynb</a>'
        "</span>"
    )
    return '<nav class="course-nav">' + "\n".join(parts) + "</nav>"


def render_page(
    nb: nbformat.NotebookNode,
    page: Page,
    *,
    prev: Page | None = None,
    nxt: Page | None = None,
    base: str | None = None,
    run_profile: str | None = None,
) -> str:
    """The HTML page of an executed notebook: nbconvert's ``lab`` template plus the course's navigation bar."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": f"{page.number} {page.title}"}})
    nav = _nav(page, prev, nxt, base or binder_base(), run_profile or profile())
    body = body.replace("</head>", f"<style>{_CSS}</style>\n</head>", 1)
    body, n = re.subn(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + nav, body, count=1)
    if n != 1:  # a template without <body>: still give the page its links
        body = nav + body
    return body.replace("</body>", nav.replace("course-nav", "course-nav course-nav-bottom", 1) + "\n</body>", 1)


def render_index(pages: list[Page], *, title: str, base: str | None = None, run_profile: str | None = None) -> str:
    """The course map: one row per page with topic, time estimate, compute time and links."""
    e = html.escape
    base = base or binder_base()
    rows = []
    for p in pages:
        rows.append(
            "<tr>"
            f'<td class="num">{e(p.number)}</td>'
            f'<td><a class="page-link" href="{e(p.page)}">{e(p.title)}</a></td>'
            f"<td>{e(p.topic)}</td>"
            f"<td>{e(p.time or '?')}</td>"
            f'<td class="num">{p.seconds:.0f} s</td>'
            f'<td><a class="binder-link" href="{e(binder_url(p.notebook, base))}">Binder</a> &middot; '
            f'<a class="download-link" href="notebooks/{e(Path(p.notebook).name)}" download>.ipynb</a></td>'
            "</tr>"
        )
    total = sum(p.minutes or 0 for p in pages)
    built = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>{e(title)}</h1>
<p>The course, executed: every page below is a notebook run from a fresh kernel, with its figures.
Open one in JupyterLab on Binder to run it yourself, or download it.</p>
<table>
<thead><tr><th>#</th><th>notebook</th><th>topic</th><th>time</th><th>compute</th><th>run it</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<p class="meta">{len(pages)} notebooks, about {total} minutes of study. "compute" is the time the notebook took
to execute in the <strong>{e(run_profile or profile())}</strong> profile when this site was built ({e(built)}).</p>
</body>
</html>
"""


# -------------------------------------------------------------------- building


def _select(paths: list[Path], only: list[str] | None) -> list[Path]:
    if not only:
        return paths
    chosen = [p for p in paths if any(p.name.startswith(o) or p.stem == o for o in only)]
    if not chosen:
        names = ", ".join(p.stem for p in paths) or "none"
        raise BookError(f"--only {' '.join(only)} matches no notebook; the notebooks are: {names}.")
    return chosen


async def _execute_all(
    paths: list[Path], *, cwd: Path, timeout: int, jobs: int, log
) -> tuple[dict[Path, tuple[nbformat.NotebookNode, float]], list[str]]:
    env = _kernel_env(jobs)
    gate = asyncio.Semaphore(jobs)
    done: dict[Path, tuple[nbformat.NotebookNode, float]] = {}
    errors: list[str] = []

    async def one(path: Path) -> None:
        async with gate:
            start = time.perf_counter()
            try:
                nb = await _execute(path, cwd=cwd, timeout=timeout, env=env, name=_display(path))
            except BookError as err:
                errors.append(str(err))
                log(f"FAILED {path.name}: {err}")
                return
            seconds = time.perf_counter() - start
            done[path] = (nb, seconds)
            log(f"[{len(done) + len(errors)}/{len(paths)}] {path.name}: {seconds:.1f} s, {_count_figures(nb)} figures")

    await asyncio.gather(*(one(p) for p in paths))
    return done, errors


def build(
    notebooks_dir: Path | str | None = None,
    out_dir: Path | str | None = None,
    *,
    jobs: int = 1,
    cwd: Path | str | None = None,
    timeout: int = CELL_TIMEOUT,
    only: list[str] | None = None,
    readme: Path | str | None = None,
    quiet: bool = False,
) -> list[Page]:
    """Execute every notebook and write the site under ``out_dir`` (default ``<repo>/_build``); return its pages.

    ``jobs`` notebooks run at once (each in its own kernel, sharing the CPUs);
    ``cwd`` is the kernels' working directory (default: the repo root). Every
    notebook is executed even after one fails, then :class:`BookError` lists
    each failure (notebook and cell) and no index is written.
    """
    from ._validation import check_int

    jobs = check_int("jobs", jobs, low=1)
    timeout = check_int("timeout", timeout, low=1)
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else repo_root() / "notebooks"
    paths = _select(find_notebooks(notebooks_dir), only)
    if not paths:
        raise BookError(f"no notebooks named NN_*.ipynb in {notebooks_dir}.")
    out = Path(out_dir) if out_dir else repo_root() / "_build"
    html_dir, executed_dir = out / "html", out / "executed"
    run_profile = profile()

    def log(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    log(f"book: executing {len(paths)} notebooks in the {run_profile} profile, {jobs} at a time, from {cwd or repo_root()}")
    done, errors = asyncio.run(
        _execute_all(paths, cwd=Path(cwd) if cwd else repo_root(), timeout=timeout, jobs=jobs, log=log)
    )
    if errors:
        raise BookError(f"the book was not built: {len(errors)} notebook(s) failed.\n" + "\n".join(errors))

    # Start from a clean site so a renamed notebook leaves no stale page behind.
    for folder in (html_dir, executed_dir):
        if folder.exists():
            shutil.rmtree(folder)
    (html_dir / "notebooks").mkdir(parents=True)
    executed_dir.mkdir(parents=True)

    topics, base = readme_topics(readme), binder_base(readme)
    pages = []
    for path in paths:
        nb, seconds = done[path]
        text, minutes = time_estimate(nb)
        number = path.name[:2]
        title = notebook_title(nb, default=path.stem[3:].replace("_", " "))
        pages.append(
            Page(
                notebook=f"notebooks/{path.name}",
                page=f"{path.stem}.html",
                number=number,
                title=title,
                topic=topics.get(path.name, ""),
                time=text,
                minutes=minutes,
                seconds=round(seconds, 1),
                figures=_count_figures(nb),
            )
        )
        if not text:
            log(f"warning: {path.name} has no '**Time**: about N minutes' line; the course map shows '?'.")
    for i, (path, page) in enumerate(zip(paths, pages, strict=True)):
        nb = done[path][0]
        prev = pages[i - 1] if i > 0 else None
        nxt = pages[i + 1] if i + 1 < len(pages) else None
        content = render_page(nb, page, prev=prev, nxt=nxt, base=base, run_profile=run_profile)
        (html_dir / page.page).write_text(content, encoding="utf-8")
        nbformat.write(nb, executed_dir / path.name)
        shutil.copyfile(path, html_dir / "notebooks" / path.name)

    course_title = _course_title(readme)
    (html_dir / "index.html").write_text(
        render_index(pages, title=course_title, base=base, run_profile=run_profile), encoding="utf-8"
    )
    manifest = {"title": course_title, "profile": run_profile, "jobs": jobs, "pages": [asdict(p) for p in pages]}
    (html_dir / "book.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    log(f"book: wrote {html_dir / 'index.html'} and {len(pages)} pages")
    return pages


def _course_title(readme: Path | str | None) -> str:
    path = Path(readme) if readme else repo_root() / "README.md"
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    except OSError:
        pass
    return "Weight initialization, shown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.book", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="build folder (default: <repo>/_build)")
    parser.add_argument("--notebooks", default=None, help="folder of NN_*.ipynb (default: <repo>/notebooks)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="notebooks executed at once (default 1)")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell (default 600)")
    parser.add_argument("--only", nargs="+", default=None, help="build only these notebooks (e.g. 05 06_he_kaiming)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        build(args.notebooks, args.out, jobs=args.jobs, timeout=args.timeout, only=args.only)
    except (BookError, ValueError, TypeError) as err:
        print(f"book: {err}", file=sys.stderr)
        return 1
    print(f"book: done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
