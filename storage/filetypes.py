"""Checks on stored bytes: does the content match the declared extension?

Signatures come from the maintained ``filetype`` library. Two checks it cannot make alone are added:
the generic OLE2 compound file (``.doc`` files its Word-specific matcher misses) and the DOCX
container check, which reads the ZIP central directory through ranged reads, never the whole file.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import filetype
from filetype.types import Type

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": DOCX_MIME,
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
ALLOWED_EXTENSIONS: tuple[str, ...] = tuple(MIME_TYPES)

_OLE2_MIME = "application/x-ole-storage"
# What ``filetype`` (or the OLE2 fallback) may report for each extension. An animated PNG is a PNG;
# a DOCX is reported as a plain ZIP when its first entry is not one filetype looks for.
_ACCEPTED: dict[str, frozenset[str]] = {
    "pdf": frozenset({"application/pdf"}),
    "doc": frozenset({"application/msword", _OLE2_MIME}),
    "docx": frozenset({DOCX_MIME, "application/zip"}),
    "jpg": frozenset({"image/jpeg"}),
    "jpeg": frozenset({"image/jpeg"}),
    "png": frozenset({"image/png", "image/apng"}),
}
_LABELS = {
    "pdf": "PDF",
    "doc": "Word (.doc)",
    "docx": "Word (.docx)",
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "png": "PNG",
}
DOCX_REQUIRED_ENTRIES = frozenset({"[Content_Types].xml", "word/document.xml"})

# A DOCX whose entries would expand past either bound is refused (read from the central directory,
# never by expanding anything).
MAX_EXPANDED_BYTES = 100 * 1024 * 1024
MAX_EXPANSION_RATIO = 100
# Where each format ends, and how much may follow its end marker: whitespace and NUL padding only, at
# most TRAILER_TOLERANCE bytes. The end is looked for in the last END_WINDOW bytes.
_END_MARKERS: dict[str, bytes] = {
    "pdf": b"%%EOF",
    "png": b"IEND\xaeB`\x82",  # the IEND chunk type and its fixed CRC
    "jpg": b"\xff\xd9",
    "jpeg": b"\xff\xd9",
}
TRAILER_TOLERANCE = 1024
END_WINDOW = TRAILER_TOLERANCE + 16
_PADDING = b" \t\r\n\x0c\x00"

# The end of a ZIP: the central directory, a ZIP64 locator, the EOCD record and a comment of up to
# 64 KiB. One 128 KiB read covers all of it for any ordinary archive; more costs a second read.
_ZIP_TAIL = 128 * 1024


class CompoundFile(Type):  # type: ignore[misc]  # filetype ships no type hints
    """The OLE2 compound file (Word 97-2003 and other legacy Office formats).

    ``filetype``'s own ``doc`` matcher only knows Word files whose WordDocument stream sits in the
    first sector; this one is consulted only when no library matcher recognised the bytes, so an
    ``.xls`` or ``.ppt`` it does recognise is still reported as such.
    """

    SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

    def __init__(self) -> None:
        super().__init__(mime=_OLE2_MIME, extension="doc")

    def match(self, buf: bytes | bytearray) -> bool:
        return bytes(buf[:8]) == self.SIGNATURE


# Deliberately not filetype.add_type(): that puts a matcher first and would shadow xls/ppt detection.
_FALLBACK_MATCHERS = [CompoundFile()]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``mime_type`` is the type to store when ok, else what was detected."""

    ok: bool
    mime_type: str | None
    reason: str | None = None


def detect(head: bytes) -> str | None:
    """The MIME type the leading bytes show, or None when nothing is recognised."""
    kind: Any = filetype.guess(head) or filetype.match(head, matchers=_FALLBACK_MATCHERS)
    return str(kind.mime) if kind is not None else None


def check_signature(
    extension: str,
    head: bytes,
    *,
    read_range: Callable[[int, int], bytes] | None = None,
    size: int | None = None,
) -> Verdict:
    """Whether a stored file's bytes are what ``extension`` declares.

    ``head`` is the file's first bytes (8 KiB is enough). For ``docx`` the ZIP central directory is
    checked too: pass ``read_range(start, end)`` (bytes ``start`` up to, not including, ``end``) and
    the total ``size``, or a ``head`` that is the whole file.
    """
    ext = extension.lower().lstrip(".")
    if ext not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(ALLOWED_EXTENSIONS)
        return Verdict(False, None, f"files of type {extension!r} are not accepted (allowed: {allowed})")
    if not head or size == 0:
        return Verdict(False, None, "the file is empty")
    detected = detect(head)
    label = _LABELS[ext]
    if detected not in _ACCEPTED[ext]:
        if detected is None:
            return Verdict(False, None, f"the file's content is not recognisable as {label}")
        return Verdict(False, detected, f"the file's content is {detected}, not {label}")
    if ext == "docx":
        reason = _docx_problem(head, read_range, size)
        if reason is not None:
            return Verdict(False, detected, reason)
    if ext in _END_MARKERS:
        reason = _trailer_problem(ext, head, read_range, size)
        if reason is not None:
            return Verdict(False, detected, reason)
    return Verdict(True, MIME_TYPES[ext])


def _trailer_problem(
    ext: str, head: bytes, read_range: Callable[[int, int], bytes] | None, size: int | None
) -> str | None:
    """Why the file does not end where its format ends (another file appended, or cut short), or None."""
    if size is None or size <= len(head):
        data = head if size is None else head[:size]
        tail = data[-END_WINDOW:]
    elif read_range is None:
        raise ValueError("read_range is required when head is not the whole file")
    else:
        start = max(size - END_WINDOW, 0)
        tail = read_range(start, size)
    marker = _END_MARKERS[ext]
    at = tail.rfind(marker)
    label = _LABELS[ext]
    if at < 0:
        return f"the file does not end like a {label} file (other data follows its end, or it is cut short)"
    rest = tail[at + len(marker) :]
    if rest.strip(_PADDING):
        return f"the file carries other data after the end of the {label} content"
    return None


def _docx_problem(head: bytes, read_range: Callable[[int, int], bytes] | None, size: int | None) -> str | None:
    """Why the ZIP is not a Word document, or None when its central directory says it is one."""
    if size is None:
        if read_range is not None:
            raise ValueError("size is required with read_range")
        size = len(head)
    source: io.RawIOBase | io.BytesIO
    if size <= len(head):
        source = io.BytesIO(head[:size])
    elif read_range is None:
        raise ValueError("read_range is required when head is not the whole file")
    else:
        source = RangeReader(read_range, size, head=head)
    try:
        with zipfile.ZipFile(source) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        return "the file is not a valid ZIP container, so not a Word (.docx) document"
    names = {entry.filename for entry in entries}
    expanded = sum(entry.file_size for entry in entries)
    if expanded > MAX_EXPANDED_BYTES or expanded > MAX_EXPANSION_RATIO * size:
        return "the file's ZIP entries would expand far beyond its size (a ZIP bomb), so it is not accepted"
    missing = sorted(DOCX_REQUIRED_ENTRIES - names)
    if missing:
        return f"the file is a ZIP archive but not a Word (.docx) document (no {', '.join(missing)})"
    return None


class RangeReader(io.RawIOBase):
    """A read-only seekable file over ``read_range(start, end)``, fetching only what is read.

    The known ``head`` and, on first use, the last 128 KiB (where a ZIP keeps its directory) are
    cached, so opening a typical archive with ``zipfile`` costs a single ranged read.
    """

    def __init__(self, read_range: Callable[[int, int], bytes], size: int, *, head: bytes = b"") -> None:
        super().__init__()
        self._read_range = read_range
        self._size = size
        self._pos = 0
        self._cache: list[tuple[int, bytes]] = [(0, head)] if head else []
        self._tail_start = max(size - _ZIP_TAIL, 0)
        self._tail_loaded = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise OSError("negative seek position")
        self._pos = position
        return position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        data = self._fetch(self._pos, self._pos + want)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _fetch(self, start: int, end: int) -> bytes:
        if not self._tail_loaded and start >= self._tail_start:
            self._cache.append((self._tail_start, self._read_range(self._tail_start, self._size)))
            self._tail_loaded = True
        for offset, data in self._cache:
            if offset <= start and end <= offset + len(data):
                return data[start - offset : end - offset]
        return self._read_range(start, end)


_UNSAFE = re.compile(r'[\\/:*?"<>|]+')
_SPACES = re.compile(r"\s+")
MAX_FILENAME = 150


def safe_filename(name: str, extension: str) -> str:
    """A download or ZIP-entry filename from a user-given ``name``: no paths, no control characters,
    no leading dots, at most 150 characters, never empty; letters in any script are kept."""
    ext = re.sub(r"[^0-9a-z]", "", extension.lower())
    suffix = f".{ext}" if ext else ""
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", name))
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = _SPACES.sub(" ", _UNSAFE.sub("_", text))
    if suffix and text.lower().endswith(suffix):
        text = text[: -len(suffix)]
    text = text.lstrip(" ._-")
    # Windows drops trailing dots and spaces; a cut may leave some.
    text = text.rstrip(" .")[: MAX_FILENAME - len(suffix)].rstrip(" .")
    return f"{text or 'document'}{suffix}"
