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
