"""A small layout engine for certificates: a TOML template, values, and it draws an A4 PDF.

A template (``templates/<kind>.toml``) declares page items (texts with ``{placeholders}``, rules, the seal,
the QR code), each on every page or only the first / last, and one repeated *block*: a bordered table drawn
once per person, whose rows (label + value cells) may depend on the person's kind or on an option the
resident chose. Units are millimetres from the top-left corner of the page; a text's ``y`` is its
baseline. The engine knows nothing of any certificate kind: the kind's module formats the values.

Rendering happens in two steps: :func:`lay_out` resolves the text (what is printed, per person, and the
pagination) and checks every character has a glyph; :func:`draw` writes the PDF. The printed text of a
layout is what :func:`content_digest` covers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import tomllib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import fonts
from issuance_server.certificates.qr import pdf_ops as qr_pdf_ops
from issuance_server.certificates.qr import qr_matrix
from issuance_server.certificates.seal import seal_ops

TEMPLATES_DIR: Final = Path(__file__).resolve().parents[2] / "templates"
PAGE_SIZES: Final = {"A4": A4}
_PLACEHOLDER: Final = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_PAGE_PLACEHOLDERS: Final = frozenset({"page", "pages"})
_PT_IN_MM: Final = 25.4 / 72
# reportlab's font objects keep per-document state in a shared WeakKeyDictionary and a file position while
# subsetting: one document is drawn at a time per process (rendering is CPU-bound Python, so threads would
# not run it in parallel anyway).
_draw_lock = threading.Lock()

Where = Literal["all", "first", "last"]


class TemplateError(ValueError):
    """A template that cannot be read, or that names a value nobody supplies."""


# ---------------------------------------------------------------------------------------------- template


@dataclass(frozen=True)
class Cell:
    label: str
    value: tuple[str, ...]  # one entry per printed line
    size: float
    font: str
    width: float | None  # mm; None: the rest of the row
    label_width: float | None  # mm; None: the block's label_width


@dataclass(frozen=True)
class Row:
    height: float
    cells: tuple[Cell, ...]
    when: str | None  # print only for persons of this kind ("japanese", "foreign")
    option: str | None  # print only when the resident asked for this option


@dataclass(frozen=True)
class Block:
    top: float
    bottom: float
    left: float
    right: float
    gap: float
    label_width: float
    label_size: float
    border_width: float  # points
    rule_width: float  # points
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Item:
    type: Literal["text", "rule", "seal", "qr"]
    on: Where
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Template:
    name: str
    kind: str
    version: int
    page_size: tuple[float, float]
    font: str
    items: tuple[Item, ...]
    block: Block
    options: Mapping[str, str]  # option -> what it adds
    default_options: frozenset[str]
    metadata: Mapping[str, str] = field(default_factory=dict)


def _cell(spec: Mapping[str, Any], defaults: Mapping[str, Any], font: str) -> Cell:
    value = spec.get("value", "")
    lines = tuple(value) if isinstance(value, list) else (str(value),)
    return Cell(
        label=str(spec.get("label", "")),
        value=lines,
        size=float(spec.get("size", defaults.get("size", 10.5))),
        font=str(spec.get("font", defaults.get("font", font))),
        width=float(spec["width"]) if "width" in spec else None,
        label_width=float(spec["label_width"]) if "label_width" in spec else None,
    )


def _row(spec: Mapping[str, Any], font: str) -> Row:
    cells = spec.get("cells") or [spec]
    return Row(
        height=float(spec["height"]),
        cells=tuple(_cell(c, spec, font) for c in cells),
        when=spec.get("when"),
        option=spec.get("option"),
    )


def parse_template(name: str, data: Mapping[str, Any]) -> Template:
    """Build a :class:`Template` from parsed TOML; raises :class:`TemplateError` on a bad layout."""
    try:
        font = str(data.get("font", "text"))
        b = data["block"]
        block = Block(
            top=float(b["top"]),
            bottom=float(b["bottom"]),
            left=float(b["left"]),
            right=float(b["right"]),
            gap=float(b.get("gap", 4)),
            label_width=float(b["label_width"]),
            label_size=float(b.get("label_size", 9)),
            border_width=float(b.get("border_width", 0.8)),
            rule_width=float(b.get("rule_width", 0.3)),
            rows=tuple(_row(r, font) for r in b["rows"]),
        )
        items = []
        for spec in data.get("items", []):
            kind = spec["type"]
            if kind not in ("text", "rule", "seal", "qr"):
                raise TemplateError(f"{name}: unknown item type {kind!r}")
            on = spec.get("on", "all")
            if on not in ("all", "first", "last"):
                raise TemplateError(f"{name}: item 'on' must be all, first or last")
            items.append(
                Item(type=kind, on=on, params={k: v for k, v in spec.items() if k not in ("type", "on")})
            )
        options = {str(k): str(v) for k, v in data.get("options", {}).items()}
        defaults = frozenset(data.get("default_options", []))
        row_options = {r.option for r in block.rows if r.option}
        if not row_options <= set(options) or not defaults <= set(options):
            raise TemplateError(f"{name}: rows or default_options name options not declared in [options]")
        for chain in {font, *(c.font for r in block.rows for c in r.cells)}:
            if chain not in fonts.CHAINS:
                raise TemplateError(f"{name}: unknown font role {chain!r}")
        return Template(
            name=name,
            kind=str(data["kind"]),
            version=int(data["version"]),
            page_size=PAGE_SIZES[str(data.get("page", "A4"))],
            font=font,
            items=tuple(items),
            block=block,
            options=options,
            default_options=defaults,
            metadata={str(k): str(v) for k, v in data.get("metadata", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"{name}: bad template ({exc!r})") from exc


@lru_cache(maxsize=32)
def load_template(name: str) -> Template:
    """``templates/<name>.toml`` (``KONBINI_TEMPLATES_DIR`` overrides the folder), parsed once."""
    folder = Path(os.environ.get("KONBINI_TEMPLATES_DIR", TEMPLATES_DIR))
    path = folder / f"{name}.toml"
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    return parse_template(name, data)


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


@dataclass(frozen=True)
class Layout:
    template: Template
    values: Mapping[str, str]  # document values (no page numbers)
    blocks: tuple[PrintedBlock, ...]
    pages: tuple[tuple[int, ...], ...]  # block indexes on each page

    def document_texts(self) -> list[str]:
        """Every page item's text as printed, once each, page numbers excluded."""
        out = []
        for item in self.template.items:
            if item.type == "text":
                text = str(item.params["text"])
                if not _PAGE_PLACEHOLDERS & set(_PLACEHOLDER.findall(text)):
                    out.append(fill(text, self.values, self.template.name))
        return out

    def printed_persons(self) -> list[list[list[str]]]:
        """Per person, per cell: ``[label, value]`` with the value's lines joined by a newline."""
        return [
            [[cell.label, "\n".join(cell.lines)] for row in block.rows for cell in row.cells]
            for block in self.blocks
        ]


def _resolve_block(template: Template, person: PersonInput, options: Collection[str]) -> PrintedBlock:
    rows = []
    for row in template.block.rows:
        if row.when is not None and row.when != person.kind:
            continue
        if row.option is not None and row.option not in options:
            continue
        cells = tuple(
            PrintedCell(
                label=cell.label,
                lines=tuple(
                    line
                    for line in (fill(v, person.values, template.name) for v in cell.value)
                    if line or len(cell.value) == 1
                ),
                size=cell.size,
                font=cell.font,
                width=cell.width,
                label_width=cell.label_width,
            )
            for cell in row.cells
        )
        rows.append(PrintedRow(height=row.height, cells=cells))
    return PrintedBlock(rows=tuple(rows))


def _paginate(template: Template, blocks: Sequence[PrintedBlock]) -> tuple[tuple[int, ...], ...]:
    space = template.block.bottom - template.block.top
    pages: list[list[int]] = [[]]
    used = 0.0
    for i, block in enumerate(blocks):
        if block.height > space:
            raise TemplateError(f"{template.name}: one block ({block.height} mm) exceeds the page")
        need = block.height + (template.block.gap if pages[-1] else 0)
        if used + need > space:
            pages.append([])
            used, need = 0.0, block.height
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
    blocks = tuple(_resolve_block(template, p, chosen) for p in persons)
    layout = Layout(template=template, values=dict(values), blocks=blocks, pages=_paginate(template, blocks))
    _check_glyphs(layout)
    return layout


def _check_glyphs(layout: Layout) -> None:
    """All characters of all printed text at once, so the error lists every missing one."""
    t = layout.template
    values = {**layout.values, "page": str(len(layout.pages)), "pages": str(len(layout.pages))}
    texts: list[tuple[str, str]] = [
        (fill(str(i.params["text"]), values, t.name), str(i.params.get("font", t.font)))
        for i in t.items
        if i.type == "text"
    ]
    for block in layout.blocks:
        for row in block.rows:
            for cell in row.cells:
                texts.append((cell.label, t.font))
                texts.extend((line, cell.font) for line in cell.lines)
    missing: list[str] = []
    for text, role in texts:
        for ch in fonts.check_coverage(text, fonts.CHAINS[role]):
            if ch not in missing:
                missing.append(ch)
    if missing:
        raise fonts.MissingGlyphError(missing)


def content_digest(
    layout: Layout, *, kind: str, serial: str, issued_at: datetime, municipality_code: str
) -> str:
    """SHA-256 (hex) of the certificate's printed content, canonical JSON, UTF-8.

    The JSON object (keys sorted, no spaces, non-ASCII kept) has ``v`` (1), ``kind``, ``template``
    (``name/version``), ``serial``, ``issued_at`` (ISO 8601 with offset, seconds), ``municipality_code``,
    ``document`` (every page text as printed, page numbers excluded, in template order) and ``persons``
    (per person, ``[label, value]`` of every printed cell in order). Whoever holds the issuance's data and
    the template recomputes it; the QR record carries its first 128 bits.
    """
    content = {
        "v": 1,
        "kind": kind,
        "template": f"{layout.template.name}/{layout.template.version}",
        "serial": serial,
        "issued_at": issued_at.isoformat(timespec="seconds"),
        "municipality_code": municipality_code,
        "document": layout.document_texts(),
        "persons": layout.printed_persons(),
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# -------------------------------------------------------------------------------------------------- draw


class _Page:
    """Drawing helpers on one canvas, in template units (mm from the top-left)."""

    def __init__(self, canvas: Canvas, template: Template) -> None:
        self.c = canvas
        self.t = template
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
        chain = fonts.CHAINS[role]
        pieces = fonts.runs(text, chain)
        width = sum(self.c.stringWidth(seg, name, size) for name, seg in pieces)
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
        self.c.addLiteral(f"/Span <</ActualText <FEFF{text.encode('utf-16-be').hex().upper()}>>> BDC")
        t = self.c.beginText(x, self.y(y_mm))
        if char_space:
            t.setCharSpace(char_space)
        for name, seg in pieces:
            t.setFont(name, size)
            t.textOut(seg)
        if char_space:
            t.setCharSpace(0)  # Tc is graphics state: it would outlive this text object
        self.c.drawText(t)
        self.c.addLiteral("EMC")

    def line(self, x1: float, y1: float, x2: float, y2: float, width_pt: float) -> None:
        self.c.setLineWidth(width_pt)
        self.c.line(x1 * mm, self.y(y1), x2 * mm, self.y(y2))

    def literal_at(self, ops: str, x_mm: float, y_bottom_mm: float) -> None:
        self.c.addLiteral(f"q 1 0 0 1 {x_mm * mm:.3f} {self.y(y_bottom_mm):.3f} cm\n{ops}\nQ")


def _baseline(top_mm: float, height_mm: float, size_pt: float) -> float:
    """The baseline that centres a line of CJK text (glyphs span about -0.12 to 0.88 em) in a band."""
    return top_mm + height_mm / 2 + size_pt * _PT_IN_MM * 0.38


def _draw_block(page: _Page, block: PrintedBlock, top: float) -> None:
    spec = page.t.block
    left, right = spec.left, spec.right
    y = top
    for i, row in enumerate(block.rows):
        if i:
            page.line(left, y, right, y, spec.rule_width)
        x = left
        for j, cell in enumerate(row.cells):
            width = cell.width if cell.width is not None else right - x
            if j:
                page.line(x, y, x, y + row.height, spec.rule_width)
            label_w = (cell.label_width or spec.label_width) if cell.label else 0.0
            if cell.label:
                base = _baseline(y, row.height, spec.label_size)
                page.text(cell.label, x + 2, base, spec.label_size, page.t.font, max_width_mm=label_w - 4)
                page.line(x + label_w, y, x + label_w, y + row.height, spec.rule_width)
            lines = [ln for ln in cell.lines if ln]
            if lines:
                pitch = row.height / len(lines)
                for k, ln in enumerate(lines):
                    base = _baseline(y + pitch * k, pitch, cell.size)
                    page.text(
                        ln, x + label_w + 2.5, base, cell.size, cell.font, max_width_mm=width - label_w - 5
                    )
            x += width
        y += row.height
    page.c.setLineWidth(spec.border_width)
    page.c.rect(left * mm, page.y(y), (right - left) * mm, (y - top) * mm, stroke=1, fill=0)


def _draw_item(page: _Page, item: Item, values: Mapping[str, str], qr_ops: str | None) -> None:
    p = item.params
    if item.type == "text":
        page.text(
            fill(str(p["text"]), values, page.t.name),
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
    elif item.type == "seal":
        size = float(p["size"])
        ops = seal_ops(fill(str(p["text"]), values, page.t.name), size * mm)
        page.literal_at(ops, float(p["x"]), float(p["y"]) + size)
    elif item.type == "qr" and qr_ops is not None:
        page.literal_at(qr_ops, float(p["x"]), float(p["y"]) + float(p["size"]))


@contextmanager
def binary_streams() -> Iterator[None]:
    """Streams zlib-compressed only, without reportlab's ASCII85 layer on top.

    ASCII85 only makes a PDF 7-bit clean (for mail of old); reportlab encodes it in pure Python, which
    cost ~4 ms a certificate, and it makes the file 25 % larger. ``rl_config.useA85`` is read when the
    document is saved, so it is switched for that moment only (callers hold ``_draw_lock``).
    """
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def draw(layout: Layout, qr_text: str | None) -> tuple[bytes, int]:
    """The PDF of ``layout`` (fonts embedded as subsets) and its page count. Thread-safe (serialised)."""
    with _draw_lock, binary_streams():
        return _draw(layout, qr_text)


def _draw(layout: Layout, qr_text: str | None) -> tuple[bytes, int]:
    template = layout.template
    qr_ops = None
    qr_items = [i for i in template.items if i.type == "qr"]
    if qr_text is not None and qr_items:
        size_pt = float(qr_items[0].params["size"]) * mm
        qr_ops = qr_pdf_ops(qr_matrix(qr_text), 0.0, size_pt, size_pt)
    buf = io.BytesIO()
    fonts.register_fonts()
    # A dynamic (TrueType) initial font keeps reportlab from putting a non-embedded Helvetica in the file.
    canvas = Canvas(buf, pagesize=template.page_size, pageCompression=1, initialFontName=fonts.IPAEX_MINCHO)
    for key, value in template.metadata.items():
        setter = {"title": canvas.setTitle, "author": canvas.setAuthor, "subject": canvas.setSubject}.get(key)
        if setter is not None:
            setter(fill(value, layout.values, template.name))
    total = len(layout.pages)
    for number, block_indexes in enumerate(layout.pages, start=1):
        page = _Page(canvas, template)
        values = {**layout.values, "page": str(number), "pages": str(total)}
        for item in template.items:
            if (
                item.on == "all"
                or (item.on == "first" and number == 1)
                or (item.on == "last" and number == total)
            ):
                _draw_item(page, item, values, qr_ops)
        top = template.block.top
        for index in block_indexes:
            _draw_block(page, layout.blocks[index], top)
            top += layout.blocks[index].height + template.block.gap
        canvas.showPage()
    canvas.save()
    return buf.getvalue(), total
