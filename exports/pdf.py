"""The PDF report of an application export, written for the person it describes (reportlab platypus).

It reads as an answer to an Art. 15 GDPR access request: who holds the data and how to reach them,
why, what kinds of data, who receives it, how long it is kept, the person's rights, where the data
came from, then the data itself without the service's internal columns. Text is set in embedded,
subset Noto fonts, each script run in a font that has its glyphs (:mod:`.fonts`); Arabic, Hebrew,
Devanagari and Thai are shaped by HarfBuzz. Blocking: run it off the loop.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

import msgspec
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import sameFrag
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .fonts import SANS, font_markup, needs_shaping, register
from .model import (
    ExportBundle,
    ExportDocument,
    ExportHistoryEntry,
    ExportNote,
    ExportPrivacy,
    ExportRating,
    ExportWebhookDelivery,
    PersonExport,
    as_utc,
)

EMPTY = "—"
LONG_TEXT = 600  # characters: a longer value prints in full after its table
LONG_LINES = 12
LONG_PREVIEW = 160
MARGIN = 18 * mm
PAGE_WIDTH, PAGE_HEIGHT = A4
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN

INK = colors.HexColor("#1f2933")
ACCENT = colors.HexColor("#1d4e89")
_sheet = getSampleStyleSheet()
_BASE = ParagraphStyle("ExportBase", parent=_sheet["Normal"], fontName=SANS, textColor=INK)
TITLE = ParagraphStyle(
    "ExportTitle", parent=_BASE, fontSize=18, leading=23, spaceAfter=4, alignment=0, textColor=ACCENT
)
HEADING = ParagraphStyle(
    "ExportHeading",
    parent=_BASE,
    textColor=ACCENT,
    fontSize=13,
    leading=16,
    spaceBefore=10,
    spaceAfter=4,
    keepWithNext=1,
)
SUBHEADING = ParagraphStyle(
    "ExportSubheading", parent=HEADING, fontSize=11, leading=14, spaceBefore=8, spaceAfter=3, textColor=INK
)
META = ParagraphStyle("ExportMeta", parent=_BASE, fontSize=9, leading=11.5, textColor=colors.HexColor("#52606d"))
BODY = ParagraphStyle("ExportBody", parent=_BASE, fontSize=9.5, leading=13, spaceAfter=3)
BULLET = ParagraphStyle("ExportBullet", parent=BODY, leftIndent=10, bulletIndent=2, spaceAfter=1.5)
CELL = ParagraphStyle("ExportCell", parent=_BASE, fontSize=8.5, leading=11)
CELL_HEAD = ParagraphStyle("ExportCellHead", parent=CELL, textColor=colors.HexColor("#3e4c59"))
NOTE_HEAD = ParagraphStyle(
    "ExportNoteHead",
    parent=META,
    textColor=INK,
    spaceBefore=6,
    keepWithNext=1,
)

_ACRONYMS = {"id": "ID", "ip": "IP", "url": "URL", "uuid": "UUID", "mime": "MIME", "pdf": "PDF", "cv": "CV"}
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
)
_HEADER_ROW = [("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)]
_LABEL_COLUMN = [("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke)]


def humanise(key: str) -> str:
    """``consent_ip`` → ``Consent IP``: a column name as a label."""
    words = [_ACRONYMS.get(word, word) for word in str(key).split("_") if word]
    if not words:
        return str(key)
    first = words[0]
    words[0] = first if first in _ACRONYMS.values() else first[:1].upper() + first[1:]
    return " ".join(words)


def _inline(value: Any) -> str:
    """A nested value on one line: containers as compact JSON, scalars as text."""
    if isinstance(value, Mapping | list | tuple):
        try:
            return msgspec.json.encode(value, enc_hook=str).decode()
        except (TypeError, ValueError):
            return str(value)
    return as_text(value)


def as_text(value: Any) -> str:
    """Any stored value as plain readable text (not yet escaped for reportlab's markup)."""
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if not value:
            return EMPTY
        return "\n".join(f"{k}: {_inline(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            return EMPTY
        return ", ".join(_inline(v) for v in value)
    return str(value)


def markup(text: str) -> str:
    """Plain text as reportlab paragraph markup: ``&``, ``<``, ``>`` escaped, line breaks kept, each
    script's run in a font that has it."""
    return font_markup(text)


def _para(text: str, style: ParagraphStyle, **kwargs: Any) -> Paragraph:
    """Plain text as a paragraph, each script in its font; shaped by HarfBuzz only when a script needs it
    (shaping every paragraph makes a long report several times slower)."""
    if needs_shaping(text):
        style = _shaped(style)
    return Paragraph(markup(text), style, **kwargs)


@cache
def _shaped(style: ParagraphStyle) -> ParagraphStyle:
    return ParagraphStyle(f"{style.name}Shaped", parent=style, shaping=1)


def _text(text: str, style: ParagraphStyle) -> Paragraph:
    """Plain text as a paragraph, its escaped characters merged back into single runs.

    Each ``&amp;`` or ``&lt;`` starts a new fragment, and a paragraph of many fragments wraps
    far slower than one of a single run (seconds for a page of ``<`` and ``&``).
    """
    paragraph = _para(text, style)
    frags = paragraph.frags
    if len(frags) > 1:
        merged = [frags[0]]
        for frag in frags[1:]:
            if sameFrag(merged[-1], frag):
                merged[-1].text += frag.text
            else:
                merged.append(frag)
        paragraph.frags = merged
    return paragraph


def _is_long(text: str) -> bool:
    return len(text) > LONG_TEXT or text.count("\n") >= LONG_LINES


def _text_blocks(text: str) -> list[Flowable]:
    """Long text as one paragraph per line: cheap to break across pages, unlike one huge paragraph."""
    blocks: list[Flowable] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        blocks.append(_text(line, BODY) if line.strip() else Spacer(1, BODY.leading / 2))
    return blocks


def _size(size: int | None) -> str:
    if size is None:
        return EMPTY
    if size < 1024:
        return f"{size:,} bytes"
    amount, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    return f"{amount:.1f} {unit} ({size:,} bytes)"


def _table(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    row_titles: Sequence[str],
    header: Sequence[str] | None = None,
) -> list[Flowable]:
    """A grid of paragraphs, then any long value in full under its own title.

    Long values are kept out of cells because a cell cannot break across pages cheaply.
    """
    data: list[list[Flowable]] = []
    overflow: list[Flowable] = []
    if header is not None:
        data.append([_para(h, CELL_HEAD) for h in header])
    for r, row in enumerate(rows):
        cells: list[Flowable] = []
        for c, value in enumerate(row):
            if isinstance(value, Flowable):
                cells.append(value)
                continue
            text = as_text(value)
            if not _is_long(text):
                cells.append(_text(text, CELL))
                continue
            title = row_titles[r]
            if header is not None:
                title += f" — {header[c]}"
            cells.append(_text(f"{text[:LONG_PREVIEW].rstrip()} … (in full below: {title})", CELL))
            overflow.append(_text(title, NOTE_HEAD))
            overflow.extend(_text_blocks(text))
        data.append(cells)
    table = Table(
        data,
        colWidths=[FRAME_WIDTH * w for w in widths],
        repeatRows=1 if header is not None else 0,
        splitInRow=1,
        hAlign="LEFT",
    )
    table.setStyle(_GRID)
    table.setStyle(TableStyle(_HEADER_ROW if header is not None else _LABEL_COLUMN))
    return [table, *overflow]


def _fields(values: Mapping[str, Any]) -> list[Flowable]:
    if not values:
        return [Paragraph(EMPTY, BODY)]
    labels = [humanise(key) for key in values]
    rows = [[_para(label, CELL_HEAD), value] for label, value in zip(labels, values.values(), strict=True)]
    return _table(rows, (0.3, 0.7), row_titles=labels)


def _none() -> list[Flowable]:
    return [Paragraph("None.", BODY)]


def _history(entries: Sequence[ExportHistoryEntry]) -> list[Flowable]:
    if not entries:
        return _none()
    rows = [[e.status, e.changed_at, e.changed_by_name, e.note, e.reason] for e in entries]
    header = ("Status", "Changed at", "Changed by", "Note", "Reason")
    titles = [f"Status change {i} ({e.status}, {as_text(e.changed_at)})" for i, e in enumerate(entries, 1)]
    return _table(rows, (0.12, 0.24, 0.16, 0.3, 0.18), header=header, row_titles=titles)


def _ratings(ratings: Sequence[ExportRating]) -> list[Flowable]:
    if not ratings:
        return _none()
    rows = [[r.reviewer_name, f"{r.rating} / 5", r.criteria, r.created_at, r.updated_at] for r in ratings]
    header = ("Reviewer", "Rating", "Criteria", "Rated at", "Updated at")
    titles = [f"Rating {i} ({as_text(r.reviewer_name)})" for i, r in enumerate(ratings, 1)]
    return _table(rows, (0.18, 0.08, 0.26, 0.24, 0.24), header=header, row_titles=titles)


def _notes(notes: Iterable[ExportNote]) -> list[Flowable]:
    flowables: list[Flowable] = []
    for note in notes:
        visibility = "Internal note" if note.internal else "External note"
        head = f"{visibility} · {as_text(note.author_name)} · {as_text(note.created_at)}"
        if note.updated_at != note.created_at:
            head += f" (edited {as_text(note.updated_at)})"
        flowables.append(_para(head, NOTE_HEAD))
        flowables.extend(_text_blocks(note.content))
    return flowables or _none()


def _documents(documents: Sequence[ExportDocument]) -> list[Flowable]:
    if not documents:
        return _none()
    rows = [
        [
            d.filename if d.name is None else f"{d.filename}\nName: {d.name}",
            d.type,
            d.mime_type,
            _size(d.size),
            d.upload_status,
            d.uploaded_at or d.created_at,
        ]
        for d in documents
    ]
    header = ("File", "Type", "MIME type", "Size", "Status", "Uploaded at")
    titles = [f"Document {i}" for i in range(1, len(documents) + 1)]
    return _table(rows, (0.25, 0.1, 0.15, 0.15, 0.11, 0.24), header=header, row_titles=titles)


def _deliveries(deliveries: Sequence[ExportWebhookDelivery]) -> list[Flowable]:
    """Where the data was sent by webhooks (§12): the receiving system's address, what happened, when."""
    if not deliveries:
        return _none()
    rows = [[d.url, d.event_type, d.delivered_at] for d in deliveries]
    titles = [f"Sent {i}" for i in range(1, len(deliveries) + 1)]
    return _table(rows, (0.5, 0.24, 0.26), header=("Receiving system", "Event", "Delivered at"), row_titles=titles)


# Stored columns that say nothing about the person: the service's bookkeeping, not their data.
INTERNAL_COLUMNS = frozenset(
    {"account_id", "job_id", "status_rank", "rating_total", "rating_count", "version", "created_by", "legal_hold"}
)
# The application's columns, grouped as the person would look for them; the rest print under "Other".
PERSONAL = (
    "salutation",
    "first_name",
    "last_name",
    "name",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
)
APPLICATION = ("id", "status", "previous_status", "status_changed_at", "created_at", "updated_at", "source")
CONTENT = ("cover_letter", "custom_fields")
CONSENT = (
    "consent_privacy_policy",
    "consent_privacy_policy_version",
    "consent_talent_pool",
    "consented_at",
    "consent_ip",
)
LABELS = {
    "id": "Application ID",
    "status_changed_at": "Status since",
    "created_at": "Applied at",
    "updated_at": "Last changed at",
    "custom_fields": "Answers to the job's questions",
    "consent_privacy_policy": "Privacy policy accepted",
    "consent_privacy_policy_version": "Privacy policy version",
    "consent_talent_pool": "Talent pool consent",
    "consented_at": "Consent given at",
    "consent_ip": "Consent given from IP address",
    "source": "Source",
}


def _pick(values: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {LABELS.get(key, humanise(key)): values[key] for key in keys if key in values}


def _labelled(values: Mapping[str, Any]) -> list[Flowable]:
    if not values:
        return [Paragraph(EMPTY, BODY)]
    rows = [[_para(label, CELL_HEAD), value] for label, value in values.items()]
    return _table(rows, (0.3, 0.7), row_titles=list(values))


def _say(text: str) -> Paragraph:
    return _para(text, BODY)


def _bullets(items: Iterable[str]) -> list[Flowable]:
    return [_para(item, BULLET, bulletText="•") for item in items]


def _day(value: datetime) -> str:
    return as_utc(value).strftime("%-d %B %Y")


def _controller(privacy: ExportPrivacy) -> list[Flowable]:
    rows: dict[str, Any] = {"Controller": privacy.controller_name}
    if privacy.controller_address:
        rows["Address"] = privacy.controller_address
    rows["Contact"] = privacy.controller_email or "Through the contact details in the job posting you applied to."
    if privacy.dpo_email:
        rows["Data protection officer"] = privacy.dpo_email
    return [
        _say(
            f"{privacy.controller_name} decides why and how your personal data is processed (the controller under "
            "the GDPR). Write to them about anything in this report."
        ),
        *_labelled(rows),
    ]


def _categories(bundle: ExportBundle, notes: Sequence[ExportNote]) -> list[str]:
    app = bundle.application
    found = ["Identity and contact details (name, email address, and any phone number and postal address you gave)"]
    if app.get("cover_letter") or app.get("custom_fields") or bundle.documents:
        found.append("What you sent with your application (cover letter, answers to the job's questions, documents)")
    found.append("Your consents: privacy policy, talent pool, when and from which IP address you gave them")
    found.append("The progress of your application (status changes and their reasons)")
    if bundle.ratings:
        found.append("Ratings of your application by the people reviewing it")
    if notes:
        found.append("Notes the people reviewing your application wrote about it")
    return found


def _person_retention(export: PersonExport) -> list[Flowable]:
    """How long a person's data is kept: the rule once, then where each of their applications stands."""
    rows = []
    for n, bundle in enumerate(export.applications, start=1):
        privacy = bundle.privacy or ExportPrivacy(controller_name="")
        job = bundle.job.get("title")
        which = f"Application {n} ({job})" if isinstance(job, str) and job else f"Application {n}"
        if privacy.legal_hold:
            rows.append(f"{which}: kept under a legal hold; not erased until the hold is lifted.")
        elif privacy.retention_ends is not None:
            rows.append(f"{which}: erased on {_day(privacy.retention_ends)}.")
        else:
            rows.append(f"{which}: still open; the period starts with the decision.")
    first = export.applications[0].privacy if export.applications else None
    rule = _retention(export.applications[0], first)[0] if first is not None else None
    return [*([rule] if rule is not None else []), *_bullets(rows)]


def _retention(bundle: ExportBundle, privacy: ExportPrivacy) -> list[Flowable]:
    said = [
        _say(
            f"Your application is erased {privacy.retention_days} days after it is rejected or withdrawn. If you "
            f"agreed to join the talent pool it is kept until {privacy.talent_pool_days} days after that consent, "
            "if that is later, so we can contact you about other positions. Documents, ratings and notes are "
            "erased with it."
        )
    ]
    if privacy.legal_hold:
        said.append(
            _say(
                "Your application is currently kept under a legal hold (for example, for a legal claim): it will not "
                "be erased until the hold is lifted; then the periods above apply."
            )
        )
    elif privacy.retention_ends is not None:
        said.append(_say(f"For your application that period ends on {_day(privacy.retention_ends)}."))
    else:
        said.append(
            _say(
                "Your application is still open, so the period has not started yet: it ends "
                f"{privacy.retention_days} days after the decision."
            )
        )
    return said


def _rights(privacy: ExportPrivacy) -> list[Flowable]:
    authority = privacy.supervisory_authority or "the data protection authority where you live or work"
    return [
        _say("You may ask the controller, free of charge, to:"),
        *_bullets(
            [
                "correct data that is wrong or incomplete (rectification, Art. 16 GDPR);",
                "erase your data (erasure, Art. 17);",
                "restrict its processing while a question about it is settled (restriction, Art. 18);",
                "give you your data in a machine-readable form (portability, Art. 20): this export exists as JSON;",
                "stop processing it on the basis of legitimate interests (objection, Art. 21);",
                "and you may withdraw a consent at any time, without affecting what was done before (Art. 7(3)).",
            ]
        ),
        _say(f"You may also complain to a supervisory authority (Art. 77 GDPR): {authority}."),
    ]


def _about(
    bundle: ExportBundle,
    privacy: ExportPrivacy,
    notes: Sequence[ExportNote],
    *,
    sent: int | None = None,
    person: PersonExport | None = None,
) -> list[Flowable]:
    """The Art. 15 answer: of one application, or (``person``) of every application of one person."""
    job = bundle.job.get("title")
    position = f"the position “{job}”" if isinstance(job, str) and job else "the position you applied for"
    if person is not None and len(person.applications) > 1:
        titles = [b.job.get("title") for b in person.applications]
        named = [f"“{t}”" for t in titles if isinstance(t, str) and t]
        position = f"the positions {', '.join(named)}" if len(named) == len(titles) else "the positions you applied for"
    source = bundle.application.get("source")
    via = f" (source recorded: {source})" if isinstance(source, str) and source else ""
    return [
        Paragraph("Who holds your data", HEADING),
        *_controller(privacy),
        Paragraph("Why", HEADING),
        *_bullets(
            [
                f"To consider your application for {position} and to keep in touch with you about it "
                "(steps before a possible employment contract, Art. 6(1)(b) GDPR).",
                "Only if you agreed: to keep you in the talent pool for other positions (your consent, Art. 6(1)(a)).",
                "To show that the process was fair and that your consents were given, should that be questioned "
                "(legal obligations and claims).",
            ]
        ),
        Paragraph("What data", HEADING),
        *_bullets(_categories(bundle, notes)),
        Paragraph("Who receives it", HEADING),
        _say(
            f"The people at {privacy.controller_name} who take part in filling the position (recruiters, hiring "
            "managers, interviewers), and the service providers who host this recruiting system for them as "
            "processors, bound by contract to act only on their instructions. Your data is not sold."
        ),
        *(
            [
                _say(
                    f"It was also passed on {count} time{'s' if count != 1 else ''} to other systems connected to "
                    "this one (webhooks): each is listed below under “sent to other systems”, with the receiving "
                    "address and the time."
                )
            ]
            if (count := len(bundle.webhook_deliveries) if sent is None else sent)
            else []
        ),
        Paragraph("How long it is kept", HEADING),
        *(
            _person_retention(person)
            if person is not None and len(person.applications) > 1
            else _retention(bundle, privacy)
        ),
        Paragraph("Your rights", HEADING),
        *_rights(privacy),
        Paragraph("Where the data comes from", HEADING),
        _say(
            f"You gave it when you applied{via}. Status changes, ratings and notes were added by the people "
            f"reviewing your application at {privacy.controller_name}."
        ),
    ]


def _footer(generated: str) -> Callable[[Canvas, SimpleDocTemplate], None]:
    def draw(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(SANS, 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(MARGIN, MARGIN / 2, f"Your personal data · generated {generated}")
        canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN / 2, f"Page {doc.page}")
        canvas.restoreState()

    return draw


def _data_sections(bundle: ExportBundle, notes: Sequence[ExportNote]) -> list[Flowable]:
    """One application's data: the person as given with it, the application, consent, history, notes, documents."""
    app = bundle.application
    grouped = {*PERSONAL, *APPLICATION, *CONTENT, *CONSENT, *INTERNAL_COLUMNS}
    other = {key: value for key, value in app.items() if key not in grouped}
    job = {k: v for k, v in bundle.job.items() if k != "id"}
    return [
        Paragraph("Your details", SUBHEADING),
        *_labelled(_pick(app, PERSONAL)),
        Paragraph("Your application", SUBHEADING),
        *_labelled({**_pick(app, APPLICATION), **{f"Job {humanise(k).lower()}": v for k, v in job.items()}}),
        Paragraph("What you sent", SUBHEADING),
        *_labelled(_pick(app, CONTENT)),
        Paragraph("Consent", SUBHEADING),
        *_labelled(_pick(app, CONSENT)),
        *([Paragraph("Other stored fields", SUBHEADING), *_fields(other)] if other else []),
        Paragraph(f"Status history ({len(bundle.history)})", SUBHEADING),
        *_history(bundle.history),
        Paragraph(f"Ratings ({len(bundle.ratings)})", SUBHEADING),
        *_ratings(bundle.ratings),
        Paragraph(f"Notes ({len(notes)})", SUBHEADING),
        *_notes(notes),
        Paragraph(f"Documents ({len(bundle.documents)})", SUBHEADING),
        *_documents(bundle.documents),
        Paragraph(f"Sent to other systems ({len(bundle.webhook_deliveries)})", SUBHEADING),
        *_deliveries(bundle.webhook_deliveries),
    ]


def render_pdf(bundle: ExportBundle, *, compress: bool = True) -> bytes:
    """The export as a readable PDF report. ``compress=False`` leaves page streams uncompressed (tests)."""
    register(SANS)
    generated = as_text(bundle.generated_at)
    notes = bundle.visible_notes()
    app = bundle.application
    privacy = bundle.privacy or ExportPrivacy(controller_name="The employer you applied to")
    name = app.get("name")
    title = "Your personal data" + (f" — {name}" if isinstance(name, str) and name else "")
    scope = "internal notes included" if bundle.include_internal else "internal notes not included"

    story: list[Flowable] = [
        _para(title, TITLE),
        _para(
            f"What {privacy.controller_name} holds about you, and why (Art. 15 GDPR). Generated {generated} · {scope}",
            META,
        ),
        Spacer(1, 2 * mm),
        *_about(bundle, privacy, notes),
        Paragraph("Your data", HEADING),
        *_data_sections(bundle, notes),
    ]

    return _build(
        story, generated, privacy.controller_name, "Access to personal data (Art. 15 GDPR): one application", compress
    )


def _build(story: list[Flowable], generated: str, author: str, subject: str, compress: bool) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title="Your personal data",
        author=author,
        subject=subject,
        creator="ats",
        pageCompression=1 if compress else 0,
    )
    footer = _footer(generated)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


#: A candidate's own columns the person report shows, with their labels.
PERSON_LABELS = {
    "name": "Name",
    "salutation": "Salutation",
    "first_name": "First name",
    "last_name": "Last name",
    "emails": "Email addresses",
    "phones": "Phone numbers",
    "street": "Street",
    "postal_code": "Postal code",
    "city": "City",
    "country": "Country",
    "links": "Links",
    "tags": "Tags",
    "source": "Source",
    "consent_privacy_policy": "Privacy policy accepted",
    "consent_privacy_policy_version": "Privacy policy version",
    "consent_talent_pool": "Talent pool",
    "consented_at": "Consent given at",
    "consent_ip": "Consent given from IP address",
    "created_at": "First known",
    "updated_at": "Last changed",
}


def render_person_pdf(export: PersonExport, *, compress: bool = True) -> bytes:
    """A person's whole record (§13): the Art. 15 answer once, their details, then every application's data."""
    register(SANS)
    generated = as_text(export.generated_at)
    person = export.candidate
    first = export.applications[0] if export.applications else None
    privacy = (first.privacy if first else None) or ExportPrivacy(controller_name="The employer you applied to")
    name = person.get("name")
    title = "Your personal data" + (f" — {name}" if isinstance(name, str) and name else "")
    scope = "internal notes included" if export.include_internal else "internal notes not included"
    story: list[Flowable] = [
        _para(title, TITLE),
        _para(
            f"What {privacy.controller_name} holds about you, and why (Art. 15 GDPR): every application of yours. "
            f"Generated {generated} · {scope}",
            META,
        ),
        Spacer(1, 2 * mm),
    ]
    if first is not None:
        story += _about(first, privacy, first.visible_notes(), sent=len(export.all_deliveries()), person=export)
    story += [
        Paragraph("Your data", HEADING),
        Paragraph("You as a candidate", SUBHEADING),
        *_labelled({label: person[key] for key, label in PERSON_LABELS.items() if key in person}),
        Paragraph(f"Your details sent to other systems ({len(export.webhook_deliveries)})", SUBHEADING),
        *_deliveries(export.webhook_deliveries),
    ]
    for n, bundle in enumerate(export.applications, start=1):
        job = bundle.job.get("title")
        story.append(Paragraph(markup(f"Application {n} of {len(export.applications)}: {job or ''}"), HEADING))
        story += _data_sections(bundle, bundle.visible_notes())
    return _build(
        story, generated, privacy.controller_name, "Access to personal data (Art. 15 GDPR): a person", compress
    )
