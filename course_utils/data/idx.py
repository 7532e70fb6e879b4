"""A strict reader of the IDX format that MNIST and Fashion-MNIST are distributed in.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a tiny format: four magic
bytes ``0x00 0x00 <type> <ndim>``, then ``ndim`` sizes as big-endian 32-bit
integers, then the values in C order. This reader checks every part of it --
magic, type code, sizes, and that the payload is exactly as long as the sizes
say -- so a truncated download or a file of another kind (an HTML error page
saved under a ``.gz`` name is the classic) raises :class:`IDXFormatError` with
the reason, never returns garbage arrays. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

__all__ = ["IDXFormatError", "read_idx", "parse_idx", "decompress", "idx_header"]

# Type codes of the IDX format -> NumPy dtype (multi-byte values are big-endian).
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIMS = 8  # MNIST-like files have 1 (labels) or 3 (images); more means a foreign file


class IDXFormatError(ValueError):
    """A file is not a valid IDX file (truncated, corrupted, or another kind of file)."""


def _describe_start(data: bytes) -> str:
    head = bytes(data[:16])
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml", b"<error")):
        return f"it starts with {head!r}: a web page or error message was saved instead of the data file"
    return f"it starts with {head!r}"


def decompress(data: bytes, *, what: str = "data") -> bytes:
    """Return ``data`` gunzipped if it starts with the gzip magic bytes, else unchanged.

    Raises :class:`IDXFormatError` for a truncated or corrupted gzip stream (the
    gzip trailer's CRC-32 and length are checked).
    """
    if not bytes(data[:2]) == _GZIP_MAGIC:
        return bytes(data)
    # zlib with a gzip header (16 + max window) is ~15% faster than the gzip module.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data)
    except zlib.error as err:
        raise IDXFormatError(f"{what} is a corrupted gzip file ({err}).") from None
    if not inflater.eof:
        raise IDXFormatError(
            f"{what} is a truncated gzip file: the compressed stream ends early "
            f"(after {len(data):,} bytes). An interrupted download leaves files like this."
        )
    if inflater.unused_data:
        # Several gzip members in one file are legal; let the gzip module join them.
        try:
            return gzip.decompress(bytes(data))
        except (OSError, EOFError, zlib.error) as err:
            raise IDXFormatError(f"{what} has bytes after its gzip stream that are not gzip ({err}).") from None
    return out


def idx_header(shape: Sequence[int], dtype: np.dtype | str = "uint8") -> bytes:
    """The IDX header for an array of ``shape`` and ``dtype`` (e.g. to hash decoded arrays)."""
    code = _CODES[np.dtype(dtype).newbyteorder(">") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)]
    return bytes([0, 0, code, len(shape)]) + b"".join(int(n).to_bytes(4, "big") for n in shape)


def parse_idx(
    data: bytes,
    *,
    what: str = "data",
    expect_shape: Sequence[int] | None = None,
    expect_dtype: np.dtype | str | None = None,
) -> np.ndarray:
    """Decode IDX bytes (optionally gzip-compressed) into a NumPy array.

    ``expect_shape`` / ``expect_dtype`` make it also check that the file holds
    what the caller wants (e.g. ``(10000, 28, 28)`` and ``uint8``). The array is
    a read-only view of the decoded bytes when the values are single bytes.
    Raises :class:`IDXFormatError` naming ``what`` and the reason.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be the bytes of an IDX file (e.g. Path(...).read_bytes()); got {type(data).__name__}.")
    raw = decompress(data, what=what)
    if len(raw) < 4:
        raise IDXFormatError(f"{what} is not an IDX file: only {len(raw)} bytes long.")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in _DTYPES or not 1 <= ndim <= _MAX_DIMS:
        raise IDXFormatError(
            f"{what} is not an IDX file: its magic number is {raw[:4].hex()} (expected 0000 followed by a "
            f"type code in {sorted(f'{c:02x}' for c in _DTYPES)} and 1-{_MAX_DIMS} dimensions); "
            + _describe_start(raw)
            + "."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{what} is truncated inside its IDX header ({len(raw)} of {header} bytes).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _DTYPES[code]
    if any(n == 0 for n in shape):
        raise IDXFormatError(f"{what} declares an empty dimension: shape {shape}.")
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        verdict = "truncated" if len(raw) < expected else "longer than its header says"
        raise IDXFormatError(
            f"{what} is {verdict}: its header declares shape {shape} of {dtype.name} "
            f"({expected:,} bytes with the header) but it holds {len(raw):,} bytes."
        )
    if expect_dtype is not None and dtype != np.dtype(expect_dtype):
        raise IDXFormatError(f"{what} holds {dtype.name} values; expected {np.dtype(expect_dtype).name}.")
    if expect_shape is not None and shape != tuple(expect_shape):
        raise IDXFormatError(f"{what} holds an array of shape {shape}; expected {tuple(expect_shape)}.")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def read_idx(
    path: str | PathLike[str],
    *,
    expect_shape: Sequence[int] | None = None,
    expect_dtype: np.dtype | str | None = None,
) -> np.ndarray:
    """Read an IDX file (``.gz`` or not) from ``path``; see :func:`parse_idx`."""
    if not isinstance(path, (str, PathLike)):
        raise TypeError(f"path must be a file path (str or pathlib.Path) of an IDX file; got {type(path).__name__}.")
    path = Path(path)
    return parse_idx(path.read_bytes(), what=str(path), expect_shape=expect_shape, expect_dtype=expect_dtype)
