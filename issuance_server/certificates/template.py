"""Certificate layouts as data: a TOML file under ``templates/`` parsed into frozen dataclasses.

A template declares, in millimetres from the page's top-left corner (a text's ``y`` is its baseline):

- ``[[items]]``: page items, each on ``all`` pages, the ``first``, the ``last`` or all ``but_last``, and
  optionally only when an option was chosen (``option``) or a document value is non-empty (``if_set``).
  Types: ``text``, ``rule``, ``rect``, ``seal`` (a red seal drawn as vectors: the city's 公印 or a
  resident's registered seal), ``qr``, ``microtext`` (a line of tiny repeated characters drawn as
  outlines) and ``anti_copy`` (the 地紋: a dot pattern hiding a けん制文字 word).
- ``[block]``: a bordered table drawn once per person (rows of label + value cells), paginated with at
  most ``per_page`` blocks a sheet.
- ``[[tables]]``: bordered tables filled with document values, at a fixed place.
- ``[texts]``: the city's wording as named document values (the title, ...): each may use the other
  values' placeholders and is printed wherever a template names it (``{title}``).
- ``[block] end_mark``: a closing line (以下余白) printed after the last block, on the last sheet.
- ``[[omissions]]``: the items a certificate may leave out, in the order a statement names them: each
  ``label`` whose ``option`` was not chosen (or that has none: never printed) and, with ``when``, that
  applies to a printed person of that kind, goes into the ``{omitted}`` value (joined with 、).
- ``base = "<name>"``: items shared by every kind (the 地紋, micro text, serial, QR, page number) come
  from ``templates/<name>.toml`` and are drawn first.

Rows and cells print only for persons of a kind (``when``), for a chosen ``option``, when a value is
non-empty (``if_set``) or empty (``unless_set``). Fonts are named by role (``fonts.CHAINS``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from reportlab.lib.pagesizes import A4

from issuance_server.certificates import fonts

TEMPLATES_DIR: Final = Path(__file__).resolve().parents[2] / "templates"
PAGE_SIZES: Final = {"A4": A4}
ITEM_TYPES: Final = frozenset({"text", "rule", "rect", "seal", "qr", "microtext", "anti_copy"})
WHERE: Final = frozenset({"all", "first", "last", "but_last"})
ALIGNS: Final = frozenset({"left", "right", "center"})

Where = Literal["all", "first", "last", "but_last"]
_CONDITION_KEYS: Final = frozenset({"type", "on", "when", "option", "if_set", "unless_set"})


class TemplateError(ValueError):
    """A template that cannot be read, or that names a value nobody supplies."""


@dataclass(frozen=True)
class Condition:
    """When something prints: for a person kind, a chosen option, a non-empty value, an empty value (all
    that are set)."""

    when: str | None = None
    option: str | None = None
    if_set: str | None = None
    unless_set: str | None = None

    def holds(self, kind: str | None, options: frozenset[str], values: Mapping[str, str]) -> bool:
        return (
            (self.when is None or self.when == kind)
            and (self.option is None or self.option in options)
            and (self.if_set is None or bool(values.get(self.if_set)))
            and (self.unless_set is None or not values.get(self.unless_set))
        )


@dataclass(frozen=True)
class Cell:
    label: str
    value: tuple[str, ...]  # one entry per printed line
    size: float
    font: str
    width: float | None  # mm; None: the rest of the row
    label_width: float | None  # mm; None: the table's label_width
    align: str
    condition: Condition


@dataclass(frozen=True)
class Row:
    height: float
    cells: tuple[Cell, ...]
    condition: Condition


@dataclass(frozen=True)
class Table:
    """A bordered grid of rows; ``top`` is unused for the per-person block (it flows)."""

    top: float
    left: float
    right: float
    label_width: float
    label_size: float
    border_width: float  # points
    rule_width: float  # points
    rows: tuple[Row, ...]
    on: Where = "all"
    condition: Condition = Condition()


@dataclass(frozen=True)
class Block(Table):
    bottom: float = 0.0
    gap: float = 4.0
    per_page: int = 0  # 0: as many as fit
    end_mark: str = ""  # printed after the last block (以下余白); "" for none
    end_mark_height: float = 6.0  # mm the end mark takes below the last block


@dataclass(frozen=True)
class Item:
    type: str
    on: Where
    condition: Condition
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
    tables: tuple[Table, ...]
    options: Mapping[str, str]  # option -> what it adds
    default_options: frozenset[str]
    metadata: Mapping[str, str] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)  # name -> wording (may hold placeholders)
    omissions: tuple[Omission, ...] = ()


@dataclass(frozen=True)
class Omission:
    """An item a certificate may leave out: named in ``{omitted}`` unless ``option`` was chosen."""

    label: str
    option: str | None = None  # None: the item is never printed
    when: str | None = None  # only if a printed person is of this kind

    def applies(self, kinds: frozenset[str], options: frozenset[str]) -> bool:
        return (self.option is None or self.option not in options) and (
            self.when is None or self.when in kinds
        )


def _condition(spec: Mapping[str, Any]) -> Condition:
    return Condition(
        when=spec.get("when"),
        option=spec.get("option"),
        if_set=spec.get("if_set"),
        unless_set=spec.get("unless_set"),
    )


def _cell(spec: Mapping[str, Any], defaults: Mapping[str, Any], font: str) -> Cell:
    value = spec.get("value", "")
    align = str(spec.get("align", defaults.get("align", "left")))
    if align not in ALIGNS:
        raise TemplateError(f"unknown align {align!r}")
    return Cell(
        label=str(spec.get("label", "")),
        value=tuple(str(v) for v in value) if isinstance(value, list) else (str(value),),
        size=float(spec.get("size", defaults.get("size", 10.5))),
        font=str(spec.get("font", defaults.get("font", font))),
        width=float(spec["width"]) if "width" in spec else None,
        label_width=float(spec["label_width"]) if "label_width" in spec else None,
        align=align,
        condition=_condition(spec) if "cells" in defaults else Condition(),
    )


def _row(spec: Mapping[str, Any], font: str) -> Row:
    cells = spec.get("cells") or [spec]
    return Row(
        height=float(spec["height"]),
        cells=tuple(_cell(c, spec, font) for c in cells),
        condition=_condition(spec),
    )


def _where(name: str, spec: Mapping[str, Any]) -> Where:
    on = spec.get("on", "all")
    if on not in WHERE:
        raise TemplateError(f"{name}: 'on' must be one of {', '.join(sorted(WHERE))}")
    return on


def _table_fields(spec: Mapping[str, Any], font: str) -> dict[str, Any]:
    return {
        "top": float(spec.get("top", 0.0)),
        "left": float(spec["left"]),
        "right": float(spec["right"]),
        "label_width": float(spec["label_width"]),
        "label_size": float(spec.get("label_size", 9)),
        "border_width": float(spec.get("border_width", 0.8)),
        "rule_width": float(spec.get("rule_width", 0.3)),
        "rows": tuple(_row(r, font) for r in spec["rows"]),
    }


def _check_fonts_and_options(name: str, template: Template) -> None:
    tables = (template.block, *template.tables)
    cells = [c for t in tables for r in t.rows for c in r.cells]
    conditions = [
        *(i.condition for i in template.items),
        *(t.condition for t in tables),
        *(r.condition for t in tables for r in t.rows),
        *(c.condition for c in cells),
    ]
    named = {c.option for c in conditions if c.option} | {o.option for o in template.omissions if o.option}
    if not named <= set(template.options) or not template.default_options <= set(template.options):
        raise TemplateError(f"{name}: rows or default_options name options not declared in [options]")
    roles = {template.font, *(c.font for c in cells)}
    roles |= {str(i.params["font"]) for i in template.items if "font" in i.params}
    for role in roles:
        if role not in fonts.CHAINS:
            raise TemplateError(f"{name}: unknown font role {role!r}")


def parse_template(name: str, data: Mapping[str, Any]) -> Template:
    """Build a :class:`Template` from parsed TOML; raises :class:`TemplateError` on a bad layout."""
    try:
        font = str(data.get("font", "text"))
        b = data["block"]
        block = Block(
            **_table_fields(b, font),
            bottom=float(b["bottom"]),
            gap=float(b.get("gap", 4)),
            per_page=int(b.get("per_page", 0)),
            end_mark=str(b.get("end_mark", "")),
            end_mark_height=float(b.get("end_mark_height", 6.0)),
        )
        if block.per_page < 0:
            raise TemplateError(f"{name}: block.per_page must be >= 0")
        tables = tuple(
            Table(**_table_fields(t, font), on=_where(name, t), condition=_condition(t))
            for t in data.get("tables", [])
        )
        items = []
        for spec in data.get("items", []):
            kind = spec["type"]
            if kind not in ITEM_TYPES:
                raise TemplateError(f"{name}: unknown item type {kind!r}")
            params = {k: v for k, v in spec.items() if k not in _CONDITION_KEYS}
            items.append(Item(type=kind, on=_where(name, spec), condition=_condition(spec), params=params))
        template = Template(
            name=name,
            kind=str(data["kind"]),
            version=int(data["version"]),
            page_size=PAGE_SIZES[str(data.get("page", "A4"))],
            font=font,
            items=tuple(items),
            block=block,
            tables=tables,
            options={str(k): str(v) for k, v in data.get("options", {}).items()},
            default_options=frozenset(data.get("default_options", [])),
            metadata={str(k): str(v) for k, v in data.get("metadata", {}).items()},
            texts={str(k): str(v) for k, v in data.get("texts", {}).items()},
            omissions=tuple(
                Omission(label=str(o["label"]), option=o.get("option"), when=o.get("when"))
                for o in data.get("omissions", [])
            ),
        )
        _check_fonts_and_options(name, template)
        return template
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"{name}: bad template ({exc!r})") from exc


def templates_dir() -> Path:
    """``templates/`` of the source tree; ``KONBINI_TEMPLATES_DIR`` overrides it."""
    return Path(os.environ.get("KONBINI_TEMPLATES_DIR", TEMPLATES_DIR))


def _read(name: str) -> dict[str, Any]:
    path = templates_dir() / f"{name}.toml"
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc


def merge_base(data: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """A template on top of its ``base``: the base's items and tables first (drawn underneath), then its
    own; options and metadata merged; every other key the template's own if it has it, else the base's
    (so the base's own ``base``, if any, is followed next)."""
    merged = {**base, **data}
    merged["base"] = base.get("base")
    merged["tables"] = [*base.get("tables", []), *data.get("tables", [])]
    merged["items"] = [*base.get("items", []), *data.get("items", [])]
    for key in ("options", "metadata", "texts"):
        merged[key] = {**base.get(key, {}), **data.get(key, {})}
    if merged["base"] is None:
        del merged["base"]
    return merged


@lru_cache(maxsize=32)
def load_template(name: str) -> Template:
    """``templates/<name>.toml`` (on top of the file its ``base`` key names, if any), parsed once."""
    data = _read(name)
    seen = {name}
    while "base" in data:
        base = str(data["base"])
        if base in seen:
            raise TemplateError(f"{name}: base templates form a loop at {base!r}")
        seen.add(base)
        data = merge_base(data, _read(base))
    return parse_template(name, data)
