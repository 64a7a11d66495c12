"""One page of a certificate being drawn: text with per-character font fallback and lines, in millimetres
from the top-left corner, written as PDF operators on a reportlab canvas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from reportlab.lib.rl_accel import escapePDF
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import fonts
from issuance_server.certificates.template import Template

if TYPE_CHECKING:
    from issuance_server.certificates.pdf_graphics import Graphics

PT_IN_MM: Final = 25.4 / 72


class Page:
    """Drawing helpers in millimetres from the top-left corner."""

    def __init__(self, canvas: Canvas, template: Template, graphics: Graphics) -> None:
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


def baseline(top_mm: float, height_mm: float, size_pt: float) -> float:
    """The baseline that centres a line of CJK text (glyphs span about -0.12 to 0.88 em) in a band."""
    return top_mm + height_mm / 2 + size_pt * PT_IN_MM * 0.38
