"""Hash verification, cache folders and downloads from mirrors (through pooch).

Rules this module keeps, so that a learner never ends up with a broken cache:

* every file is checked against a known SHA-256 before it is used or kept;
* a download goes to a temporary file in the cache folder and is renamed into
  place only after its hash matched (a rename within one folder is atomic), so
  an interrupted or corrupted download leaves nothing behind under the real name;
* a cached file whose hash does not match is renamed aside
  (``<name>.corrupt-<UTC time>``), never deleted, and fetched again;
* a cache folder that cannot be written (a class's shared, read-only data folder) falls back to the
  learner's own cache (``~/.cache/course_utils/data``), else to a temporary folder, with a warning;
  a bad file in a folder that cannot be written is left untouched and not used;
* real mirrors must use HTTPS; plain http is accepted only for loopback hosts
  (127.0.0.0/8, ::1, localhost), which is what the tests' local mirror uses.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ._specs import DatasetSpec, FileSpec
from .idx import IDXFormatError, decompress

__all__ = [
    "DataCacheWarning",
    "DownloadError",
    "Check",
    "check_bytes",
    "check_file",
    "mirrors_for",
    "own_cache_dir",
    "writable_dir",
    "set_aside",
    "fetch_file",
]

log = logging.getLogger("course_utils.data")

MIRRORS_ENV = "COURSE_DATA_MIRRORS"
# (connect, read) timeouts in seconds: a dead host should cost seconds, a slow but
# live mirror may pause between chunks.
TIMEOUT = (10, 60)
CHUNK_SIZE = 1 << 16  # 64 KiB per read: pooch's default of 1 KiB makes 26 MB cost 26,000 progress updates


def shared_mode(mode: int) -> int:
    """``mode`` less the process umask: what a plain ``open()``/``mkdir()`` would have given.

    Temporary files and folders are created private (0600/0700); the cache is
    renamed into place with ordinary permissions so that a folder pre-filled by
    an instructor or a Binder build stays readable by the learners' accounts.
    """
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


class DataCacheWarning(UserWarning):
    """A cache problem was worked around (folder not writable, a corrupted file set aside)."""


class DownloadError(RuntimeError):
    """No mirror delivered a file whose hash matched."""


# --------------------------------------------------------------- verification


@dataclass(frozen=True)
class Check:
    """The result of checking one file's bytes against the known hashes."""

    ok: bool
    how: str  # e.g. "sha256 as published", "decompressed content sha256", or why it failed
    sha256: str  # sum of the file as read


def check_bytes(data: bytes, spec: FileSpec) -> Check:
    """Check a ``.gz`` file's bytes: its sum, else (when known) the sum of its decompressed content."""
    digest = hashlib.sha256(data).hexdigest()
    if digest in spec.sha256:
        return Check(True, f"sha256 matches the file {spec.sha256[digest]}", digest)
    known = ", ".join(f"{h[:16]}..." for h in spec.sha256)
    why = f"sha256 {digest[:16]}... matches none of the known sums ({known})"
    if spec.content_sha256 is None:
        return Check(False, why, digest)
    try:
        content = decompress(data, what=spec.filename)
    except IDXFormatError as err:
        return Check(False, f"{why}, and its content cannot be read: {err}", digest)
    if hashlib.sha256(content).hexdigest() == spec.content_sha256:
        return Check(True, "sha256 of the decompressed content matches", digest)
    return Check(False, f"{why}, nor does its decompressed content", digest)


def check_file(path: Path, spec: FileSpec) -> tuple[Check, bytes]:
    """Read ``path`` and check it; returns the check and the bytes (so they are read once)."""
    data = path.read_bytes()
    return check_bytes(data, spec), data


# --------------------------------------------------------------------- mirrors


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_mirror(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url  # a test server on this machine: nothing travels over a network
    raise ValueError(
        f"Mirror {url!r} refused: mirrors must be https:// URLs (plain http is accepted only for "
        "loopback test servers such as http://127.0.0.1:8000/)."
    )


def mirrors_for(spec: DatasetSpec, mirrors: str | Sequence[str] | None = None) -> list[str]:
    """Base URLs to try for ``spec``, in order.

    ``mirrors`` (a list, or one string of URLs separated by spaces or commas)
    replaces the built-in list; without it the environment variable
    ``COURSE_DATA_MIRRORS`` does. ``{name}`` in a URL is replaced by the
    dataset's name, so one variable can serve several datasets
    (``http://127.0.0.1:8000/{name}/``).
    """
    if mirrors is None:
        mirrors = os.environ.get(MIRRORS_ENV) or None
    if mirrors is None:
        chosen: Iterable[str] = spec.mirrors
    elif isinstance(mirrors, str):
        chosen = mirrors.replace(",", " ").split()
    else:
        chosen = list(mirrors)
    out = []
    for url in chosen:
        url = _check_mirror(str(url).strip().replace("{name}", spec.name))
        out.append(url if url.endswith("/") else url + "/")
    return out


# ---------------------------------------------------------------- cache folders

_fallback_dirs: dict[Path, Path] = {}


def _can_write(folder: Path) -> OSError | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        return err
    return None


def own_cache_dir() -> Path:
    """This account's own data cache: ``$XDG_CACHE_HOME/course_utils/data`` (default ``~/.cache/...``).

    Where a learner's downloads go when the class's shared data folder is read-only: private to
    the account (not a shared temporary folder), and kept between sessions.
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "course_utils" / "data"


def writable_dir(preferred: Path, *, purpose: str = "downloads") -> Path:
    """Return ``preferred`` if files can be written there, else this account's own cache, else a temporary folder.

    The fallback (with one warning) is chosen once per process and per preferred folder, so
    files fetched during a session are found again by later calls; files in the own cache
    (:func:`own_cache_dir`) are found again by later sessions too.
    """
    err = _can_write(preferred)
    if err is None:
        return preferred
    if preferred not in _fallback_dirs:
        own = own_cache_dir() / preferred.name
        if own != preferred and _can_write(own) is None:
            _fallback_dirs[preferred] = own
            where, kept = f"your own cache {own}", "and are kept there for later sessions"
        else:
            _fallback_dirs[preferred] = Path(tempfile.mkdtemp(prefix=f"course-data-{preferred.name}-"))
            where = f"the temporary folder {_fallback_dirs[preferred]} for this session"
            kept = "and are lost when the machine restarts"
        warnings.warn(
            f"The data cache {preferred} cannot be written ({err.strerror or err}); {purpose} go to "
            f"{where} instead, {kept}. Set COURSE_DATA_DIR (or pass data_dir=) to a writable folder to keep them.",
            DataCacheWarning,
            stacklevel=3,
        )
    return _fallback_dirs[preferred]


def set_aside(path: Path, reason: str, *, then: str = "fetched again", warn_failure: bool = True) -> Path | None:
    """Rename a bad cached file (or folder) to ``<name>.corrupt-<UTC time>``, never delete it; return the new path.

    Returns ``None`` when the rename itself fails, e.g. in a read-only folder (with a warning,
    unless ``warn_failure=False``: the caller then says it in its own words).
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
    except OSError as err:
        if not warn_failure:
            return None
        warnings.warn(
            f"The cached file {path} is bad ({reason}) and could not be set aside ({err.strerror or err}); "
            "it is ignored.",
            DataCacheWarning,
            stacklevel=3,
        )
        return None
    warnings.warn(
        f"The cached file {path} is bad ({reason}). It was renamed to {target.name} (kept, not deleted, "
        f"so you can inspect it) and will be {then}.",
        DataCacheWarning,
        stacklevel=3,
    )
    return target


# -------------------------------------------------------------------- download


def _short(err: BaseException) -> str:
    """One readable line for a requests error (its own text nests the reason deep in a long line)."""
    import requests

    text = str(err)
    response = getattr(err, "response", None)
    if isinstance(err, requests.HTTPError) and response is not None:
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off in the middle of the transfer"
    if isinstance(err, requests.Timeout):
        return "timed out"
    if "NameResolutionError" in text or "Name or service not known" in text:
        return "host name could not be resolved (offline?)"
    if "Connection refused" in text:
        return "connection refused"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS/certificate error: " + text[-160:]
    return f"{type(err).__name__}: {text[-200:]}"


def _downloader(url: str, progress: bool):
    import pooch

    kwargs: dict = {"timeout": TIMEOUT}
    if _is_loopback(urlsplit(url).hostname):
        # Never send a loopback request through an HTTP(S)_PROXY from the environment.
        kwargs["proxies"] = {"http": None, "https": None}
    return pooch.HTTPDownloader(progressbar=progress, chunk_size=CHUNK_SIZE, **kwargs)


def fetch_file(
    spec: FileSpec,
    dest_dir: Path,
    urls: Sequence[str],
    *,
    progress: bool = True,
    dead_hosts: set[str] | None = None,
) -> tuple[Path, str]:
    """Download ``spec.filename`` from the first mirror that delivers it with a matching hash.

    pooch's ``HTTPDownloader`` does the HTTP (streaming, progress bar); the loop
    over mirrors, the hash rule (known file sum *or* decompressed content sum)
    and the rename are here, because ``pooch.retrieve`` takes one URL and one
    hash and overwrites a mismatching cached file instead of setting it aside.

    Each attempt writes ``dest_dir/.<filename>.<random>.part``; only a file whose
    hash matched is renamed to ``dest_dir/<filename>``; every other attempt's
    temporary file is removed. Hosts that refused or timed out are added to
    ``dead_hosts`` and skipped by later calls sharing the set (a dead mirror
    should cost one timeout, not one per file). Returns ``(path, url)``;
    raises :class:`DownloadError` listing what each mirror did.
    """
    import requests

    dead_hosts = set() if dead_hosts is None else dead_hosts
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / spec.filename
    failures = []
    for base in urls:
        url = base + spec.filename
        host = urlsplit(url).netloc
        if host in dead_hosts:
            failures.append(f"{url}: skipped, {host} did not answer just before")
            continue
        fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{spec.filename}.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            log.info("downloading %s", url)
            _downloader(url, progress)(url, str(tmp), None)
            check, _ = check_file(tmp, spec)
            if not check.ok:
                failures.append(f"{url}: rejected, {check.how}")
                continue
            os.chmod(tmp, shared_mode(0o666))
            os.replace(tmp, final)
            log.info("%s: %s", final, check.how)
            return final, url
        except (requests.ConnectionError, requests.Timeout) as err:  # refused, unknown host, timed out
            dead_hosts.add(host)
            failures.append(f"{url}: {_short(err)}")
        except requests.RequestException as err:  # HTTP errors (404...), transfers cut half-way
            failures.append(f"{url}: {_short(err)}")
        finally:
            tmp.unlink(missing_ok=True)
    if not urls:
        failures.append("no mirrors configured")
    raise DownloadError(
        f"Could not download {spec.filename}:\n  " + "\n  ".join(failures) + "\n"
        f"What to do: connect to the internet and run the same command again; or point COURSE_DATA_MIRRORS "
        f"at a mirror you can reach; or copy {spec.filename} (from a machine with internet) into {dest_dir}."
    )
