"""The one layout engine for every certificate: a template (:mod:`template`), values, and it draws an A4 PDF.

The engine knows nothing of any certificate kind: a kind's module formats the values (和暦 dates, 円
amounts, ...) and chooses the template. Rendering happens in two steps: :func:`lay_out` resolves what is
printed (per person, the fixed tables, the pagination) and checks every character has a glyph;
:func:`draw` writes the PDF. The printed text of a layout is what :func:`content_digest` covers.

Drawing: the 地紋 is an image mask (dots at 8 pixels a millimetre) and the micro-text lines are form
XObjects, made once per document and placed on each page with one ``Do``; the seals are cached vector paths; the QR is an image mask
XObject (one pixel a module) on a white quiet zone. Fonts are embedded as subsets; the output is
deterministic for the same input.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import threading
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from typing import Final

from reportlab import rl_config
from reportlab.lib.rl_accel import escapePDF
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFDictionary,
    PDFName,
    PDFStream,
    PDFZCompress,
)
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import anticopy, fonts
from issuance_server.certificates.qr import QRMatrix, mask_bits, qr_matrix
from issuance_server.certificates.qr import image_ops as qr_image_ops
from issuance_server.certificates.seal import seal_ops
from issuance_server.certificates.template import (
    TEMPLATES_DIR,
    Block,
    Item,
    Row,
    Table,
    Template,
    TemplateError,
    load_template,
    parse_template,
)

__all__ = [
    "TEMPLATES_DIR",
    "Layout",
    "PersonInput",
    "TemplateError",
    "content_digest",
    "draw",
    "fill",
    "lay_out",
    "load_template",
    "parse_template",
]

_PLACEHOLDER: Final = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_PAGE_PLACEHOLDERS: Final = frozenset({"page", "pages"})
_PT_IN_MM: Final = 25.4 / 72
_ZLIB_LEVEL: Final = 1
_FORM: Final = PDFName("Form")
_FLATE: Final = PDFName("FlateDecode")
QR_QUIET_MODULES: Final = 4  # ISO/IEC 18004: a light margin of four modules around the symbol
# reportlab's font objects keep per-document state in a shared WeakKeyDictionary and a file position while
# subsetting: one document is drawn at a time per process (rendering is CPU-bound Python, so threads would
# not run it in parallel anyway).
_draw_lock = threading.Lock()


# ------------------------------------------------------------------------------------------------ layout


def fill(text: str, values: Mapping[str, str], where: str) -> str:
    """Replace ``{name}`` placeholders; an unknown name is a template error, never printed raw."""

    def one(match: re.Match[str]) -> str:
        try:
            return values[match.group(1)]
        except KeyError:
            raise TemplateError(f"{where}: no value for placeholder {{{match.group(1)}}}") from None

    return _PLACEHOLDER.sub(one, text)


@dataclass(frozen=True)
class PersonInput:
    """One person's printed values (already formatted: 和暦, 男/女, ...), kind, for one block."""

    values: Mapping[str, str]
    kind: str


@dataclass(frozen=True)
class PrintedCell:
    label: str
    lines: tuple[str, ...]
    size: float
    font: str
    width: float | None
    label_width: float | None
    align: str


@dataclass(frozen=True)
class PrintedRow:
    height: float
    cells: tuple[PrintedCell, ...]


@dataclass(frozen=True)
class PrintedBlock:
    rows: tuple[PrintedRow, ...]

    @property
    def height(self) -> float:
        return sum(r.height for r in self.rows)

    def pairs(self) -> list[list[str]]:
        """``[label, value]`` of every cell in order, the value's lines joined by a newline."""
        return [[cell.label, "\n".join(cell.lines)] for row in self.rows for cell in row.cells]


@dataclass(frozen=True)
class PrintedTable:
    spec: Table
    block: PrintedBlock


@dataclass(frozen=True)
class Layout:
    template: Template
    values: Mapping[str, str]  # document values (no page numbers)
    options: frozenset[str]
    blocks: tuple[PrintedBlock, ...]  # one per person
    tables: tuple[PrintedTable, ...]  # the fixed tables that print
    pages: tuple[tuple[int, ...], ...]  # block indexes on each page

    def items(self) -> Iterator[Item]:
        """The template's page items whose option and value conditions hold."""
        for item in self.template.items:
            if item.condition.holds(None, self.options, self.values):
                yield item

    def document_texts(self) -> list[str]:
        """Every page text and seal as printed, once each, page numbers excluded; the end mark last."""
        out = []
        for item in self.items():
            if item.type in ("text", "seal"):
                text = str(item.params["text"])
                if not _PAGE_PLACEHOLDERS & set(_PLACEHOLDER.findall(text)):
                    out.append(fill(text, self.values, self.template.name))
        if self.template.block.end_mark:
            out.append(self.template.block.end_mark)
        return out

    def printed_persons(self) -> list[list[list[str]]]:
        """Per person, per cell: ``[label, value]``."""
        return [block.pairs() for block in self.blocks]

    def printed_tables(self) -> list[list[list[str]]]:
        """Per fixed table, per cell: ``[label, value]``."""
        return [table.block.pairs() for table in self.tables]


def _resolve_rows(
    rows: Sequence[Row], kind: str | None, options: frozenset[str], values: Mapping[str, str], where: str
) -> PrintedBlock:
    out = []
    for row in rows:
        if not row.condition.holds(kind, options, values):
            continue
        cells = tuple(
            PrintedCell(
                label=cell.label,
                lines=tuple(
                    line
                    for line in (fill(v, values, where) for v in cell.value)
                    if line or len(cell.value) == 1
                ),
                size=cell.size,
                font=cell.font,
                width=cell.width,
                label_width=cell.label_width,
                align=cell.align,
            )
            for cell in row.cells
            if cell.condition.holds(kind, options, values)
        )
        if cells:
            out.append(PrintedRow(height=row.height, cells=cells))
    return PrintedBlock(rows=tuple(out))


def _paginate(template: Template, blocks: Sequence[PrintedBlock]) -> tuple[tuple[int, ...], ...]:
    """Block indexes a sheet; the last block keeps room for the end mark below it on its sheet."""
    spec = template.block
    space = spec.bottom - spec.top
    pages: list[list[int]] = [[]]
    used = 0.0
    end_mark = spec.end_mark_height if spec.end_mark else 0.0
    for i, block in enumerate(blocks):
        height = block.height + (end_mark if i == len(blocks) - 1 else 0.0)
        if height > space:
            raise TemplateError(f"{template.name}: one block ({block.height} mm) exceeds the page")
        need = height + (spec.gap if pages[-1] else 0)
        full = bool(spec.per_page) and len(pages[-1]) >= spec.per_page
        if used + need > space or full:
            pages.append([])
            used, need = 0.0, height
        pages[-1].append(i)
        used += need
    return tuple(tuple(p) for p in pages)


def lay_out(
    template: Template,
    values: Mapping[str, str],
    persons: Sequence[PersonInput],
    options: Collection[str] | None = None,
) -> Layout:
    """Resolve every printed text and the pagination; raise ``MissingGlyphError`` for unprintable text."""
    chosen = template.default_options if options is None else frozenset(options)
    unknown = chosen - set(template.options)
    if unknown:
        raise ValueError(f"unknown option(s) for {template.name}: {', '.join(sorted(unknown))}")
    if not persons:
        raise ValueError("a certificate needs at least one person")
    if template.omissions:
        kinds = frozenset(p.kind for p in persons)
        omitted = [o.label for o in template.omissions if o.applies(kinds, chosen)]
        values = {**values, "omitted": "、".join(omitted)}
    values = {**values, **_texts(template, values)}
    blocks = tuple(
        _resolve_rows(template.block.rows, p.kind, chosen, {**values, **p.values}, template.name)
        for p in persons
    )
    tables = tuple(
        PrintedTable(spec=t, block=_resolve_rows(t.rows, None, chosen, values, template.name))
        for t in template.tables
        if t.condition.holds(None, chosen, values)
    )
    layout = Layout(
        template=template,
        values=values,
        options=chosen,
        blocks=blocks,
        tables=tables,
        pages=_paginate(template, blocks),
    )
    _check_glyphs(layout)
    return layout


def _texts(template: Template, values: Mapping[str, str]) -> dict[str, str]:
    """The template's wording (``[texts]``) filled with the document values; a name the kind also
    supplies is a template error (one place decides each printed word)."""
    clash = sorted(set(template.texts) & set(values))
    if clash:
        raise TemplateError(f"{template.name}: [texts] names a value the kind supplies: {', '.join(clash)}")
    return {name: fill(text, values, template.name) for name, text in template.texts.items()}


def _check_glyphs(layout: Layout) -> None:
    """All characters of all printed text at once, so the error lists every missing one."""
    t = layout.template
    values = {**layout.values, "page": str(len(layout.pages)), "pages": str(len(layout.pages))}
    texts: list[tuple[str, str]] = []
    if t.block.end_mark:
        texts.append((t.block.end_mark, t.font))
    for item in layout.items():
        p = item.params
        if item.type == "text":
            texts.append((fill(str(p["text"]), values, t.name), str(p.get("font", t.font))))
        elif item.type == "seal":
            texts.append((fill(str(p["text"]), values, t.name), str(p.get("font", "gothic"))))
        elif item.type == "microtext":
            texts.append((fill(str(p["text"]), values, t.name), "gothic"))
    for block in (*layout.blocks, *(table.block for table in layout.tables)):
        for row in block.rows:
            for cell in row.cells:
                texts.append((cell.label, t.font))
                texts.extend((line, cell.font) for line in cell.lines)
    by_role: dict[str, dict[str, None]] = {}  # each role's distinct characters, in order of appearance
    for text, role in texts:
        by_role.setdefault(role, {}).update(dict.fromkeys(text))
    missing: list[str] = []
    for role, chars in by_role.items():
        for ch in fonts.check_coverage("".join(chars), fonts.CHAINS[role]):
            if ch not in missing:
                missing.append(ch)
    if missing:
        raise fonts.MissingGlyphError(missing)


def content_digest(
    layout: Layout, *, kind: str, serial: str, issued_at: datetime, municipality_code: str
) -> str:
    """SHA-256 (hex) of the certificate's printed content, canonical JSON, UTF-8.

    The JSON object (keys sorted, no spaces, non-ASCII kept) has ``v`` (2), ``kind``, ``template``
    (``name/version``), ``serial``, ``issued_at`` (ISO 8601 with offset, seconds), ``municipality_code``,
    ``document`` (every page text and seal text as printed, page numbers excluded, in template order),
    ``tables`` (per fixed table, ``[label, value]`` of every printed cell) and ``persons`` (per person,
    the same). Whoever holds the issuance's data and the template recomputes it; the QR record carries
    its first 128 bits.
    """
    content = {
        "v": 2,
        "kind": kind,
        "template": f"{layout.template.name}/{layout.template.version}",
        "serial": serial,
        "issued_at": issued_at.isoformat(timespec="seconds"),
        "municipality_code": municipality_code,
        "document": layout.document_texts(),
        "tables": layout.printed_tables(),
        "persons": layout.printed_persons(),
    }
    data = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


# -------------------------------------------------------------------------------------------------- draw


class _Page:
    """Drawing helpers in millimetres from the top-left corner."""

    def __init__(self, canvas: Canvas, template: Template, graphics: _Graphics) -> None:
        self.c = canvas
        self.t = template
        self.graphics = graphics
        self.height = template.page_size[1]

    def y(self, y_mm: float) -> float:
        return self.height - y_mm * mm

    def text(
        self,
        text: str,
        x_mm: float,
        y_mm: float,
        size: float,
        role: str,
        align: str = "left",
        char_space: float = 0.0,
        max_width_mm: float | None = None,
    ) -> None:
        """One line with per-character font fallback; shrunk to ``max_width_mm`` if longer."""
        if not text:
            return
        pieces = fonts.runs(text, fonts.CHAINS[role])
        width = sum(stringWidth(seg, name, size) for name, seg in pieces)
        width += char_space * (len(text) - 1)
        if max_width_mm is not None and width > max_width_mm * mm:
            scale = max_width_mm * mm / width
            size, char_space, width = size * scale, char_space * scale, width * scale
        x = x_mm * mm
        if align == "center":
            x -= width / 2
        elif align == "right":
            x -= width
        # ActualText keeps the text layer exact (U+3000 included), whatever a reader does with spaces.
        # Operators written directly, as reportlab's ttfonts documents for dynamic (subset) fonts: a
        # text object per line through reportlab's TextObject costs twice as much.
        doc = self.c._doc
        ops = [
            f"/Span <</ActualText <FEFF{text.encode('utf-16-be').hex().upper()}>>> BDC"
            f" BT 1 0 0 1 {x:.3f} {self.y(y_mm):.3f} Tm"
        ]
        if char_space:
            ops.append(f"{char_space:.3f} Tc")
        for name, segment in pieces:
            font = fonts.font(name)
            for subset, chunk in font.splitString(segment, doc):
                ops.append(f"{font.getSubsetInternalName(subset, doc)} {size:.3f} Tf ({escapePDF(chunk)}) Tj")
        if char_space:
            ops.append("0 Tc")  # Tc is graphics state: it would outlive this text object
        ops.append("ET EMC")
        self.c.addLiteral(" ".join(ops))

    def line(self, x1: float, y1: float, x2: float, y2: float, width_pt: float) -> None:
        self.c.addLiteral(f"{width_pt:.2f} w {self.segment(x1, y1, x2, y2)} S")

    def segment(self, x1: float, y1: float, x2: float, y2: float) -> str:
        """Path operators of a line from (x1, y1) to (x2, y2), millimetres."""
        return f"{x1 * mm:.2f} {self.y(y1):.2f} m {x2 * mm:.2f} {self.y(y2):.2f} l"


class _Graphics:
    """The pictures of one document (地紋, micro text, seals, QR) drawn on its pages.

    A picture on several pages becomes a form XObject, made once and placed with one ``Do`` a page; one
    on a single page goes inline, since a form costs reportlab ~70 µs. The 地紋's mask and the micro
    text's glyphs are always embedded once (the micro text is placed many times), their operators
    compressed once per process; so is the QR's image.
    """

    def __init__(self, canvas: Canvas) -> None:
        self.c = canvas
        self.names: dict[tuple[object, ...], str] = {}

    def _compressed_form(self, key: tuple[object, ...], stream: bytes, *bbox: float) -> str:
        """A form whose content is ``stream``, already Flate-compressed."""
        if key not in self.names:
            self.names[key] = name = f"kb{key[0]}{len(self.names)}"
            self.c.beginForm(name, *bbox)
            contents = PDFStream(PDFDictionary({"Filter": PDFName("FlateDecode")}), stream)
            self.c.endForm(Contents=contents, compression=0)
        return self.names[key]

    def _shared(self, key: tuple[object, ...], draw: Callable[[], None], *bbox: float) -> None:
        """Place the form that ``draw`` fills (made on first use), at the current origin."""
        if key not in self.names:
            self.names[key] = name = f"kb{key[0]}{len(self.names)}"
            self.c.beginForm(name, *bbox)
            draw()
            self.c.endForm()
        self.c.doForm(self.names[key])

    def _repeat(self, form: str, positions: Sequence[tuple[float, float]], before: str, after: str) -> None:
        """``form`` at each position (points), between ``before`` and ``after`` operators."""
        internal = self.c._doc.getXObjectName(form)
        (x, y), rest = positions[0], positions[1:]
        self.c.addLiteral(f"{before}\nq 1 0 0 1 {x:.2f} {y:.2f} cm")
        self.c.doForm(form)  # lists the form in the page's (or form's) resources
        placed = [f"q 1 0 0 1 {x:.2f} {y:.2f} cm /{internal} Do Q" for x, y in rest]
        self.c.addLiteral("\n".join(["Q", *placed, after]))

    def _at(self, x: float, y: float, draw: Callable[[], None]) -> None:
        self.c.addLiteral(f"q 1 0 0 1 {x:.3f} {y:.3f} cm")
        draw()
        self.c.addLiteral("Q")

    def _xobject(self, key: tuple[object, ...], entries: dict[str, object], stream: bytes | str) -> str:
        """The name of an XObject (a form or an image) made of ``entries`` and ``stream`` as they are,
        registered on first use; ``self.c.doForm`` places it. Cheaper than reportlab's forms: no graphics
        state saved, no default resources formatted. A stream without a ``Filter`` is compressed."""
        if key not in self.names:
            self.names[key] = name = f"kb{key[0]}{len(self.names)}"
            stream_object = PDFStream(PDFDictionary({"Type": PDFName("XObject"), **entries}), stream)
            self.c._doc.Reference(stream_object, self.c._doc.getXObjectName(name))
        return self.names[key]

    def anti_copy(self, word: str, rect: tuple[float, float, float, float]) -> None:
        """The 地紋 over ``rect`` (x0, y0, x1, y1 in points): one image mask of dots painted in grey from
        the rectangle's bottom-left corner, embedded once per document (see :mod:`anticopy`)."""
        x0, y0, x1, y1 = rect
        tint = anticopy.tint_mask((x1 - x0) / mm, (y1 - y0) / mm, word)
        name = self._xobject(
            ("Tint", word, rect),
            {
                "Subtype": PDFName("Image"),
                "Width": tint.width,
                "Height": tint.height,
                "ImageMask": "true",
                "BitsPerComponent": 1,
                "Decode": PDFArray([1, 0]),  # a 1 bit paints: a dot
                "Interpolate": "false",  # sharp dots at any resolution
                "Filter": _FLATE,
            },
            tint.data,
        )
        self.c._formsinuse.append(name)  # lists it in the page's resources, as doForm does for a form
        width, height = tint.width / anticopy.PX_PER_MM * mm, tint.height / anticopy.PX_PER_MM * mm
        left, bottom = x0 + anticopy.OFFSET_MM * mm, y0 + anticopy.OFFSET_MM * mm
        self.c.addLiteral(
            f"q {anticopy.GRAY} g {width:.3f} 0 0 {height:.3f} {left:.3f} {bottom:.3f} cm"
            f" /{self.c._doc.getXObjectName(name)} Do Q"
        )

    def micro_line(
        self, text: str, size: float, x: float, y: float, length: float, gray: float, repeated: bool
    ) -> None:
        """A line of ``text`` repeated over ``length`` points from ``(x, y)`` (the baseline)."""
        stream, unit_width = anticopy.micro_unit(text, size)
        unit = self._compressed_form(("Micro", text, size), stream, 0, -size * 0.2, unit_width, size)
        count = max(1, math.ceil(length / unit_width)) if unit_width > 0 else 1
        positions = [(i * unit_width, 0.0) for i in range(count)]
        clip = f"q 0 {-size * 0.2:.2f} {length:.2f} {size * 1.2:.2f} re W n {gray} g"
        bbox = (0.0, -size * 0.2, length, size)
        if repeated:
            key = ("MicroLine", text, size, length, gray)
            self._at(x, y, lambda: self._shared(key, lambda: self._repeat(unit, positions, clip, "Q"), *bbox))
        else:
            self._at(x, y, lambda: self._repeat(unit, positions, clip, "Q"))

    def seal(self, text: str, size: float, shape: str, role: str, x: float, y: float, repeated: bool) -> None:
        """A seal ``size`` points square with its bottom-left corner at ``(x, y)``."""
        if repeated:
            stream = seal_stream(text, size, shape, role)
            form = self._compressed_form(("Seal", text, size, shape, role), stream, 0, 0, size, size)
            self._at(x, y, lambda: self.c.doForm(form))
        else:
            self._at(x, y, lambda: self.c.addLiteral(seal_ops(text, size, shape, role)))

    def qr(self, qr: tuple[QRMatrix, float], x: float, y: float) -> None:
        """The QR symbol (matrix, size in points) with its bottom-left corner at ``(x, y)``: an image mask
        XObject embedded once per document and symbol (sheets holding the same text share it), which a
        verifier reads back without rasterising the page."""
        matrix, size = qr
        n = matrix.size
        name = self._xobject(
            ("QR", matrix.rows),
            {
                "Subtype": PDFName("Image"),
                "Width": n,
                "Height": n,
                "ImageMask": "true",
                "BitsPerComponent": 1,
                "Decode": PDFArray([1, 0]),  # a 1 bit paints: a dark module
                "Interpolate": "false",  # sharp modules at any resolution
                "Filter": _FLATE,
            },
            zlib.compress(mask_bits(matrix), 9),
        )
        self.c._formsinuse.append(name)  # lists it in the page's resources, as doForm does for a form
        ops = qr_image_ops(matrix, size, QR_QUIET_MODULES, self.c._doc.getXObjectName(name))
        self._at(x, y, lambda: self.c.addLiteral(ops))


@lru_cache(maxsize=64)
def seal_stream(text: str, size: float, shape: str, role: str) -> bytes:
    return zlib.compress(seal_ops(text, size, shape, role).encode("ascii"), 9)


def _baseline(top_mm: float, height_mm: float, size_pt: float) -> float:
    """The baseline that centres a line of CJK text (glyphs span about -0.12 to 0.88 em) in a band."""
    return top_mm + height_mm / 2 + size_pt * _PT_IN_MM * 0.38


def _draw_table(page: _Page, spec: Table, block: PrintedBlock, top: float) -> None:
    left, right = spec.left, spec.right
    rules: list[str] = []  # the inner rules, stroked as one path
    y = top
    for i, row in enumerate(block.rows):
        if i:
            rules.append(page.segment(left, y, right, y))
        x = left
        last = len(row.cells) - 1
        for j, cell in enumerate(row.cells):
            width = cell.width if cell.width is not None and j < last else right - x
            if j:
                rules.append(page.segment(x, y, x, y + row.height))
            label_w = (cell.label_width or spec.label_width) if cell.label else 0.0
            if cell.label:
                base = _baseline(y, row.height, spec.label_size)
                page.text(cell.label, x + 2, base, spec.label_size, page.t.font, max_width_mm=label_w - 4)
                rules.append(page.segment(x + label_w, y, x + label_w, y + row.height))
            lines = [ln for ln in cell.lines if ln]
            if lines:
                pitch = row.height / len(lines)
                inner = width - label_w - 5
                text_x = {
                    "left": x + label_w + 2.5,
                    "right": x + width - 2.5,
                    "center": x + label_w + (width - label_w) / 2,
                }[cell.align]
                for k, ln in enumerate(lines):
                    base = _baseline(y + pitch * k, pitch, cell.size)
                    page.text(ln, text_x, base, cell.size, cell.font, align=cell.align, max_width_mm=inner)
            x += width
        y += row.height
    if block.rows:
        border = f"{left * mm:.2f} {page.y(y):.2f} {(right - left) * mm:.2f} {(y - top) * mm:.2f} re"
        inner_rules = f"{spec.rule_width:.2f} w {' '.join(rules)} S " if rules else ""
        page.c.addLiteral(f"{inner_rules}{spec.border_width:.2f} w {border} S")


def _draw_end_mark(page: _Page, spec: Block, top: float) -> None:
    """以下余白 (or the template's end mark) centred under the last block: nothing follows."""
    size = spec.label_size + 1.5
    center = (spec.left + spec.right) / 2
    page.text(spec.end_mark, center, _baseline(top, spec.end_mark_height, size), size, page.t.font, "center")


def _draw_item(
    page: _Page, item: Item, values: Mapping[str, str], qr: tuple[QRMatrix, float] | None, repeated: bool
) -> None:
    """Draw ``item``; ``repeated``: it is on more than one page (its picture is then a shared form)."""
    p = item.params
    name = page.t.name
    if item.type == "text":
        page.text(
            fill(str(p["text"]), values, name),
            float(p["x"]),
            float(p["y"]),
            float(p.get("size", 10.5)),
            str(p.get("font", page.t.font)),
            align=str(p.get("align", "left")),
            char_space=float(p.get("char_space", 0)),
            max_width_mm=float(p["max_width"]) if "max_width" in p else None,
        )
    elif item.type == "rule":
        page.line(float(p["x1"]), float(p["y1"]), float(p["x2"]), float(p["y2"]), float(p.get("width", 0.5)))
    elif item.type == "rect":
        x, y, w, h = (float(p[k]) for k in ("x", "y", "w", "h"))
        page.c.addLiteral(
            f"{float(p.get('width', 0.5)):.2f} w {x * mm:.2f} {page.y(y + h):.2f} {w * mm:.2f} {h * mm:.2f} re S"
        )
    elif item.type == "seal":
        size = float(p["size"])
        shape = fill(str(p.get("shape", "square")), values, name)
        text = fill(str(p["text"]), values, name)
        role = str(p.get("font", "gothic"))
        x, y = float(p["x"]) * mm, page.y(float(p["y"]) + size)
        page.graphics.seal(text, size * mm, shape, role, x, y, repeated)
    elif item.type == "qr" and qr is not None:
        page.graphics.qr(qr, float(p["x"]) * mm, page.y(float(p["y"]) + float(p["size"])))
    elif item.type == "microtext":
        x1, x2 = float(p["x1"]), float(p["x2"])
        page.graphics.micro_line(
            fill(str(p["text"]), values, name),
            float(p.get("size", 1.5)),
            x1 * mm,
            page.y(float(p["y"])),
            (x2 - x1) * mm,
            float(p.get("gray", 0.35)),
            repeated,
        )
    elif item.type == "anti_copy":
        x, y, w, h = (float(p[k]) for k in ("x", "y", "w", "h"))
        rect = (x * mm, page.y(y + h), (x + w) * mm, page.y(y))
        page.graphics.anti_copy(str(p.get("word", anticopy.WORD)), rect)


def _flate_fast(data: str | bytes) -> bytes:
    return zlib.compress(data.encode("utf-8") if isinstance(data, str) else data, _ZLIB_LEVEL)


@contextmanager
def binary_streams() -> Iterator[None]:
    """Streams zlib-compressed only, without reportlab's ASCII85 layer on top, at zlib level 1.

    ASCII85 only makes a PDF 7-bit clean (for mail of old); reportlab encodes it in pure Python, which
    cost ~4 ms a certificate, and it makes the file 25 % larger. Level 1 instead of zlib's default 6
    takes 0.5 ms off a certificate (the font subsets are most of the bytes) for a file 3 % larger.
    Both are module-level reportlab settings read when the document is saved, so they are switched for
    that moment only (callers hold ``_draw_lock``).
    """
    saved = rl_config.useA85
    rl_config.useA85 = 0
    PDFZCompress.encode = _flate_fast  # one shared filter object: every stream reportlab compresses
    try:
        yield
    finally:
        rl_config.useA85 = saved
        del PDFZCompress.encode


def draw(
    layout: Layout, qr_text: str | Sequence[str] | None, created: datetime | None = None
) -> tuple[bytes, int]:
    """The PDF of ``layout`` and its page count. Thread-safe (serialised).

    ``qr_text``: what every sheet's QR holds, or one text per sheet (``layout.pages``).
    ``created`` (timezone-aware) becomes the document's creation date; the output is deterministic.
    """
    with _draw_lock, binary_streams():
        return _draw(layout, qr_text, created)


def _qr(template: Template, qr_text: str | None) -> tuple[QRMatrix, float] | None:
    """(matrix, size in points) of the QR symbol; one size a template."""
    qr_items = [i for i in template.items if i.type == "qr"]
    if qr_text is None or not qr_items:
        return None
    return qr_matrix(qr_text), float(qr_items[0].params["size"]) * mm


def _pdf_date(created: datetime) -> str:
    offset = created.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"D:{created:%Y%m%d%H%M%S}{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


def _item_top(item: Item) -> float:
    """Where an item starts, mm from the top, for the drawing order; decorations come first."""
    if item.type in ("anti_copy", "microtext"):
        return float("-inf")
    p = item.params
    if item.type == "text":
        return float(p["y"]) - float(p.get("size", 10.5)) * _PT_IN_MM * 0.88  # a CJK glyph's top
    if item.type == "rule":
        return min(float(p["y1"]), float(p["y2"]))
    return float(p["y"])


def _on_page(item_on: str, number: int, total: int) -> bool:
    return (
        item_on == "all"
        or (item_on == "first" and number == 1)
        or (item_on == "last" and number == total)
        or (item_on == "but_last" and number < total)
    )


def _draw(layout: Layout, qr_text: str | Sequence[str] | None, created: datetime | None) -> tuple[bytes, int]:
    template = layout.template
    total = len(layout.pages)
    sheet_texts = [qr_text] * total if qr_text is None or isinstance(qr_text, str) else list(qr_text)
    if len(sheet_texts) != total:
        raise ValueError(f"{len(sheet_texts)} QR texts for {total} sheets")
    qrs = {text: _qr(template, text) for text in dict.fromkeys(sheet_texts)}
    buf = io.BytesIO()
    fonts.register_fonts()
    # A dynamic (TrueType) initial font keeps reportlab from putting a non-embedded Helvetica in the file.
    canvas = Canvas(
        buf,
        pagesize=template.page_size,
        pageCompression=1,
        initialFontName=fonts.IPAEX_MINCHO,
        invariant=1,
        lang="ja-JP",
    )
    if created is not None:
        stamp = _pdf_date(created)
        canvas.setDateFormatter(lambda *_: stamp)
    canvas._doc.updateSignature(json.dumps(layout.values, sort_keys=True))  # a distinct /ID per document
    for key, value in template.metadata.items():
        setter = {"title": canvas.setTitle, "author": canvas.setAuthor, "subject": canvas.setSubject}.get(key)
        if setter is not None:
            setter(fill(value, layout.values, template.name))
    canvas.setCreator("konbini")
    graphics = _Graphics(canvas)
    items = list(layout.items())
    repeats = {id(i): sum(_on_page(i.on, n, total) for n in range(1, total + 1)) > 1 for i in items}
    for number, block_indexes in enumerate(layout.pages, start=1):
        page = _Page(canvas, template, graphics)
        values = {**layout.values, "page": str(number), "pages": str(total)}
        qr = qrs[sheet_texts[number - 1]]
        # Drawn top to bottom (the background first), so the text layer reads in the page's order for
        # screen readers and pdftotext; ties keep the template's order (the seal under the mayor's name).
        drawables: list[tuple[float, Callable[[], None]]] = []
        for item in items:
            if _on_page(item.on, number, total):
                drawables.append(
                    (_item_top(item), partial(_draw_item, page, item, values, qr, repeats[id(item)]))
                )
        for table in layout.tables:
            if _on_page(table.spec.on, number, total):
                drawables.append(
                    (table.spec.top, partial(_draw_table, page, table.spec, table.block, table.spec.top))
                )
        top = template.block.top
        for index in block_indexes:
            drawables.append((top, partial(_draw_table, page, template.block, layout.blocks[index], top)))
            top += layout.blocks[index].height + template.block.gap
        if number == total and template.block.end_mark:
            drawables.append((top, partial(_draw_end_mark, page, template.block, top)))
        for _, draw_one in sorted(drawables, key=lambda d: d[0]):
            draw_one()
        canvas.showPage()
    canvas.save()
    return buf.getvalue(), total
