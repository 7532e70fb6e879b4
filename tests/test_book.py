"""`make book`: the executed course as a static site, built by Jupyter Book 1 (tools/book.py).

Cheap checks on the book's configuration (every notebook in the table of contents,
the kernels' environment), then a small book built in tmp_path with the course's
own _config.yml: an intro page and two tiny notebooks, one with a figure (about
15 s). On its site every internal link resolves, every figure cell has its image,
each notebook page has its Binder, Colab and JupyterHub buttons (from the publish
address, tools/publish.py), its run time, and the site has search and a table of
contents. A notebook that raises fails the build with a line naming it and its cell.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tools import book
from tools.publish import publish

REPO = Path(__file__).resolve().parent.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
BUILD_TIMEOUT = 300
needs_jupyter_book = pytest.mark.skipif(
    not (Path(sys.executable).parent / "jupyter-book").exists(),
    reason="jupyter-book is not installed in this environment: pip install -e '.[book]' (make test installs it "
           "with the dev extra)",
)


# ------------------------------------------------------------------ configuration


def test_toc_lists_every_notebook_once():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    notebooks = [f"notebooks/{p.stem}" for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert [f for f in files if f.startswith("notebooks/")] == notebooks
    assert toc["root"] == "README"
    for name in [toc["root"], *files]:
        assert any((REPO / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), f"_toc.yml names {name}, not found"


def test_config_executes_every_notebook_in_its_folder():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    execute = config["execute"]
    assert execute["execute_notebooks"] == "force" and execute["allow_errors"] is False
    assert execute["run_in_temp"] is False  # cwd = the notebook's folder, as under nbval and JupyterLab
    assert config["only_build_toc_files"] is True
    assert config["sphinx"]["local_extensions"] == {"course_book": "tools/"}


def test_kernel_env_draws_figures_and_freezes_no_progress_bar():
    env = book.kernel_env({"MPLBACKEND": "Agg", "COURSE_PROFILE": "quick", "COURSE_PROGRESS": "1"})
    assert "MPLBACKEND" not in env, "with Agg ipykernel keeps no inline backend: pyplot figures vanish"
    assert env["COURSE_PROGRESS"] == "0" and env["COURSE_PROFILE"] == "quick"
    assert str(REPO) in env["PYTHONPATH"].split(os.pathsep)


def test_failure_line_names_notebook_and_cell(tmp_path):
    path = tmp_path / "03_broken.ipynb"
    nb = new_notebook(metadata={"kernelspec": KERNELSPEC})
    nb.cells = [new_markdown_cell("# 03"), new_code_cell("x = 1"), new_code_cell("y = x / 0")]
    nbformat.write(nb, path)
    report = ("nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:\n"
              "------------------\ny = x / 0\n------------------\n\n\x1b[31mZeroDivisionError\x1b[39m: division by zero\n")
    assert book.describe_failure(path, report, "nb/03_broken.ipynb") == (
        "nb/03_broken.ipynb, cell 3 of 3 (`y = x / 0`): ZeroDivisionError: division by zero")


# ------------------------------------------------------------------ a small book


def _write(path: Path, cells: list) -> None:
    nb = new_notebook(metadata={"kernelspec": KERNELSPEC})
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _small_book(root: Path, *, broken: bool = False) -> Path:
    """The course's _config.yml (extension path made absolute), an intro and two notebooks linking each other."""
    config = (REPO / "_config.yml").read_text().replace("course_book: tools/", f"course_book: {REPO / 'tools'}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(config)
    chapters = ["notebooks/01_figures", "notebooks/02_text"] + (["notebooks/03_broken"] if broken else [])
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   + "".join(f"  - file: {c}\n" for c in chapters))
    (root / "intro.md").write_text("# A small course\n\nStart with [the figures](notebooks/01_figures.ipynb), "
                                   "then [some text](notebooks/02_text.ipynb).\n")
    _write(root / "notebooks" / "01_figures.ipynb", [
        new_markdown_cell("# 01 · Figures\n\n**Next**: [02 · Text](02_text.ipynb)."),
        new_code_cell("import os\nprint('cwd=' + os.getcwd())\nprint('progress=' + os.environ['COURSE_PROGRESS'])"),
        new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3])\nplt.show()"),
        new_code_cell("from course_utils import plots\nplots.set_theme()\nfig, ax = plt.subplots()\nax.bar([0, 1], [2, 3])"),
    ])
    _write(root / "notebooks" / "02_text.ipynb", [
        new_markdown_cell("# 02 · Text\n\nBack to [01](01_figures.ipynb)."), new_code_cell("print(6 * 7)"),
    ])
    if broken:
        _write(root / "notebooks" / "03_broken.ipynb", [
            new_markdown_cell("# 03 · Broken"), new_code_cell("x = 1"), new_code_cell("y = x / 0"),
        ])
    return root


def _run_book(root: Path) -> subprocess.CompletedProcess:
    # As `make test` runs it: MPLBACKEND=Agg in the environment, which the book must not pass to its kernels.
    env = {**os.environ, "MPLBACKEND": "Agg", "COURSE_PROFILE": "quick"}
    return subprocess.run([sys.executable, "-m", "tools.book", "--path", str(root)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT)


@pytest.fixture(scope="module")
def small_site(tmp_path_factory) -> Path:
    root = _small_book(tmp_path_factory.mktemp("book"))
    result = _run_book(root)
    assert result.returncode == 0, f"the small book failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    print(result.stdout.splitlines()[-1])
    return root / "_build" / "html"


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


@needs_jupyter_book
@pytest.mark.slow
def test_every_internal_link_resolves(small_site):
    assert book.check_site(small_site) == []  # links, figures and launch buttons (make book runs it too)
    first = (small_site / "notebooks" / "01_figures.html").read_text()
    assert 'href="02_text.html"' in first, "the notebook's .ipynb link was not rewritten to the page"
    assert 'href="notebooks/01_figures.html"' in (small_site / "intro.html").read_text()


@needs_jupyter_book
@pytest.mark.slow
def test_every_figure_cell_has_its_image(small_site):
    executed = small_site.parent / "jupyter_execute" / "notebooks" / "01_figures.ipynb"
    nb = nbformat.read(executed, as_version=4)
    figures = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
               and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert figures == [2, 3], "plain pyplot and the course's theme both draw under the book's inline backend"
    page = (small_site / "notebooks" / "01_figures.html").read_text()
    images = re.findall(r'<img[^>]*src="(\.\./_images/[^"]+\.png)"', page)
    assert len(images) == len(figures)
    assert all((small_site / "notebooks" / src).resolve().stat().st_size > 1000 for src in images)


@needs_jupyter_book
@pytest.mark.slow
def test_pages_run_in_their_folder_in_the_profile_with_launch_buttons(small_site):
    p = publish()
    page = (small_site / "notebooks" / "01_figures.html").read_text()
    folder = small_site.parent.parent / "notebooks"
    assert f"cwd={folder}" in page and "progress=0" in page
    assert re.search(r"executed from a fresh kernel in the <strong>quick</strong> profile in \d+ s", page)
    path = "notebooks/01_figures.ipynb"
    assert f'href="{p.binder_url(path)}"' in page
    assert f'href="{p.colab_url(path)}"' in page
    assert f'href="{p.jupyterhub}/hub/user-redirect/git-pull?repo=' in page
    manifest = json.loads((small_site / "book.json").read_text())
    assert manifest["profile"] == "quick"
    assert [(x["source"], x["succeeded"]) for x in manifest["pages"]] == [
        ("notebooks/01_figures.ipynb", True), ("notebooks/02_text.ipynb", True)]


@needs_jupyter_book
@pytest.mark.slow
def test_search_and_table_of_contents(small_site):
    assert (small_site / "search.html").exists() and (small_site / "searchindex.js").stat().st_size > 100
    assert "Figures" in (small_site / "searchindex.js").read_text()
    intro = (small_site / "intro.html").read_text()
    nav = intro[intro.index("bd-sidebar"):]
    assert 'href="notebooks/01_figures.html"' in nav and 'href="notebooks/02_text.html"' in nav


@needs_jupyter_book
@pytest.mark.slow
def test_site_check_finds_each_problem(small_site, tmp_path):
    """check_site can fail: a dead link, a lost image, a figure drawn but not rendered, a missing button."""
    import shutil

    site = tmp_path / "_build" / "html"
    shutil.copytree(small_site, site)
    shutil.copytree(small_site.parent / "jupyter_execute", site.parent / "jupyter_execute")
    page = site / "notebooks" / "01_figures.html"
    text = page.read_text()
    binder = publish().binder_url("notebooks/01_figures.ipynb")
    first_image = re.search(r'<img[^>]*src="([^"]*_images/[^"]+)"', text).group(1)
    page.write_text(text.replace('href="02_text.html"', 'href="02_gone.html"', 1).replace(f'href="{binder}', 'href="x', 1)
                    .replace(f'src="{first_image}"', 'src="data:,"', 1))
    executed = site.parent / "jupyter_execute" / "notebooks" / "02_text.ipynb"
    nb = json.loads(executed.read_text())
    nb["cells"][-1]["outputs"] = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                                   "data": {"text/plain": "<Figure size 640x480 with 1 Axes>"}}]
    executed.write_text(json.dumps(nb))
    problems = "\n".join(book.check_site(site))
    assert "notebooks/01_figures.html: link to nothing: 02_gone.html" in problems
    assert "notebooks/01_figures.ipynb: 2 figures in the notebook, 1 images on its page" in problems
    assert "notebooks/01_figures.ipynb: no Binder launch button" in problems
    assert "notebooks/02_text.ipynb: cell" in problems and "was not rendered (<Figure size 640x480 with 1 Axes>)" in problems


@needs_jupyter_book
@pytest.mark.slow
def test_a_failing_notebook_fails_the_build_and_names_its_cell(tmp_path):
    root = _small_book(tmp_path / "book", broken=True)
    result = _run_book(root)
    assert result.returncode == 1
    assert "notebooks/03_broken.ipynb, cell 3 of 3 (`y = x / 0`): ZeroDivisionError: division by zero" in result.stderr
    assert "01_figures" not in result.stderr.split("failed.")[-1], "only the failed notebook is named"
