"""Stored bytes against the declared extension, and filenames safe to hand back."""

from __future__ import annotations

import io
import random

import pytest
from ats.storage import ALLOWED_EXTENSIONS, MIME_TYPES, check_signature, safe_filename
from ats.storage.filetypes import DOCX_MIME, RangeReader

from tests.samples import (
    CONTENT_TYPES,
    DOCUMENT,
    DOCX,
    EXCEL_97,
    EXE,
    JPEG,
    OLE2,
    PDF,
    PLAIN_ZIP,
    PNG,
    WORD_97,
    XLSX_LIKE,
)
from tests.samples import make_zip as _zip


@pytest.mark.parametrize(
    ("extension", "data", "mime"),
    [
        ("pdf", PDF, "application/pdf"),
        ("png", PNG, "image/png"),
        ("jpg", JPEG, "image/jpeg"),
        ("jpeg", JPEG, "image/jpeg"),
        ("doc", OLE2, "application/msword"),
        ("doc", WORD_97, "application/msword"),
        ("docx", DOCX, DOCX_MIME),
        ("PDF", PDF, "application/pdf"),
    ],
)
def test_matching_content_is_accepted(extension: str, data: bytes, mime: str) -> None:
    verdict = check_signature(extension, data)
    assert verdict.ok, verdict.reason
    assert verdict.mime_type == mime
    assert verdict.reason is None


def test_mime_types_cover_every_allowed_extension() -> None:
    assert set(MIME_TYPES) == set(ALLOWED_EXTENSIONS)


def test_pdf_with_png_bytes_is_rejected() -> None:
    verdict = check_signature("pdf", PNG)
    assert not verdict.ok
    assert verdict.mime_type == "image/png"
    assert verdict.reason is not None and "image/png" in verdict.reason and "PDF" in verdict.reason


@pytest.mark.parametrize(
    ("extension", "data"), [("png", JPEG), ("jpg", PNG), ("doc", PDF), ("docx", OLE2), ("doc", EXCEL_97)]
)
def test_other_mismatches_are_rejected(extension: str, data: bytes) -> None:
    assert not check_signature(extension, data).ok


@pytest.mark.parametrize("extension", ALLOWED_EXTENSIONS)
def test_an_executable_is_rejected_whatever_it_claims(extension: str) -> None:
    verdict = check_signature(extension, EXE)
    assert not verdict.ok
    assert verdict.mime_type == "application/x-msdownload"


@pytest.mark.parametrize("extension", ALLOWED_EXTENSIONS)
def test_unrecognisable_bytes_are_rejected(extension: str) -> None:
    verdict = check_signature(extension, b"just some text, nothing more\n" * 10)
    assert not verdict.ok
    assert verdict.mime_type is None
    assert verdict.reason is not None and "not recognisable" in verdict.reason


def test_a_plain_zip_is_not_a_docx() -> None:
    verdict = check_signature("docx", PLAIN_ZIP)
    assert not verdict.ok
    assert verdict.reason is not None
    assert "ZIP archive but not a Word (.docx) document" in verdict.reason
    assert "[Content_Types].xml" in verdict.reason and "word/document.xml" in verdict.reason


def test_an_office_zip_without_the_word_part_is_not_a_docx() -> None:
    verdict = check_signature("docx", XLSX_LIKE)
    assert not verdict.ok
    assert verdict.mime_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    # When the first entries tell filetype nothing, the central directory check still refuses it.
    fillers = {f"customXml/item{i}.xml": b"<item/>" for i in range(5)}
    hidden = _zip({"[Content_Types].xml": CONTENT_TYPES, **fillers, "xl/workbook.xml": b"<workbook/>"})
    verdict = check_signature("docx", hidden)
    assert not verdict.ok
    assert verdict.reason is not None and "word/document.xml" in verdict.reason


def test_a_broken_zip_is_not_a_docx() -> None:
    verdict = check_signature("docx", DOCX[:200])
    assert not verdict.ok
    assert verdict.reason is not None and "not a valid ZIP container" in verdict.reason


@pytest.mark.parametrize("extension", ["exe", "zip", "txt", "html", "", "svg"])
def test_unknown_extensions_are_rejected(extension: str) -> None:
    verdict = check_signature(extension, PDF)
    assert not verdict.ok
    assert verdict.reason is not None and "not accepted" in verdict.reason


def test_empty_content_is_rejected() -> None:
    assert check_signature("pdf", b"").reason == "the file is empty"
    assert check_signature("pdf", PDF, size=0).reason == "the file is empty"


class CountingRange:
    """read_range over bytes in memory, remembering what was asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, start: int, end: int) -> bytes:
        self.calls.append((start, end))
        return self.data[start:end]


NOISE = random.Random(7).randbytes(1_600_000)  # incompressible: the archive stays this large


def _large_docx(comment: bytes = b"") -> bytes:
    entries = {
        "[Content_Types].xml": CONTENT_TYPES,
        "word/media/image1.bin": NOISE,
        "word/document.xml": DOCUMENT,
    }
    return _zip(entries, comment=comment)


def test_large_docx_is_checked_from_its_tail_only() -> None:
    data = _large_docx()
    assert len(data) > 1_500_000
    reader = CountingRange(data)
    verdict = check_signature("docx", data[:8192], read_range=reader, size=len(data))
    assert verdict.ok, verdict.reason
    fetched = sum(end - start for start, end in reader.calls)
    assert len(reader.calls) == 1 and fetched <= 131_072, reader.calls


def test_large_plain_zip_is_rejected_through_ranges() -> None:
    data = _zip({"a.bin": NOISE, "b.txt": b"x"})
    reader = CountingRange(data)
    verdict = check_signature("docx", data[:8192], read_range=reader, size=len(data))
    assert not verdict.ok
    assert sum(end - start for start, end in reader.calls) <= 131_072


def test_docx_with_the_longest_comment_still_takes_one_read() -> None:
    data = _large_docx(comment=b"c" * 65_535)
    reader = CountingRange(data)
    verdict = check_signature("docx", data[:8192], read_range=reader, size=len(data))
    assert verdict.ok, verdict.reason
    assert len(reader.calls) == 1


def test_docx_whose_directory_is_larger_than_the_tail_window() -> None:
    entries = {"[Content_Types].xml": CONTENT_TYPES, "word/media/image1.bin": NOISE}
    entries |= {f"word/parts/{'p' * 60}{i:05}.xml": b"" for i in range(2500)}
    entries["word/document.xml"] = DOCUMENT
    data = _zip(entries)
    reader = CountingRange(data)
    verdict = check_signature("docx", data[:8192], read_range=reader, size=len(data))
    assert verdict.ok, verdict.reason
    assert len(reader.calls) == 2
    assert sum(end - start for start, end in reader.calls) < 600_000 < len(data)


def test_docx_larger_than_head_needs_read_range() -> None:
    data = _large_docx()
    with pytest.raises(ValueError, match="read_range"):
        check_signature("docx", data[:8192], size=len(data))
    with pytest.raises(ValueError, match="size"):
        check_signature("docx", data[:8192], read_range=CountingRange(data))


def test_range_reader_behaves_like_a_file() -> None:
    data = bytes(range(256)) * 1000
    reader = RangeReader(CountingRange(data), len(data), head=data[:100])
    assert reader.read(10) == data[:10]
    assert reader.seek(-5, io.SEEK_END) == len(data) - 5
    assert reader.read() == data[-5:]
    assert reader.read(10) == b""
    reader.seek(1000)
    reader.seek(24, io.SEEK_CUR)
    assert reader.tell() == 1024
    assert reader.read(4) == data[1024:1028]
    with pytest.raises(OSError):
        reader.seek(-1)


@pytest.mark.parametrize(
    ("name", "extension", "expected"),
    [
        ("../../etc/passwd", "pdf", "etc_passwd.pdf"),
        ("..\\..\\windows\\system32", "doc", "windows_system32.doc"),
        ("a\x00b", "pdf", "ab.pdf"),
        ("line\r\nbreak\ttab", "png", "line break tab.png"),
        ("", "pdf", "document.pdf"),
        ("   ", "pdf", "document.pdf"),
        ("...", "docx", "document.docx"),
        ("\x00\x01", "pdf", "document.pdf"),
        (".hidden", "jpg", "hidden.jpg"),
        ("Lebenslauf_Müller", "pdf", "Lebenslauf_Müller.pdf"),
        ("Résumé 履歴書", "docx", "Résumé 履歴書.docx"),
        ("Resume.PDF", "pdf", "Resume.pdf"),
        ('what: "a" <b>|c?*', "pdf", "what_ _a_ _b_c_.pdf"),
        ("evil\u202etxt.exe", "pdf", "eviltxt.exe.pdf"),
        ("CV", "", "CV"),
    ],
)
def test_safe_filename(name: str, extension: str, expected: str) -> None:
    assert safe_filename(name, extension) == expected


def test_safe_filename_caps_the_length() -> None:
    result = safe_filename("ü" * 500, "docx")
    assert len(result) == 150
    assert result.endswith(".docx") and result.startswith("ü")
    assert safe_filename("x" * 145 + "....." + "y", "pdf").endswith(".pdf")
    assert len(safe_filename("a" * 149 + ". b", "pdf")) <= 150


def _lying_sizes(archive: bytes, size: int) -> bytes:
    """The archive with every central-directory entry claiming ``size`` uncompressed bytes."""
    out = bytearray(archive)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        out[at + 24 : at + 28] = size.to_bytes(4, "little")
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def test_a_docx_that_expands_a_hundredfold_is_rejected() -> None:
    bomb = _zip({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": DOCUMENT, "word/a.xml": b"0" * 4_000_000})
    assert len(bomb) * 100 < 4_000_000
    verdict = check_signature("docx", bomb)
    assert not verdict.ok
    assert verdict.reason is not None and "ZIP bomb" in verdict.reason


def test_a_docx_whose_directory_claims_more_than_100_mib_is_rejected_without_expanding_it() -> None:
    # Incompressible content keeps the ratio under 100: only the absolute bound can catch it.
    noise = random.Random(3).randbytes(2 * 1024 * 1024)
    honest = _zip({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": DOCUMENT, "word/media/n.bin": noise})
    assert check_signature("docx", honest).ok
    bomb = _lying_sizes(honest, 101 * 1024 * 1024 // 3)
    fetched: list[int] = []

    def read_range(start: int, end: int) -> bytes:
        fetched.append(end - start)
        return bomb[start:end]

    verdict = check_signature("docx", bomb[:8192], read_range=read_range, size=len(bomb))
    assert not verdict.ok
    assert verdict.reason is not None and "ZIP bomb" in verdict.reason
    assert sum(fetched) <= 128 * 1024  # only the central directory was read, nothing was expanded


@pytest.mark.parametrize(
    ("extension", "data"),
    [
        ("pdf", PDF + PLAIN_ZIP),
        ("pdf", PDF + EXE),
        ("pdf", PDF + b"x"),
        ("pdf", PDF[: PDF.rindex(b"%%EOF")]),  # cut short: no end
        ("pdf", PDF + b"\n" * 2000 + b"trailing"),
        ("png", PNG + PLAIN_ZIP),
        ("png", PNG + b"<?php echo 1; ?>"),
        ("png", PNG[:-12]),  # no IEND
        ("jpg", JPEG + PLAIN_ZIP),
        ("jpeg", JPEG + PDF),
        ("jpg", JPEG[:-2]),  # no EOI
    ],
)
def test_data_after_the_end_of_a_pdf_png_or_jpeg_is_rejected(extension: str, data: bytes) -> None:
    verdict = check_signature(extension, data)
    assert not verdict.ok
    assert verdict.reason is not None


@pytest.mark.parametrize(
    ("extension", "data"),
    [("pdf", PDF + b"\r\n \n"), ("pdf", PDF + b"\x00" * 512), ("png", PNG + b"\n"), ("jpg", JPEG + b"\x00\x00")],
)
def test_whitespace_or_padding_after_the_end_is_tolerated(extension: str, data: bytes) -> None:
    assert check_signature(extension, data).ok


def test_trailing_data_is_found_through_ranged_reads() -> None:
    body = PDF.replace(b"endobj", b"endobj\n%" + b"x" * 20_000 + b"\n")
    for data, ok in ((body, True), (body + PLAIN_ZIP, False)):
        verdict = check_signature(
            "pdf", data[:8192], read_range=lambda start, end, data=data: data[start:end], size=len(data)
        )
        assert verdict.ok is ok, verdict.reason
