"""Safety: nothing read from disk or the network is unpickled or evaluated, and downloads use HTTPS.

A static scan (AST, so comments and docstrings that *mention* pickle do not
count) of every module in ``course_utils/``:

* no ``import pickle`` / ``marshal`` / ``shelve`` / ``dill`` / ``cloudpickle`` / ``joblib``
  (joblib's load unpickles);
* no call of ``eval``, ``exec``, ``pickle.load(s)``, ``marshal.load(s)``;
* no ``allow_pickle=True`` (``np.load``) and no ``torch.load`` without ``weights_only=True``;
* every ``http://`` URL in a string value (not a docstring) points at the loopback interface (the test mirror's hook);
  the published mirrors of ``course_utils.data`` are all ``https://``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import course_utils

PACKAGE = Path(course_utils.__file__).resolve().parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
UNSAFE_CALLS = {"eval", "exec"}
LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(?=[:/]|$)")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", re.I)


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: ``np.load``, ``torch.load``, ``eval``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(PACKAGE.parent)
    out = []
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            out += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            out.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            last = name.rsplit(".", 1)[-1]
            if name in UNSAFE_CALLS or name in {"builtins.eval", "builtins.exec"}:
                out.append(f"{where}: {name}(...)")
            if last in {"load", "loads"} and name.split(".")[0] in UNSAFE_MODULES:
                out.append(f"{where}: {name}(...)")
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            value = kwargs.get("allow_pickle")
            if value is not None and not (isinstance(value, ast.Constant) and value.value is False):
                out.append(f"{where}: {name}(allow_pickle=...) (only allow_pickle=False is allowed)")
            if name.endswith("torch.load") or name == "torch().load":
                wo = kwargs.get("weights_only")
                if not (isinstance(wo, ast.Constant) and wo.value is True):
                    out.append(f"{where}: {name}(...) without weights_only=True (unpickles arbitrary objects)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            # Docstrings may cite a page over http (a reference, never fetched); string values are what code uses.
            for url in URL.findall(node.value):
                if url.lower().startswith("https://") or LOOPBACK.match(url):
                    continue
                if url.lower().startswith(("http://", "ftp://")):
                    out.append(f"{where}: non-HTTPS URL {url!r}")
    return out


def test_the_scan_sees_the_package():
    assert len(SOURCES) >= 10, SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_unpickling_eval_or_plain_http(path):
    findings = _findings(path)
    assert not findings, "unsafe constructs in course_utils:\n" + "\n".join(findings)


def test_the_scanner_catches_what_it_should(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nfrom marshal import loads\nimport numpy as np\n"
        "np.load('x.npz', allow_pickle=True)\neval('1')\nexec('x=1')\n"
        "import torch\ntorch.load('m.pt')\nU = 'http://example.org/mnist/'\nOK = 'http://127.0.0.1:8000/'\n"
        "S = 'https://example.org/'\nnp.load('y.npz', allow_pickle=False)\ntorch.load('m.pt', weights_only=True)\n"
    )
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path  # noqa: PLW0603 - the scanner reports paths relative to PACKAGE's parent
    try:
        found = _findings(bad)
    finally:
        PACKAGE = saved
    text = "\n".join(found)
    for needle in ("import pickle", "from marshal", "allow_pickle", "eval(", "exec(", "torch.load(...) without",
                   "http://example.org"):
        assert needle in text, (needle, found)
    assert len(found) == 7, found


def test_published_mirrors_are_https():
    from course_utils.data import _specs

    mirrors = [(name, url) for name, spec in _specs.DATASETS.items() for url in spec.mirrors]
    assert mirrors, "no mirrors listed in course_utils.data._specs"
    plain = [(n, u) for n, u in mirrors if not u.startswith("https://")]
    assert not plain, f"mirrors that are not HTTPS: {plain}"


def test_every_published_file_has_a_hash():
    from course_utils.data import _specs

    missing = [(name, f.filename) for name, spec in _specs.DATASETS.items() for f in spec.files
               if not getattr(f, "sha256", None) and not getattr(f, "sha256s", None)]
    assert not missing, f"files downloaded without a known sha256: {missing}"
