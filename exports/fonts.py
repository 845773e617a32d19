"""Fonts for the PDF report: Noto Sans per script, WenQuanYi Micro Hei for CJK, each run in its own font.

reportlab embeds only the glyphs a document uses (TrueType subsetting), so a report of Latin text
carries none of the CJK font. Fonts register on first use: the CJK face (5 MB) only loads for a
document that has Han, kana or Hangul in it. Complex scripts (Arabic joining and right-to-left order,
Devanagari conjuncts, Thai marks) are shaped by HarfBuzz through reportlab's ``shaping`` style flag.
"""

from __future__ import annotations

import bisect
import threading
import unicodedata
from dataclasses import dataclass
from importlib import resources
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont


@dataclass(frozen=True, slots=True)
class FontFile:
    package: str
    filename: str
    subfont: int = 0


SANS = "ats-sans"
# Every face is the regular weight: the Noto files are variable fonts whose default instance is 400.
FONTS: dict[str, FontFile] = {
    SANS: FontFile("manimgx_fonts", "NotoSans[wght].ttf"),  # Latin (extended, Vietnamese), Greek, Cyrillic
    "ats-arabic": FontFile("manimgx_fonts", "NotoSansArabic[wght].ttf"),
    "ats-hebrew": FontFile("manimgx_fonts", "NotoSansHebrew[wght].ttf"),
    "ats-devanagari": FontFile("manimgx_fonts", "NotoSansDevanagari[wght].ttf"),
    "ats-thai": FontFile("manimgx_fonts", "NotoSansThai[wght].ttf"),
    "ats-armenian": FontFile("manimgx_fonts", "NotoSansArmenian[wght].ttf"),
    "ats-georgian": FontFile("manimgx_fonts", "NotoSansGeorgian[wght].ttf"),
    "ats-bengali": FontFile("manimgx_fonts", "NotoSansBengali[wght].ttf"),
    "ats-tamil": FontFile("manimgx_fonts", "NotoSansTamil[wght].ttf"),
    "ats-symbols": FontFile("manimgx_fonts", "NotoSansSymbols[wght].ttf"),
    "ats-emoji": FontFile("manimgx_fonts", "NotoEmoji[wght].ttf"),  # monochrome outlines
    "ats-cjk": FontFile("paperang_p2_fonts_cjk", "fonts/wqy-microhei.ttc"),  # Han, kana, Hangul
}

# Code point ranges (start, end inclusive) set in a font other than SANS; anything else is SANS's.
_RANGES: list[tuple[int, int, str]] = sorted(
    [
        (0x0530, 0x058F, "ats-armenian"),
        (0x0590, 0x05FF, "ats-hebrew"),
        (0xFB1D, 0xFB4F, "ats-hebrew"),
        (0x0600, 0x06FF, "ats-arabic"),
        (0x0750, 0x077F, "ats-arabic"),
        (0x08A0, 0x08FF, "ats-arabic"),
        (0xFB50, 0xFDFF, "ats-arabic"),
        (0xFE70, 0xFEFF, "ats-arabic"),
        (0x0900, 0x097F, "ats-devanagari"),
        (0xA8E0, 0xA8FF, "ats-devanagari"),
        (0x0980, 0x09FF, "ats-bengali"),
        (0x0B80, 0x0BFF, "ats-tamil"),
        (0x0E00, 0x0E7F, "ats-thai"),
        (0x10A0, 0x10FF, "ats-georgian"),
        (0x1100, 0x11FF, "ats-cjk"),  # Hangul Jamo
        (0x2E80, 0x2FDF, "ats-cjk"),  # CJK radicals
        (0x3000, 0x303F, "ats-cjk"),  # CJK punctuation
        (0x3040, 0x30FF, "ats-cjk"),  # Hiragana, Katakana
        (0x3100, 0x31FF, "ats-cjk"),  # Bopomofo, Hangul compatibility Jamo, Kanbun, Katakana ext.
        (0x3200, 0x33FF, "ats-cjk"),  # enclosed CJK, compatibility
        (0x3400, 0x4DBF, "ats-cjk"),  # CJK extension A
        (0x4E00, 0x9FFF, "ats-cjk"),  # CJK unified ideographs
        (0xAC00, 0xD7AF, "ats-cjk"),  # Hangul syllables
        (0xF900, 0xFAFF, "ats-cjk"),  # CJK compatibility ideographs
        (0xFF00, 0xFFEF, "ats-cjk"),  # half- and full-width forms
        (0x2190, 0x21FF, "ats-symbols"),
        (0x2600, 0x26FF, "ats-symbols"),
        (0x1F300, 0x1FAFF, "ats-emoji"),
    ]
)
_STARTS = [start for start, _, _ in _RANGES]
# Characters of no script of their own (spaces, punctuation, digits, marks that combine with what precedes)
# stay in the run they are in, so "محمد علي" is one run and shapes (and orders) as one.
_NEUTRAL_CATEGORIES = frozenset({"Zs", "Po", "Pd", "Ps", "Pe", "Pi", "Pf", "Mn", "Mc", "Me", "Cf"})

# Scripts that need HarfBuzz: joining, right-to-left order, reordered vowels, stacked marks.
SHAPED = frozenset({"ats-arabic", "ats-hebrew", "ats-devanagari", "ats-bengali", "ats-tamil", "ats-thai"})
_SHAPED_RANGES = [(start, end) for start, end, font in _RANGES if font in SHAPED]

_lock = threading.Lock()
_registered: set[str] = set()


def font_of(char: str) -> str:
    """The font a character is set in by its code point alone."""
    point = ord(char)
    i = bisect.bisect_right(_STARTS, point) - 1
    if i >= 0:
        start, end, font = _RANGES[i]
        if start <= point <= end:
            return font
    return SANS


def needs_shaping(text: str) -> bool:
    """Whether ``text`` has a character of a script that only reads right once shaped, or a combining mark."""
    for char in text:
        point = ord(char)
        if point < 0x0300:
            continue
        if any(start <= point <= end for start, end in _SHAPED_RANGES) or unicodedata.combining(char):
            return True
    return False


def _neutral(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _NEUTRAL_CATEGORIES


def script_runs(text: str) -> list[tuple[str, str]]:
    """``text`` cut into (font name, run) pairs, in order; neutral characters join the run they follow
    (or, at the start, the first run with a script). Joining the runs gives back ``text``."""
    runs: list[tuple[str, str]] = []
    pending = ""  # neutral characters before the first character with a script
    current: str | None = None
    buffer: list[str] = []
    for char in text:
        if current is not None and _neutral(char):
            buffer.append(char)
            continue
        if current is None and _neutral(char):
            pending += char
            continue
        font = font_of(char)
        if current is None:
            current, buffer = font, [pending, char]
        elif font == current:
            buffer.append(char)
        else:
            runs.append((current, "".join(buffer)))
            current, buffer = font, [char]
    if current is None:
        return [(SANS, pending)] if pending else []
    runs.append((current, "".join(buffer)))
    return runs


def font_markup(text: str) -> str:
    """Plain text as reportlab paragraph markup: escaped, each run outside SANS in ``<font name=…>``.

    Registers every font it names. Line breaks become ``<br/>``.
    """
    parts: list[str] = []
    for font, run in script_runs(_printable(text)):
        escaped = escape(run).replace("\n", "<br/>")
        if font == SANS:
            parts.append(escaped)
        else:
            register(font)
            parts.append(f'<font name="{font}">{escaped}</font>')
    return "".join(parts)


def _printable(text: str) -> str:
    """Line breaks as ``\\n``; other control characters (NUL, tab, vertical tab…) as a space."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not any(unicodedata.category(c) == "Cc" and c != "\n" for c in text):
        return text
    return "".join(" " if c != "\n" and unicodedata.category(c) == "Cc" else c for c in text)


def font_path(name: str) -> str:
    spec = FONTS[name]
    return str(resources.files(spec.package).joinpath(spec.filename))


def register(name: str) -> str:
    """Register one of :data:`FONTS` with reportlab (once per process); returns its name."""
    if name in _registered:
        return name
    with _lock:
        if name not in _registered:
            spec = FONTS[name]
            pdfmetrics.registerFont(TTFont(name, font_path(name), subfontIndex=spec.subfont))
            _registered.add(name)
    return name
