"""`make book`: the executed course as a static HTML site.

Three layers: parsing (no kernel), the build mechanics on a small synthetic
course in tmp_path (seconds), and the real build of every notebook in
``notebooks/`` in the quick profile (slow: it executes the whole course once,
two notebooks at a time, through the same command line `make book` runs).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import book

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = book.find_notebooks(REPO / "notebooks")
# One case per notebook, or one skipped case that says why there is nothing to check yet.
NOTEBOOK_PARAMS = [pytest.param(p, id=p.stem) for p in NOTEBOOKS] or [
    pytest.param(None, id="no-notebooks", marks=pytest.mark.skip(reason="no notebooks in notebooks/ yet"))
]
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
PNG_IMG = re.compile(r"<img[^>]*src=\"data:image/png;base64,")
# Seconds a cell may take in the real build: NOTEBOOKS.md gives a whole notebook 90 s (120 s for 11-12).
CELL_TIMEOUT = 300
# Wall-clock bound for the whole real build: that budget per notebook, two at a time, plus start-up.
BUILD_TIMEOUT = 60 + 150 * max(1, len(NOTEBOOKS)) // 2


def _write(path: Path, cells: list) -> Path:
    nb = new_notebook(metadata={"kernelspec": KERNELSPEC})
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _figure_course(folder: Path) -> None:
    _write(
        folder / "01_figures.ipynb",
        [
            new_markdown_cell("# 01 · Figures\n\n**Goals**: draw.\n\n**Time**: about 12 minutes"),
            new_code_cell("import os\nprint('cwd=' + os.getcwd())"),
            new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3])\nplt.show()"),
        ],
    )
    _write(
        folder / "02_text.ipynb",
        [new_markdown_cell("# 02 · Text only\n\n**Time**: about 5 minutes"), new_code_cell("print(6 * 7)")],
    )


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("line", "text", "minutes"),
    [
        ("**Time**: about 35 minutes", "about 35 minutes", 35),
        ("- **Time:** about 10 minutes.", "about 10 minutes", 10),
        ("**Prerequisites**: 00. **Time**: about 20 minutes. **Next**: 02", "about 20 minutes", 20),
        ("Time: 20-30 min", "20-30 min", 20),
        ("No estimate here. Timeline: none", "", None),
    ],
)
def test_time_estimate(line, text, minutes):
    nb = new_notebook()
    nb.cells = [new_markdown_cell(f"# Title\n\n{line}")]
    assert book.time_estimate(nb) == (text, minutes)


def test_binder_url_matches_readme_badge():
    readme = (REPO / "README.md").read_text()
    badge = re.search(r"\(\s*(https://mybinder\.org/v2/[^)\s]+)\)", readme).group(1)
    assert book.binder_url("notebooks/00_setup_and_tour.ipynb") == badge


def test_readme_topics_cover_the_course_map():
    topics = book.readme_topics(REPO / "README.md")
    assert topics["05_xavier_glorot.ipynb"].startswith("derivation")
    assert len(topics) == 13


# ------------------------------------------------------- mechanics, synthetic


@pytest.mark.slow
def test_synthetic_book(tmp_path, monkeypatch):
    """Pages with embedded figures, links, run from the repo root, even with MPLBACKEND=Agg set."""
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as under `make test`; the kernels must still draw inline
    _figure_course(tmp_path / "nb")
    pages = book.build(tmp_path / "nb", tmp_path / "out", jobs=2, timeout=60, quiet=True)
    site = tmp_path / "out" / "html"
    assert [p.page for p in pages] == ["01_figures.html", "02_text.html"]
    assert [(p.title, p.time, p.minutes) for p in pages] == [
        ("Figures", "about 12 minutes", 12),
        ("Text only", "about 5 minutes", 5),
    ]
    assert pages[0].figures == 1 and pages[1].figures == 0

    first = (site / "01_figures.html").read_text()
    assert len(PNG_IMG.findall(first)) == 1
    assert f"cwd={REPO}" in first, "notebooks must run with the repo root as working directory"
    assert 'href="https://mybinder.org/v2/' in first and "urlpath=lab/tree/notebooks/01_figures.ipynb" in first
    assert 'href="notebooks/01_figures.ipynb" download' in first
    assert 'href="02_text.html"' in first  # next page
    assert (site / "notebooks" / "01_figures.ipynb").read_bytes() == (tmp_path / "nb" / "01_figures.ipynb").read_bytes()

    index = (site / "index.html").read_text()
    for page in pages:
        assert f'href="{page.page}"' in index
    assert "about 12 minutes" in index and "about 17 minutes of study" in index
    manifest = json.loads((site / "book.json").read_text())
    assert manifest["profile"] == "quick" and [p["page"] for p in manifest["pages"]] == ["01_figures.html", "02_text.html"]
    executed = nbformat.read(tmp_path / "out" / "executed" / "01_figures.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["data"]["image/png"]


@pytest.mark.slow
def test_failing_notebook_names_notebook_and_cell(tmp_path):
    _figure_course(tmp_path / "nb")
    _write(
        tmp_path / "nb" / "03_broken.ipynb",
        [new_markdown_cell("# 03 · Broken"), new_code_cell("x = 1"), new_code_cell("y = x / 0")],
    )
    with pytest.raises(book.BookError) as info:
        book.build(tmp_path / "nb", tmp_path / "out", jobs=2, timeout=60, quiet=True)
    message = str(info.value)
    assert "03_broken.ipynb, cell 3 of 3 (`y = x / 0`): ZeroDivisionError: division by zero" in message
    assert "01_figures" not in message
    assert not (tmp_path / "out" / "html" / "index.html").exists(), "a failed build must not leave a course map"


@pytest.mark.slow
def test_cell_timeout_is_a_named_failure(tmp_path):
    _write(tmp_path / "nb" / "01_slow.ipynb", [new_code_cell("import time\ntime.sleep(30)")])
    with pytest.raises(book.BookError, match=r"01_slow.ipynb, cell 1 of 1 \(`import time`\)"):
        book.build(tmp_path / "nb", tmp_path / "out", timeout=2, quiet=True)


def test_only_and_empty_folder(tmp_path):
    with pytest.raises(book.BookError, match="no notebooks"):
        book.build(tmp_path, tmp_path / "out", quiet=True)
    _figure_course(tmp_path / "nb")
    with pytest.raises(book.BookError, match="matches no notebook; the notebooks are: 01_figures, 02_text"):
        book.build(tmp_path / "nb", tmp_path / "out", only=["07"], quiet=True)
    with pytest.raises(ValueError, match="jobs"):
        book.build(tmp_path / "nb", tmp_path / "out", jobs=0, quiet=True)


# ----------------------------------------------------------- the real course


@pytest.fixture(scope="module")
def real_book(tmp_path_factory) -> Path:
    """Build the book of notebooks/ once, in the quick profile, through the CLI that `make book` runs."""
    if not NOTEBOOKS:
        pytest.skip("no notebooks in notebooks/ yet")
    out = tmp_path_factory.mktemp("book")
    env = {**os.environ, "COURSE_PROFILE": "quick", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "course_utils.book", "--out", str(out), "--jobs", "2", "--timeout", str(CELL_TIMEOUT)]
    # Own process group, so a build that overruns is stopped together with its kernels.
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        pytest.fail(f"the book build ran past {BUILD_TIMEOUT} s:\n{log[-3000:]}")
    assert proc.returncode == 0, f"make book failed:\n{log[-5000:]}"
    return out


def _makes_figures(nb: nbformat.NotebookNode) -> bool:
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # plots.plot_*, pyplot, pandas .plot, the widgets' static figures (signal_figure, explorers with interactive=False).
    return bool(re.search(r"\bplots\.plot_\w+\(|\bplt\.|\.plot\(|\bsignal_figure\(|interactive\s*=\s*False", source))


@pytest.mark.slow
def test_index_links_every_page(real_book):
    index = (real_book / "html" / "index.html").read_text()
    manifest = json.loads((real_book / "html" / "book.json").read_text())
    assert manifest["profile"] == "quick"
    assert [p["notebook"] for p in manifest["pages"]] == [f"notebooks/{p.name}" for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        assert f'href="{path.stem}.html"' in index, f"index.html does not link {path.stem}.html"
    times = {p["notebook"]: p["seconds"] for p in manifest["pages"]}
    print("book compute times (s):", times)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
def test_every_notebook_is_a_page(real_book, path):
    page = (real_book / "html" / f"{path.stem}.html").read_text()
    executed = nbformat.read(real_book / "executed" / path.name, as_version=4)
    errors = [i + 1 for i, c in enumerate(executed.cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert not errors, f"{path.name}: error outputs in cells {errors}"

    png_outputs = sum(1 for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    if _makes_figures(nbformat.read(path, as_version=4)):
        assert png_outputs >= 1, (
            f"{path.name} draws figures but none came out under the inline backend, as a learner's JupyterLab "
            "would show them (a figure that suppresses its own display? MPLBACKEND leaking into the kernel?)"
        )
    assert len(PNG_IMG.findall(page)) >= png_outputs, f"{path.name}: not every figure is embedded in its page"

    assert f"urlpath=lab/tree/notebooks/{path.name}" in page
    assert f'href="notebooks/{path.name}" download' in page
    assert (real_book / "html" / "notebooks" / path.name).exists()
    entry = next(p for p in json.loads((real_book / "html" / "book.json").read_text())["pages"] if p["page"] == f"{path.stem}.html")
    assert entry["minutes"], f"{path.name} has no '**Time**: about N minutes' line for the course map"
