"""Export rendering: JSON against its published schema, the PDF report, the streamed ZIP. Memory only."""

from __future__ import annotations

import io
import ipaddress
import json
import re
import time
import tracemalloc
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fontTools.ttLib
import msgspec
import pypdf
import pytest
from ats.exports import (
    SCHEMA_ID,
    ExportBundle,
    ExportDocument,
    ExportHistoryEntry,
    ExportNote,
    ExportPrivacy,
    ExportRating,
    ExportWebhookDelivery,
    PersonExport,
    json_schema,
    person_to_json_bytes,
    render_pdf,
    render_person_pdf,
    stream_zip,
    to_json_bytes,
    unique_names,
)
from ats.exports.fonts import FONTS, SANS, font_markup, font_path, script_runs
from ats.exports.pdf import _size, as_text, humanise, markup

from ats import exports

SCHEMA_PATH = Path(exports.__file__).parent / "schema" / "application-export-v1.json"
TOP_LEVEL = [
    "schema",
    "generated_at",
    "application",
    "job",
    "status_history",
    "ratings",
    "notes",
    "documents",
    "webhook_deliveries",
]
MIB = 1024 * 1024
T0 = datetime(2025, 1, 16, 9, 0, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-8000-{n:012d}")


def pdf_text(pdf: bytes) -> str:
    """The text of every page, as a reader's copy and paste would give it (pypdf)."""
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def marker(name: str) -> str:
    return f"MRK{name}X"


def application(**overrides: Any) -> dict[str, Any]:
    """Every column of ``ats.models.Application``, strings carrying unique markers."""
    values: dict[str, Any] = {
        "id": uuid.UUID("00000000-0000-4000-8000-000000000001"),
        "account_id": uuid.UUID("00000000-0000-4000-8000-000000000002"),
        "job_id": uuid.UUID("00000000-0000-4000-8000-000000000003"),
        "status": "interview",
        "status_rank": 3,
        "previous_status": "screening",
        "status_changed_at": T0.astimezone(CEST),
        "name": marker("Name"),
        "salutation": marker("Salutation"),
        "first_name": marker("FirstName"),
        "last_name": marker("LastName"),
        "email": f"{marker('Email')}@example.com",
        "phone": marker("Phone"),
        "street": marker("Street"),
        "postal_code": marker("PostalCode"),
        "city": marker("City"),
        "country": marker("Country"),
        "cover_letter": f"{marker('CoverLetter')}\nsecond line",
        "custom_fields": {marker("CustomKey"): marker("CustomValue"), "b_years": 5, "a_list": ["x", "y"]},
        "source": marker("Source"),
        "consent_privacy_policy": True,
        "consent_privacy_policy_version": marker("PolicyVersion"),
        "consent_talent_pool": False,
        "consented_at": T0,
        "consent_ip": marker("ConsentIp"),
        "legal_hold": False,
        "rating_total": 7,
        "rating_count": 2,
        "version": 4,
        "created_by": None,
        "created_at": T0,
        "updated_at": T0 + timedelta(hours=1),
    }
    values.update(overrides)
    return values


def bundle(*, include_internal: bool = True, **overrides: Any) -> ExportBundle:
    fields: dict[str, Any] = {
        "application": application(),
        "job": {"id": uuid.UUID("00000000-0000-4000-8000-000000000003"), "title": marker("JobTitle")},
        "history": [
            ExportHistoryEntry("new", T0, None, None, None),
            ExportHistoryEntry(
                "interview",
                T0 + timedelta(days=2),
                marker("ChangedBy"),
                marker("HistoryNote"),
                marker("Reason"),
            ),
        ],
        "ratings": [
            ExportRating(marker("Reviewer"), 4, {marker("Criterion"): 5, "culture": 3}, T0, T0),
            ExportRating(None, 3, {}, T0, T0 + timedelta(minutes=5)),
        ],
        "notes": [
            ExportNote(uid(11), marker("ExternalNote"), False, marker("NoteAuthor"), T0, T0),
            ExportNote(uid(12), marker("InternalNote"), True, None, T0, T0 + timedelta(hours=3)),
        ],
        "documents": [
            ExportDocument(
                uid(21),
                "cv",
                f"{marker('Filename')}.pdf",
                "application/pdf",
                12345,
                "uploaded",
                T0,
                "pdf",
                T0,
                marker("DocumentName"),
            ),
            ExportDocument(uid(22), "other", "scan.png", None, None, "uploading", T0),
        ],
        "generated_at": datetime(2025, 2, 1, 14, 30, 5, tzinfo=CEST),
        "include_internal": include_internal,
    }
    fields.update(overrides)
    return ExportBundle(**fields)


MARKERS = [
    "Name",
    "Salutation",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Street",
    "PostalCode",
    "City",
    "Country",
    "CoverLetter",
    "CustomKey",
    "CustomValue",
    "Source",
    "PolicyVersion",
    "ConsentIp",
    "JobTitle",
    "ChangedBy",
    "HistoryNote",
    "Reason",
    "Reviewer",
    "Criterion",
    "ExternalNote",
    "NoteAuthor",
    "InternalNote",
    "Filename",
    "DocumentName",
]


# --- JSON -----------------------------------------------------------------------------------------


def test_json_has_the_published_shape_in_order() -> None:
    document = json.loads(to_json_bytes(bundle()))

    assert list(document) == TOP_LEVEL
    assert document["schema"] == SCHEMA_ID
    assert document["generated_at"] == "2025-02-01T12:30:05Z"
    app = document["application"]
    assert list(app) == sorted(app)
    assert list(app["custom_fields"]) == sorted(app["custom_fields"])
    assert app["id"] == "00000000-0000-4000-8000-000000000001"
    assert app["status_changed_at"] == "2025-01-16T09:00:00Z"
    assert app["created_by"] is None
    assert document["status_history"][1] == {
        "status": "interview",
        "changed_at": "2025-01-18T09:00:00Z",
        "changed_by_name": marker("ChangedBy"),
        "note": marker("HistoryNote"),
        "reason": marker("Reason"),
        "id": None,
        "from_status": None,
        "changed_by_id": None,
    }
    assert document["documents"][1]["mime_type"] is None
    assert document["documents"][1]["uploaded_at"] is None


def test_json_carries_every_field_and_every_marker() -> None:
    encoded = to_json_bytes(bundle()).decode()
    for name in MARKERS:
        assert marker(name) in encoded, name
    assert set(json.loads(encoded)["application"]) == set(application())


def test_json_renders_any_application_keys_generically() -> None:
    extra = application(
        future_column=marker("Future"),
        consent_ip=ipaddress.ip_address("203.0.113.9"),
        nested={"z": [T0.astimezone(CEST)], "a": None},
    )
    document = json.loads(to_json_bytes(bundle(application=extra)))

    assert document["application"]["future_column"] == marker("Future")
    assert document["application"]["consent_ip"] == "203.0.113.9"
    assert document["application"]["nested"] == {"a": None, "z": ["2025-01-16T09:00:00Z"]}


def test_json_refuses_a_value_it_cannot_represent() -> None:
    with pytest.raises(TypeError):
        to_json_bytes(bundle(application=application(odd=object())))


def test_json_is_stable() -> None:
    reordered = dict(reversed(list(application().items())))
    assert to_json_bytes(bundle()) == to_json_bytes(bundle(application=reordered))


def test_internal_notes_only_when_included() -> None:
    shown = json.loads(to_json_bytes(bundle(include_internal=True)))["notes"]
    hidden = json.loads(to_json_bytes(bundle(include_internal=False)))["notes"]

    assert [n["internal"] for n in shown] == [False, True]
    assert [n["content"] for n in hidden] == [marker("ExternalNote")]
    assert marker("InternalNote") not in pdf_text(render_pdf(bundle(include_internal=False)))
    assert marker("InternalNote") in pdf_text(render_pdf(bundle(include_internal=True)))


# --- the published schema -------------------------------------------------------------------------
# `jsonschema` is not installed in this project, so these check the schema's own required keys and closed
# shapes against the output rather than running a full validator.


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_bytes())
    return schema


def test_schema_is_published_with_the_package() -> None:
    assert json_schema() == SCHEMA_PATH.read_bytes()
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema["properties"]["schema"]["const"] == SCHEMA_ID


def _check(instance: Any, shape: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    """The subset of JSON Schema the export schema uses: $ref, type, const, enum, required, properties."""
    if "$ref" in shape:
        shape = defs[shape["$ref"].removeprefix("#/$defs/")]
    if "oneOf" in shape:
        failures = 0
        for option in shape["oneOf"]:
            try:
                _check(instance, option, defs, where)
            except AssertionError:
                failures += 1
        assert failures == len(shape["oneOf"]) - 1, f"{where}: {instance!r} matches not exactly one option"
        return
    kinds = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "boolean": bool,
        "null": type(None),
    }
    if "type" in shape:
        allowed = shape["type"] if isinstance(shape["type"], list) else [shape["type"]]
        assert any(
            isinstance(instance, kinds[t]) and not (t == "integer" and isinstance(instance, bool)) for t in allowed
        ), f"{where}: {instance!r} is not {allowed}"
    if "const" in shape:
        assert instance == shape["const"], where
    if "enum" in shape:
        assert instance in shape["enum"], where
    if isinstance(instance, str) and "pattern" in shape:
        assert instance.endswith("Z"), f"{where}: {instance!r} is not UTC"
    if isinstance(instance, str) and shape.get("format") == "date-time":
        datetime.fromisoformat(instance)
    if isinstance(instance, str) and shape.get("format") == "uuid":
        uuid.UUID(instance)
    if isinstance(instance, dict):
        missing = set(shape.get("required", ())) - set(instance)
        assert not missing, f"{where}: missing {missing}"
        properties = shape.get("properties", {})
        if shape.get("additionalProperties") is False:
            assert set(instance) <= set(properties), f"{where}: unexpected {set(instance) - set(properties)}"
        for key, value in instance.items():
            if key in properties:
                _check(value, properties[key], defs, f"{where}/{key}")
            elif isinstance(shape.get("additionalProperties"), dict):
                _check(value, shape["additionalProperties"], defs, f"{where}/{key}")
    if isinstance(instance, list) and "items" in shape:
        for i, item in enumerate(instance):
            _check(item, shape["items"], defs, f"{where}/{i}")


@pytest.mark.parametrize("include_internal", [True, False])
def test_json_conforms_to_the_schema(include_internal: bool) -> None:
    schema = _schema()
    document = json.loads(to_json_bytes(bundle(include_internal=include_internal)))

    assert schema["required"] == TOP_LEVEL
    _check(document, schema, schema["$defs"], "")


def test_schema_lists_every_candidate_column() -> None:
    listed = set(_schema()["$defs"]["application"]["properties"])
    assert set(application()) <= listed


def test_schema_check_catches_a_broken_document() -> None:
    schema = _schema()
    document = json.loads(to_json_bytes(bundle()))
    del document["notes"][0]["author_name"]
    with pytest.raises(AssertionError, match="author_name"):
        _check(document, schema, schema["$defs"], "")


# --- PDF ------------------------------------------------------------------------------------------


def test_pdf_shows_every_field() -> None:
    pdf = render_pdf(bundle())
    text = pdf_text(pdf)

    assert pdf.startswith(b"%PDF-")
    for name in MARKERS:
        assert marker(name) in text, name
    for label in (
        "Privacy policy version",
        "Consent given from IP address",
        "Job title",
        "Status history (2)",
        "Notes (2)",
    ):
        assert label in text, label


def test_pdf_compressed_by_default() -> None:
    pdf = render_pdf(bundle())
    plain = render_pdf(bundle(), compress=False)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) < len(plain) and pdf.count(b"/FlateDecode") > plain.count(b"/FlateDecode")


def test_pdf_escapes_markup() -> None:
    hostile = f"{marker('Markup')} a & b <b>bold</b> <font size=40>x</font> 1 > 0 &amp;"
    text = pdf_text(render_pdf(bundle(application=application(name=hostile, phone="<unclosed"))))

    assert "a & b <b>bold</b> <font size=40>x</font> 1 > 0 &amp;" in text
    assert "<unclosed" in text


def test_pdf_survives_unicode_none_and_control_characters() -> None:
    odd = application(
        name="Zoë Müller \u2013 Łódź",
        city="東京 😀",
        street="tab\there\x00nul\x0bvt\r\nwindows line",
        salutation=None,
        phone=None,
        cover_letter=None,
        custom_fields={},
    )
    quiet = bundle(
        application=odd,
        history=[ExportHistoryEntry("new", T0, None, None, None)],
        ratings=[ExportRating(None, 1, {}, T0, T0)],
        notes=[ExportNote(uuid.uuid4(), "", False, None, T0, T0)],
        documents=[ExportDocument(uuid.uuid4(), "other", "Łódź.pdf", None, None, "rejected", T0)],
    )
    text = pdf_text(render_pdf(quiet))

    assert "Zoë Müller \u2013 Łódź" in text
    assert "東京" in text and "tab here nul vt" in text


def test_pdf_of_empty_sections() -> None:
    empty = bundle(application={}, job={}, history=[], ratings=[], notes=[], documents=[])
    text = pdf_text(render_pdf(empty))
    assert "Status history (0)" in text
    assert "None." in text


def test_pdf_prints_long_values_in_full() -> None:
    cover_letter = "\n".join(f"line {i} of the letter & more" for i in range(400)) + marker("LetterEnd")
    one_word = "x" * 5000 + marker("WordEnd")
    long_note = "word " * 4000 + marker("HistoryEnd")
    pdf = render_pdf(
        bundle(
            application=application(cover_letter=cover_letter, street=one_word),
            history=[ExportHistoryEntry("new", T0, None, long_note, None)],
        ),
    )
    text = pdf_text(pdf).replace("\n", " ")
    for end in ("LetterEnd", "HistoryEnd"):
        assert marker(end) in text, end
    assert "(in full below: Cover letter)" in text


def test_pdf_of_200_notes_and_50_history_entries_is_quick() -> None:
    notes = [
        ExportNote(uuid.uuid4(), f"{marker(f'Note{i}')} " + "talked about the role " * 20, i % 3 == 0, "Ann", T0, T0)
        for i in range(200)
    ]
    history = [
        ExportHistoryEntry("screening", T0 + timedelta(hours=i), "Bob", f"{marker(f'Step{i}')} moved", "fit")
        for i in range(50)
    ]
    big = bundle(notes=notes, history=history)

    started = time.perf_counter()
    pdf = render_pdf(big, compress=False)
    elapsed = time.perf_counter() - started

    print(f"PDF with 200 notes and 50 history entries: {elapsed:.3f} s, {len(pdf)} bytes")
    assert elapsed < 10
    text = pdf_text(pdf)
    assert marker("Note199") in text
    assert marker("Step49") in text
    assert "Notes (200)" in text


NAMES = {
    "latin": "Zofia Łukasiewicz-Müller",
    "greek": "Ζωή Παπαδοπούλου",
    "cyrillic": "Жанна Иванова",
    "chinese": "王小明",
    "japanese": "山田太郎",
    "korean": "김민준",
    "arabic": "محمد علي",
    "hebrew": "דוד כהן",
    "devanagari": "अनीता शर्मा",
    "thai": "สมชาย ใจดี",
    "vietnamese": "Nguyễn Thị Hương",
}
# Shaped scripts do not extract back verbatim: the PDF holds glyphs, and their ToUnicode map gives what each
# glyph stands for. Arabic extracts as presentation forms (final yeh shares its glyph with Farsi yeh), marks
# come out as separate characters, the reph of "र्म" (drawn above the next letter) has no mapping, and a
# reader may give right-to-left words in visual order. These compare letters only, after the same folding.
SHAPED = {"arabic", "hebrew", "devanagari", "thai", "vietnamese"}
RTL = {"arabic", "hebrew"}
_YEH = str.maketrans({"ی": "ي", "ى": "ي"})


def _exact(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text) if not c.isspace())


def _letters(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.replace("र्", "")).translate(_YEH)
    return "".join(c for c in text if unicodedata.category(c)[0] not in "MZC")


def test_script_runs_split_text_by_font() -> None:
    assert script_runs("") == []
    assert script_runs("Zofia Łukasiewicz-Müller") == [(SANS, "Zofia Łukasiewicz-Müller")]
    assert script_runs("Ζωή, Жанна & Nguyễn") == [(SANS, "Ζωή, Жанна & Nguyễn")]
    assert script_runs("Name: محمد علي (CV)") == [(SANS, "Name: "), ("ats-arabic", "محمد علي ("), (SANS, "CV)")]
    assert script_runs("山田太郎 / 김민준") == [("ats-cjk", "山田太郎 / 김민준")]
    assert script_runs(" דוד כהן") == [("ats-hebrew", " דוד כהן")]
    assert script_runs("अनीता शर्मा, สมชาย") == [("ats-devanagari", "अनीता शर्मा, "), ("ats-thai", "สมชาย")]
    for name in NAMES.values():
        assert "".join(run for _, run in script_runs(f"a {name} b")) == f"a {name} b"


def test_font_markup_escapes_each_run() -> None:
    assert font_markup("a<b & 王") == 'a&lt;b &amp; <font name="ats-cjk">王</font>'
    assert font_markup("x\r\ny\x00z") == "x<br/>y z"


def test_every_character_of_every_script_has_a_glyph() -> None:
    """Each run's font has a glyph for each of its characters: nothing prints as a box."""
    cmaps: dict[str, dict[int, str]] = {}
    for name in NAMES.values():
        for font, run in script_runs(name):
            if font not in cmaps:
                spec = FONTS[font]
                cmaps[font] = fontTools.ttLib.TTFont(font_path(font), fontNumber=spec.subfont, lazy=True).getBestCmap()
            missing = [c for c in run if not c.isspace() and ord(c) not in cmaps[font]]
            assert not missing, (name, font, missing)


def test_pdf_prints_names_in_every_script() -> None:
    story = "\n".join(NAMES.values())
    pdf = render_pdf(bundle(application=application(name=NAMES["latin"], cover_letter=story, city="Łódź")))
    text = pdf_text(pdf)

    for script, name in NAMES.items():
        if script not in SHAPED:
            assert _exact(name) in _exact(text), script
            continue
        orders = [name, " ".join(reversed(name.split()))] if script in RTL else [name]
        assert any(_letters(order) in _letters(text) for order in orders), script
    # every font the text is set in is embedded (FontFile2) and a subset ("AAAAAA+"); reportlab lists Helvetica
    # in each page's resources as its canvas default, but no text is set in it
    embedded: dict[str, bool] = {}
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if font["/BaseFont"] != "/Helvetica":
                embedded[font["/BaseFont"]] = "/FontFile2" in font["/FontDescriptor"].get_object()
    base_names = {name.split("+", 1)[1] for name in embedded}
    assert all(embedded.values()) and all("+" in name for name in embedded), embedded
    assert {"NotoSans-Regular", "NotoSansArabic-Regular", "NotoSansDevanagari-Regular", "NotoSansThai-Regular"} <= (
        base_names
    ), base_names
    assert any(name.startswith("WenQuanYiMicroHei") for name in base_names), base_names
    assert len(pdf) < 400_000, len(pdf)
    print(f"PDF with names in 11 scripts: {len(pdf)} bytes")


def test_pdf_answers_an_access_request() -> None:
    privacy = ExportPrivacy(
        controller_name="Muster Recruiting GmbH",
        controller_email="privacy@muster.example",
        controller_address="Hauptstraße 1, 10115 Berlin",
        dpo_email="dpo@muster.example",
        supervisory_authority="Berliner Beauftragte für Datenschutz",
        retention_days=180,
        talent_pool_days=730,
        retention_ends=datetime(2026, 7, 1, 12, tzinfo=UTC),
    )
    text = pdf_text(render_pdf(bundle(privacy=privacy))).replace("\n", " ")

    for expected in (
        "Who holds your data",
        "Muster Recruiting GmbH",
        "privacy@muster.example",
        "Hauptstraße 1, 10115 Berlin",
        "dpo@muster.example",
        "Why",
        "What data",
        "Who receives it",
        "How long it is kept",
        "180 days after it is rejected or withdrawn",
        "730 days",
        "ends on 1 July 2026",
        "rectification",
        "erasure",
        "restriction",
        "objection",
        "supervisory authority (Art. 77 GDPR): Berliner Beauftragte für Datenschutz",
        "Where the data comes from",
        "source recorded: " + marker("Source"),
    ):
        assert expected in text, expected
    # the service's bookkeeping is not the person's data
    values = application()
    for label in ("Status rank", "Rating total", "Rating count", "Version", "Account ID", "Job ID", "Created by"):
        assert not re.search(rf"\b{label}\b", text), label
    assert str(values["account_id"]) not in text and str(values["job_id"]) not in text
    assert str(values["id"]) in text  # the application's own id is how the person refers to it


def test_pdf_says_when_retention_has_not_started_or_is_held() -> None:
    open_ = pdf_text(render_pdf(bundle(privacy=ExportPrivacy("Acme", retention_days=90)))).replace("\n", " ")
    held = ExportPrivacy("Acme", retention_ends=T0, legal_hold=True)
    held_text = pdf_text(render_pdf(bundle(privacy=held))).replace("\n", " ")
    assert "still open" in open_ and "90 days after the decision" in open_
    assert "legal hold" in held_text and "ends on" not in held_text


def test_labels_and_values() -> None:
    assert humanise("consent_privacy_policy_version") == "Consent privacy policy version"
    assert humanise("consent_ip") == "Consent IP"
    assert humanise("id") == "ID"
    assert humanise("job_id") == "Job ID"
    assert as_text(None) == "—"
    assert as_text(True) == "Yes"
    assert as_text(T0.astimezone(CEST)) == "2025-01-16 09:00:00 UTC"
    assert as_text({"b": 1, "a": [1, 2]}) == "b: 1\na: [1,2]"
    assert as_text([]) == "—"
    assert _size(1234567) == "1.2 MiB (1,234,567 bytes)"
    assert _size(512) == "512 bytes"
    assert markup("a & <b>\nc") == "a &amp; &lt;b&gt;<br/>c"


# --- ZIP ------------------------------------------------------------------------------------------


def chunks_of(*parts: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter(parts)


def test_zip_holds_data_report_and_documents() -> None:
    data_json = to_json_bytes(bundle())
    report = render_pdf(bundle())
    cv = b"%PDF-1.4 cv " * 1000
    photo = bytes(range(256)) * 40

    archive = b"".join(
        stream_zip(data_json, report, [("cv.pdf", chunks_of(cv[:5000], cv[5000:])), ("me.png", chunks_of(photo))])
    )

    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert z.testzip() is None
        assert z.namelist() == ["data.json", "report.pdf", "documents/cv.pdf", "documents/me.png"]
        assert z.read("data.json") == data_json
        assert z.read("report.pdf") == report
        assert z.read("documents/cv.pdf") == cv
        assert z.read("documents/me.png") == photo
        assert z.getinfo("data.json").compress_type == zipfile.ZIP_DEFLATED
        assert z.getinfo("documents/cv.pdf").compress_type == zipfile.ZIP_STORED


def test_zip_without_documents() -> None:
    archive = b"".join(stream_zip(b"{}", b"%PDF-", []))
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert z.namelist() == ["data.json", "report.pdf"]


def test_zip_suffixes_equal_names() -> None:
    names = ["cv.pdf", "cv.pdf", "CV.pdf", "notes", "notes", "cv (2).pdf", "cv.pdf", "", ""]
    documents = [(name, chunks_of(f"doc {i}".encode())) for i, name in enumerate(names)]

    archive = b"".join(stream_zip(b"{}", b"%PDF-", documents))

    expected = [
        *("cv.pdf", "cv (2).pdf", "CV (3).pdf", "notes", "notes (2)", "cv (2) (2).pdf", "cv (4).pdf"),
        *("document", "document (2)"),
    ]
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert z.namelist()[2:] == [f"documents/{name}" for name in expected]
        for i, name in enumerate(expected):
            assert z.read(f"documents/{name}") == f"doc {i}".encode()
    assert list(unique_names([".env", ".env", "a.tar.gz", "a.tar.gz"])) == [
        ".env",
        ".env (2)",
        "a.tar.gz",
        "a.tar (2).gz",
    ]


def test_zip_opens_each_document_only_when_the_stream_reaches_it() -> None:
    events: list[str] = []

    def document(name: str) -> Callable[[], Iterator[bytes]]:
        def open_chunks() -> Iterator[bytes]:
            events.append(f"open {name}")
            for i in range(3):
                events.append(f"chunk {name}")
                yield f"{name}{i}".encode()

        return open_chunks

    stream = stream_zip(b"{}", b"%PDF-", [("a.pdf", document("a")), ("b.pdf", document("b"))])
    assert events == []
    parts = [next(stream)]
    assert events == []  # data.json's header: no document opened yet

    parts.extend(stream)
    assert events == ["open a", "chunk a", "chunk a", "chunk a", "open b", "chunk b", "chunk b", "chunk b"]
    with zipfile.ZipFile(io.BytesIO(b"".join(parts))) as z:
        assert z.read("documents/b.pdf") == b"b0b1b2"


def test_zip_streams_50_mib_in_bounded_memory() -> None:
    def big_document() -> Iterator[bytes]:
        for i in range(50):
            yield bytes([i]) * MIB  # a fresh chunk each time: keeping any of them would show in the peak

    tracemalloc.start()
    try:
        total, crc = 0, 0
        for chunk in stream_zip(b'{"x": 1}', b"%PDF-", [("big.bin", big_document)]):
            total += len(chunk)
            crc = zlib.crc32(chunk, crc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total > 50 * MIB
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_public_names() -> None:
    assert set(exports.__all__) >= {
        "ExportBundle",
        "ExportDocument",
        "ExportHistoryEntry",
        "ExportNote",
        "ExportRating",
        "render_pdf",
        "stream_zip",
        "to_json_bytes",
    }
    assert msgspec.json.decode(json_schema())["$id"] == SCHEMA_ID


# --- a person's export (§13): where their data was sent ---------------------------------------------


def person_export() -> PersonExport:
    candidate = {
        "id": uid(31),
        "name": "Jan Łukasiewicz",
        "salutation": None,
        "first_name": "Jan",
        "last_name": "Łukasiewicz",
        "email": "jan@example.com",
        "emails": ["jan@example.com", "j.lukasiewicz@example.org"],
        "phones": ["+48221234567"],
        "street": None,
        "postal_code": None,
        "city": "Lwów",
        "country": "PL",
        "links": ["https://linkedin.com/in/jan"],
        "tags": ["logic"],
        "source": None,
        "consent_privacy_policy": True,
        "consent_privacy_policy_version": "2025-01",
        "consent_talent_pool": False,
        "consented_at": T0,
        "consent_ip": "203.0.113.9",
        "created_at": T0,
        "updated_at": T0 + timedelta(days=1),
    }
    sent_app = [ExportWebhookDelivery("https://hr.example.com/hooks/ats", "application.created", T0)]
    sent_person = [
        ExportWebhookDelivery("https://crm.example.net/in", "candidate.created", T0),
        ExportWebhookDelivery("https://crm.example.net/in", "candidate.updated", T0 + timedelta(days=1)),
    ]
    return PersonExport(
        candidate=candidate,
        applications=[bundle(webhook_deliveries=sent_app)],
        generated_at=T0 + timedelta(days=2),
        include_internal=False,
        webhook_deliveries=sent_person,
    )


def test_a_person_export_conforms_to_its_schema_and_lists_where_their_data_went() -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = Path(exports.__file__).parent / "schema"
    person_schema = json.loads((schemas / "candidate-export-v1.json").read_bytes())
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema))
        for schema in (person_schema, json.loads(SCHEMA_PATH.read_bytes()))
    )
    Draft202012Validator.check_schema(person_schema)
    document = json.loads(person_to_json_bytes(person_export()))
    errors = list(Draft202012Validator(person_schema, registry=registry).iter_errors(document))
    assert not errors, [e.message for e in errors]
    assert document["schema"] == person_schema["$id"]
    assert [(d["url"], d["event_type"]) for d in document["webhook_deliveries"]] == [
        ("https://crm.example.net/in", "candidate.created"),
        ("https://crm.example.net/in", "candidate.updated"),
    ]
    assert document["applications"][0]["webhook_deliveries"][0]["url"] == "https://hr.example.com/hooks/ats"
    # a schema that would take anything is no check: a stray key fails
    document["candidate"]["password"] = "x"
    assert list(Draft202012Validator(person_schema, registry=registry).iter_errors(document))


def test_a_person_pdf_lists_where_their_data_went() -> None:
    text = _exact(pdf_text(render_person_pdf(person_export(), compress=False)))
    for expected in (
        "Jan Łukasiewicz",
        "passed on 3 times to other systems",
        "Your details sent to other systems (2)",
        "Sent to other systems (1)",
        "crm.example.net/in",
        "candidate.updated",
        "hr.example.com/hooks/ats",
        "application.created",
    ):
        assert _exact(expected) in text, expected
    alone = _exact(pdf_text(render_pdf(bundle(webhook_deliveries=[]), compress=False)))
    assert _exact("Sent to other systems (0)") in alone and _exact("passed on") not in alone


def test_a_person_pdf_answers_for_every_application_not_only_the_first() -> None:
    """The Art. 15 answer of a person with two applications names both positions and where each stands."""
    import dataclasses

    export = person_export()
    first = export.applications[0]
    second = dataclasses.replace(
        first,
        job={"id": uid(41), "title": "Frontend Engineer"},
        privacy=dataclasses.replace(first.privacy or ExportPrivacy(controller_name="Acme"), legal_hold=True),
    )
    first = dataclasses.replace(first, job={"id": uid(42), "title": "Backend Engineer"})
    text = _exact(
        pdf_text(render_person_pdf(dataclasses.replace(export, applications=[first, second]), compress=False))
    )
    assert _exact("the positions “Backend Engineer”, “Frontend Engineer”") in text
    assert _exact("Application 2 (Frontend Engineer): kept under a legal hold") in text
    assert _exact("Application 1 (Backend Engineer):") in text
