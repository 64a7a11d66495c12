"""Seals drawn as red vectors: the city's 公印 and a resident's registered seal (印影), square or round.

The characters are filled paths taken from the fonts' glyph outlines (:mod:`outlines`), stretched to their
cells as a carved seal would be, so a seal is a picture: it never enters the text layer. The operators are
built once per (text, size, shape, font) and reused.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

from issuance_server.certificates import fonts
from issuance_server.certificates.outlines import glyphs

SEAL_RED: Final = (0.80, 0.08, 0.10)
SHAPES: Final = ("square", "round")
_KAPPA: Final = 0.5523  # Bézier handle length for a quarter circle


def seal_columns(text: str, max_per_column: int | None = None) -> list[str]:
    """Characters per column, right column first (read top to bottom, right to left).

    Without ``max_per_column`` the columns are as many as the square root asks (the 公印); with it, as few
    as hold at most that many characters each (a personal seal's two-character surname is one column).
    """
    n = len(text)
    cols = max(1, math.ceil(n / max_per_column) if max_per_column else math.ceil(math.sqrt(n)))
    base, extra = divmod(n, cols)
    out, start = [], 0
    for i in range(cols):
        count = base + (1 if i < extra else 0)
        out.append(text[start : start + count])
        start += count
    return [c for c in out if c]


def _circle(cx: float, cy: float, r: float) -> str:
    k = r * _KAPPA
    return (
        f"{cx + r:.2f} {cy:.2f} m "
        f"{cx + r:.2f} {cy + k:.2f} {cx + k:.2f} {cy + r:.2f} {cx:.2f} {cy + r:.2f} c "
        f"{cx - k:.2f} {cy + r:.2f} {cx - r:.2f} {cy + k:.2f} {cx - r:.2f} {cy:.2f} c "
        f"{cx - r:.2f} {cy - k:.2f} {cx - k:.2f} {cy - r:.2f} {cx:.2f} {cy - r:.2f} c "
        f"{cx + k:.2f} {cy - r:.2f} {cx + r:.2f} {cy - k:.2f} {cx + r:.2f} {cy:.2f} c h S"
    )


@lru_cache(maxsize=64)
def seal_ops(text: str, size: float, shape: str = "square", role: str = "gothic") -> str:
    """PDF operators for a ``size``-point seal whose bottom-left corner is the origin.

    ``shape``: ``square`` (the 公印; columns by the square root of the length) or ``round`` (a registered
    personal seal: up to two characters a column). ``role`` names the font chain of the outlines.
    Raises ``MissingGlyphError`` for a character no font of the chain has, ``ValueError`` for a bad shape.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown seal shape {shape!r}")
    if not text:
        raise ValueError("a seal needs characters")
    outlines = iter(glyphs(text, fonts.CHAINS[role]))
    red = f"{SEAL_RED[0]} {SEAL_RED[1]} {SEAL_RED[2]}"
    border = size * 0.055
    ops = [f"q {red} rg {red} RG {border:.2f} w"]
    if shape == "square":
        ops.append(f"{border / 2:.2f} {border / 2:.2f} {size - border:.2f} {size - border:.2f} re S")
        columns = seal_columns(text)
        pad = size * 0.035
        box_w = box_h = size - 2 * border - 2 * pad
        box_x = box_y = border + pad
    else:
        radius = size / 2 - border / 2
        ops.append(_circle(size / 2, size / 2, radius))
        columns = seal_columns(text, max_per_column=2)
        inner = 2 * radius - border * 1.6
        box_w = inner * min(0.5 + 0.2 * (len(columns) - 1), 0.74)
        box_h = math.sqrt(inner**2 - box_w**2) * 0.96
        box_x, box_y = (size - box_w) / 2, (size - box_h) / 2
    ops.append(f"{size * 0.012:.2f} w 1 j")  # outlines stroked as well as filled: bolder, carved strokes
    col_width = box_w / len(columns)
    margin = 0.06
    for i, column in enumerate(columns):
        x0 = box_x + box_w - (i + 1) * col_width
        cell_height = box_h / len(column)
        for j in range(len(column)):
            y0 = box_y + box_h - (j + 1) * cell_height
            path = next(outlines).ops_in_box(
                x0 + col_width * margin,
                y0 + cell_height * margin,
                col_width * (1 - 2 * margin),
                cell_height * (1 - 2 * margin),
            )
            if path:
                ops.extend(path)
                ops.append("B")
    ops.append("Q")
    return "\n".join(ops)
