"""The pictures of a certificate (地紋, micro text, seals, QR) as PDF XObjects: made once per document and
placed on each page with one ``Do``; the seals are cached vector paths, the QR an image mask (one pixel a
module) on a white quiet zone."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Final

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFStream
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import anticopy
from issuance_server.certificates.qr import QRMatrix, mask_bits
from issuance_server.certificates.qr import image_ops as qr_image_ops
from issuance_server.certificates.seal import seal_ops

_FLATE: Final = PDFName("FlateDecode")
QR_QUIET_MODULES: Final = 4  # ISO/IEC 18004: a light margin of four modules around the symbol


class Graphics:
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
