"""The ZIP export, streamed: memory stays bounded by one chunk whatever the documents weigh."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator

from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

DocumentSource = tuple[str, Callable[[], Iterator[bytes]]]


class _Deferred:
    """An iterable that opens its source only when the stream reaches it (zipstream iterates it once)."""

    __slots__ = ("_open",)

    def __init__(self, open_chunks: Callable[[], Iterator[bytes]]) -> None:
        self._open = open_chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._open())


def unique_names(names: Iterable[str]) -> Iterator[str]:
    """Each name, with `` (2)``, `` (3)``… before the extension when an earlier one is the same.

    Names compare case-insensitively, so the archive also unpacks cleanly on Windows and macOS.
    """
    taken: set[str] = set()
    for name in names:
        stem, ext = posixpath.splitext(name)
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem} ({n}){ext}"
        taken.add(candidate.casefold())
        yield candidate


def stream_zip(
    data_json: bytes,
    report_pdf: bytes,
    documents: Iterable[DocumentSource],
) -> Iterator[bytes]:
    """The export archive: ``data.json``, ``report.pdf`` and ``documents/<name>`` for each document.

    ``documents`` pairs a safe file name with a factory of the document's byte chunks; a factory is
    called only when the stream reaches its entry, and its chunks pass straight through (stored,
    not recompressed). Blocking if the chunks are: iterate it off the event loop.
    """
    archive = ZipStream(compress_type=ZIP_STORED)
    archive.add(data_json, "data.json", compress_type=ZIP_DEFLATED)
    archive.add(report_pdf, "report.pdf")
    sources = list(documents)
    names = unique_names(name or "document" for name, _ in sources)
    for name, (_, open_chunks) in zip(names, sources, strict=True):
        archive.add(_Deferred(open_chunks), f"documents/{name}")
    yield from archive
