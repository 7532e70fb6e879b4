"""Character-level text for the transformer notebook: the King James Bible from a Debian package.

``load_text("kjv")`` returns the King James Version (1611; public domain) as one string of
verses, one verse a line. It comes from Debian's ``bible-kjv-text`` package (its compressed
``/usr/lib/bible.data``, verified by SHA-256), decoded by that package's own ``bible`` program
(package ``bible-kjv``, pulled in by ``apt-get install bible-kjv-text``); the decoded text is
verified by SHA-256 as well. Where the package is missing or its files differ, the loader falls
back, with a :class:`~course_utils.data.DataFallbackWarning`, to a real English text every
machine with the course has: the docstrings of a fixed list of Python standard-library modules
(technical English, about 0.2 MB, with a different vocabulary; its hash varies with Python's version).

:class:`CharText` encodes the string as integer ids (its sorted characters) and cuts it into
next-character windows for :func:`course_utils.training.train`. This module imports neither
TensorFlow nor PyTorch.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import check_int
from ._load import _warn_fallback

KJV_PACKAGE = "bible-kjv-text"
KJV_DATA = Path("/usr/lib/bible.data")
KJV_DATA_SHA256 = "6c746c2acc8a34bfded980883ff1701a5d68934a1c853ebf88a07b978fe0ae0e"
KJV_TEXT_SHA256 = "b55e956fcf5f187160b3d0dfa93bbac269d127902ad9fb6c8f05a5dab019f6d5"
KJV_CHARS = 4_137_849  # characters of the decoded text (63 distinct)
KJV_LICENCE = "public domain (the King James Version, 1611); the Debian packaging: GPL-2+ (bible-kjv)"
KJV_RANGE = "Ge1:1-Re22:21"

# The fallback: docstrings of these standard-library modules, in this order (pure-Python modules
# present in every CPython build the course supports).
FALLBACK_MODULES = ("argparse", "collections", "csv", "dataclasses", "fractions", "functools", "heapq",
                    "inspect", "json", "pathlib", "random", "statistics", "string", "textwrap", "unittest")

TEXTS = ("kjv",)


class TextUnavailableError(RuntimeError):
    """The text is missing and no fallback was allowed."""


@dataclass(frozen=True, eq=False)
class CharText:
    """A text and its character vocabulary.

    Attributes:
        text: the whole text.
        chars: the sorted distinct characters; a character's id is its index here.
        source: where the text came from (one line).
        licence: its licence.
        sha256: the SHA-256 of the text (UTF-8).
        fallback: True when this is the offline stand-in, not the text asked for.
    """

    text: str
    chars: str
    source: str
    licence: str
    sha256: str
    fallback: bool = False
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> np.ndarray:
        """Integer ids of the characters of ``s`` (int64); a character not in the vocabulary raises."""
        index = self._index or {c: i for i, c in enumerate(self.chars)}
        try:
            return np.fromiter((index[c] for c in s), dtype=np.int64, count=len(s))
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in this text's vocabulary "
                             f"({self.vocab_size} characters).") from None

    def decode(self, ids: object) -> str:
        """The string whose character ids are ``ids``."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())

    def windows(self, block_size: int, n: int, *, seed: int = 0, start: int = 0,
                stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random windows of ``block_size`` characters and their next-character targets.

        Returns ``(x, y)``, both int64 of shape ``(n, block_size)``, with ``y[:, t] = x[:, t + 1]``
        in the text (``y`` is ``x`` shifted by one character). Windows start in ``[start, stop)``
        of the text (use disjoint ranges for training and validation).
        """
        block_size = check_int("block_size", block_size, low=1)
        n = check_int("n", n, low=1)
        stop = len(self.text) if stop is None else stop
        if not 0 <= start < stop <= len(self.text) or stop - start < block_size + 1:
            raise ValueError(f"the range [{start}, {stop}) of a {len(self.text)}-character text holds no "
                             f"window of {block_size} + 1 characters; widen it or shorten block_size.")
        ids = self.encode(self.text[start:stop])
        rng = np.random.default_rng(seed)
        first = rng.integers(0, len(ids) - block_size, size=n)
        offsets = first[:, None] + np.arange(block_size)[None, :]
        return ids[offsets], ids[offsets + 1]


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _make(text: str, source: str, licence: str, fallback: bool) -> CharText:
    chars = "".join(sorted(set(text)))
    return CharText(text=text, chars=chars, source=source, licence=licence,
                    sha256=_sha256(text.encode("utf-8")), fallback=fallback,
                    _index={c: i for i, c in enumerate(chars)})


_VERSE = re.compile(r"^\s+\d+ (.*)$")


def kjv_verses(formatted: str) -> str:
    """The verses of ``bible -l0`` output, one a line (chapter headings and verse numbers dropped)."""
    verses = [m.group(1).strip() for line in formatted.splitlines() if (m := _VERSE.match(line))]
    return "\n".join(verses) + "\n"


def _kjv(data_file: Path) -> tuple[str | None, str]:
    """The decoded KJV, or None and why not."""
    if not data_file.is_file():
        return None, f"{data_file} is missing (install it: apt-get install {KJV_PACKAGE})"
    got = _sha256(data_file.read_bytes())
    if got != KJV_DATA_SHA256:
        return None, f"{data_file} has SHA-256 {got[:12]}..., not the expected {KJV_DATA_SHA256[:12]}..."
    program = shutil.which("bible")
    if program is None:
        return None, "the program `bible` that decodes it is missing (apt-get install bible-kjv)"
    try:
        out = subprocess.run([program, "-l0", "-p", str(data_file.parent), "-d", data_file.name, KJV_RANGE], capture_output=True,
                             text=True, encoding="utf-8", timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"`bible` failed to decode it ({err})"
    text = kjv_verses(out)
    got = _sha256(text.encode("utf-8"))
    if got != KJV_TEXT_SHA256:
        return None, f"the decoded text has SHA-256 {got[:12]}..., not the expected {KJV_TEXT_SHA256[:12]}..."
    return text, ""


def stdlib_docstrings(modules: tuple[str, ...] = FALLBACK_MODULES) -> str:
    """The fallback text: module, class and function docstrings of ``modules``, in a fixed order."""
    parts: list[str] = []
    for name in modules:
        mod = importlib.import_module(name)
        docs = [mod.__doc__ or ""]
        for attr in sorted(vars(mod)):
            obj = getattr(mod, attr)
            if getattr(obj, "__module__", None) == name and (callable(obj) or isinstance(obj, type)):
                docs.append(getattr(obj, "__doc__", None) or "")
        parts.extend(d.strip() for d in docs if d and d.strip())
    return "\n\n".join(parts) + "\n"


def load_text(name: str = "kjv", *, fallback: bool = True, data_file: str | Path | None = None) -> CharText:
    """The text ``name`` (only ``"kjv"``) as a :class:`CharText`, verified by SHA-256.

    Args:
        name: ``"kjv"``: the King James Bible from Debian's ``bible-kjv-text``.
        fallback: when the package is missing or its files differ, return Python's standard-library
            docstrings with a :class:`~course_utils.data.DataFallbackWarning` (False: raise
            :class:`TextUnavailableError`).
        data_file: the compressed Bible (default ``/usr/lib/bible.data``); tests point it elsewhere.
    """
    if name not in TEXTS:
        raise ValueError(f"unknown text {name!r}; choose one of {', '.join(TEXTS)}.")
    path = KJV_DATA if data_file is None else Path(data_file)
    text, why = _kjv(path)
    if text is not None:
        return _make(text, f"King James Version, Debian package {KJV_PACKAGE} ({path}, decoded by `bible`)",
                     KJV_LICENCE, fallback=False)
    if not fallback:
        raise TextUnavailableError(f"The King James text is unavailable: {why}.")
    _warn_fallback(
        f"The King James text is unavailable: {why}. Using a stand-in instead: the docstrings of "
        f"{len(FALLBACK_MODULES)} Python standard-library modules (technical English, a smaller text with "
        "code symbols in its vocabulary): losses and samples differ from the notebook's prose; the "
        "initialization results do not depend on the text.")
    return _make(stdlib_docstrings(), "docstrings of Python standard-library modules (offline stand-in)",
                 "Python Software Foundation License (the Python documentation)", fallback=True)
