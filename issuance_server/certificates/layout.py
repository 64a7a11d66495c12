"""What a certificate prints, resolved from its template (:mod:`template`) and values before anything is drawn.

:func:`lay_out` resolves every printed text (per person, the fixed tables), the pagination, and checks that
every character has a glyph; :mod:`drawing` then writes the PDF. The printed text of a layout is what
:func:`content_digest` covers. A kind's module formats the values (和暦 dates, 円 amounts, ...) and chooses
the template: nothing here knows any certificate kind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from issuance_server.certificates import fonts
from issuance_server.certificates.template import Item, Row, Table, Template, TemplateError

_PLACEHOLDER: Final = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_PAGE_PLACEHOLDERS: Final = frozenset({"page", "pages"})


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


def on_page(item_on: str, number: int, total: int) -> bool:
    """An item (or table) printed ``item_on`` (all, first, last, but_last) is on sheet ``number`` of ``total``."""
    return (
        item_on == "all"
        or (item_on == "first" and number == 1)
        or (item_on == "last" and number == total)
        or (item_on == "but_last" and number < total)
    )
