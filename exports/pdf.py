"""The readable PDF report of an application export (reportlab platypus). Blocking: run it off the loop.

Text uses the built-in Helvetica: glyphs outside its Latin-1-like encoding (e.g. "Ł") show as boxes
rather than failing the export.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

import msgspec
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import sameFrag
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .model import ExportBundle, ExportDocument, ExportHistoryEntry, ExportNote, ExportRating, as_utc

EMPTY = "—"
LONG_TEXT = 600  # characters: a longer value prints in full after its table
LONG_LINES = 12
LONG_PREVIEW = 160
MARGIN = 18 * mm
PAGE_WIDTH, PAGE_HEIGHT = A4
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN

_sheet = getSampleStyleSheet()
TITLE = ParagraphStyle("ExportTitle", parent=_sheet["Title"], fontSize=18, leading=22, spaceAfter=4)
HEADING = ParagraphStyle(
    "ExportHeading",
    parent=_sheet["Heading2"],
    fontSize=13,
    leading=16,
    spaceBefore=10,
    spaceAfter=4,
    keepWithNext=1,
)
META = ParagraphStyle("ExportMeta", parent=_sheet["Normal"], fontSize=9, leading=11, textColor=colors.grey)
BODY = ParagraphStyle("ExportBody", parent=_sheet["Normal"], fontSize=9.5, leading=12.5)
CELL = ParagraphStyle("ExportCell", parent=_sheet["Normal"], fontSize=8.5, leading=10.5)
CELL_HEAD = ParagraphStyle("ExportCellHead", parent=CELL, fontName="Helvetica-Bold")
NOTE_HEAD = ParagraphStyle(
    "ExportNoteHead",
    parent=META,
    fontName="Helvetica-Bold",
    textColor=colors.black,
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
    """Plain text as reportlab paragraph markup: ``&``, ``<``, ``>`` escaped, line breaks kept."""
    return escape(text.replace("\r\n", "\n").replace("\r", "\n")).replace("\n", "<br/>")


def _text(text: str, style: ParagraphStyle) -> Paragraph:
    """Plain text as a paragraph, its escaped characters merged back into single runs.

    Each ``&amp;`` or ``&lt;`` starts a new fragment, and a paragraph of many fragments wraps
    far slower than one of a single run (seconds for a page of ``<`` and ``&``).
    """
    paragraph = Paragraph(markup(text), style)
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
        data.append([Paragraph(markup(h), CELL_HEAD) for h in header])
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
    rows = [[Paragraph(markup(label), CELL_HEAD), value] for label, value in zip(labels, values.values(), strict=True)]
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
        flowables.append(Paragraph(markup(head), NOTE_HEAD))
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


def _footer(generated: str) -> Callable[[Canvas, SimpleDocTemplate], None]:
    def draw(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(MARGIN, MARGIN / 2, f"Application export · generated {generated}")
        canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN / 2, f"Page {doc.page}")
        canvas.restoreState()

    return draw


def render_pdf(bundle: ExportBundle, *, compress: bool = True) -> bytes:
    """The export as a readable PDF report. ``compress=False`` leaves page streams uncompressed (tests)."""
    generated = as_text(bundle.generated_at)
    notes = bundle.visible_notes()
    name = bundle.application.get("name")
    title = "Application export" + (f" — {name}" if isinstance(name, str) and name else "")
    scope = "internal notes included" if bundle.include_internal else "internal notes not included"

    story: list[Flowable] = [
        Paragraph(markup(title), TITLE),
        Paragraph(markup(f"Generated {generated} · {scope}"), META),
        Spacer(1, 4 * mm),
        Paragraph("Application", HEADING),
        *_fields(bundle.application),
        Paragraph("Job", HEADING),
        *_fields(bundle.job),
        Paragraph(f"Status history ({len(bundle.history)})", HEADING),
        *_history(bundle.history),
        Paragraph(f"Ratings ({len(bundle.ratings)})", HEADING),
        *_ratings(bundle.ratings),
        Paragraph(f"Notes ({len(notes)})", HEADING),
        *_notes(notes),
        Paragraph(f"Documents ({len(bundle.documents)})", HEADING),
        *_documents(bundle.documents),
    ]

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title="Application export",
        author="ats",
        subject="GDPR export of one application",
        creator="ats",
        pageCompression=1 if compress else 0,
    )
    footer = _footer(generated)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
