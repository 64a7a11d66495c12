"""A laid-out certificate (:mod:`layout`) drawn as an A4 PDF: each sheet's items, tables and blocks top to
bottom, fonts embedded as subsets, streams compressed; the output is deterministic for the same input."""

from __future__ import annotations

import io
import json
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Final

from reportlab import rl_config
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfdoc import PDFZCompress
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import fonts
from issuance_server.certificates.layout import Layout, fill, on_page
from issuance_server.certificates.page_items import draw_end_mark, draw_item, draw_table
from issuance_server.certificates.pdf_graphics import Graphics
from issuance_server.certificates.pdf_page import PT_IN_MM, Page
from issuance_server.certificates.qr import QRMatrix, qr_matrix
from issuance_server.certificates.template import Item, Template

_ZLIB_LEVEL: Final = 1
# reportlab's font objects keep per-document state in a shared WeakKeyDictionary and a file position while
# subsetting: one document is drawn at a time per process (rendering is CPU-bound Python, so threads would
# not run it in parallel anyway).
_draw_lock = threading.Lock()


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
        return float(p["y"]) - float(p.get("size", 10.5)) * PT_IN_MM * 0.88  # a CJK glyph's top
    if item.type == "rule":
        return min(float(p["y1"]), float(p["y2"]))
    return float(p["y"])


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
    graphics = Graphics(canvas)
    items = list(layout.items())
    repeats = {id(i): sum(on_page(i.on, n, total) for n in range(1, total + 1)) > 1 for i in items}
    for number, block_indexes in enumerate(layout.pages, start=1):
        page = Page(canvas, template, graphics)
        values = {**layout.values, "page": str(number), "pages": str(total)}
        qr = qrs[sheet_texts[number - 1]]
        # Drawn top to bottom (the background first), so the text layer reads in the page's order for
        # screen readers and pdftotext; ties keep the template's order (the seal under the mayor's name).
        drawables: list[tuple[float, Callable[[], None]]] = []
        for item in items:
            if on_page(item.on, number, total):
                drawables.append(
                    (_item_top(item), partial(draw_item, page, item, values, qr, repeats[id(item)]))
                )
        for table in layout.tables:
            if on_page(table.spec.on, number, total):
                drawables.append(
                    (table.spec.top, partial(draw_table, page, table.spec, table.block, table.spec.top))
                )
        top = template.block.top
        for index in block_indexes:
            drawables.append((top, partial(draw_table, page, template.block, layout.blocks[index], top)))
            top += layout.blocks[index].height + template.block.gap
        if number == total and template.block.end_mark:
            drawables.append((top, partial(draw_end_mark, page, template.block, top)))
        for _, draw_one in sorted(drawables, key=lambda d: d[0]):
            draw_one()
        canvas.showPage()
    canvas.save()
    return buf.getvalue(), total
