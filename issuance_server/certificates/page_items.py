"""How each thing a template places is drawn on a page: the bordered tables (a person's block, the fixed
tables), the end mark under the last block, and the page items (text, rules, seals, QR, micro text, 地紋)."""

from __future__ import annotations

from collections.abc import Mapping

from reportlab.lib.units import mm

from issuance_server.certificates import anticopy
from issuance_server.certificates.layout import PrintedBlock, fill
from issuance_server.certificates.pdf_page import Page, baseline
from issuance_server.certificates.qr import QRMatrix
from issuance_server.certificates.template import Block, Item, Table


def draw_table(page: Page, spec: Table, block: PrintedBlock, top: float) -> None:
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
                base = baseline(y, row.height, spec.label_size)
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
                    base = baseline(y + pitch * k, pitch, cell.size)
                    page.text(ln, text_x, base, cell.size, cell.font, align=cell.align, max_width_mm=inner)
            x += width
        y += row.height
    if block.rows:
        border = f"{left * mm:.2f} {page.y(y):.2f} {(right - left) * mm:.2f} {(y - top) * mm:.2f} re"
        inner_rules = f"{spec.rule_width:.2f} w {' '.join(rules)} S " if rules else ""
        page.c.addLiteral(f"{inner_rules}{spec.border_width:.2f} w {border} S")


def draw_end_mark(page: Page, spec: Block, top: float) -> None:
    """以下余白 (or the template's end mark) centred under the last block: nothing follows."""
    size = spec.label_size + 1.5
    center = (spec.left + spec.right) / 2
    page.text(spec.end_mark, center, baseline(top, spec.end_mark_height, size), size, page.t.font, "center")


def draw_item(
    page: Page, item: Item, values: Mapping[str, str], qr: tuple[QRMatrix, float] | None, repeated: bool
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
