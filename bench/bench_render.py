"""Cost of rendering one 住民票の写し and of its pieces, medians of N runs (after one warm-up).

    .venv/bin/python bench/bench_render.py [-n 50] [--profile]

Prints milliseconds for: a plain text page with the same fonts (the certificate's text drawn with
drawString, IPAex + IPAmj, no QR / rules / seal), the QR matrix (ours, and stock ``qrcode`` for reference),
drawing the QR, the record signature, the stages of render_juminhyo, the full render, and the ratio
full / (text page + QR matrix). ``--profile`` adds a cProfile summary of the full render.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.util import MODE_8BIT_BYTE, QRData
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import engine, fonts
from issuance_server.certificates.juminhyo import _person_values, render_juminhyo
from issuance_server.certificates.qr import pdf_ops, qr_matrix
from issuance_server.certificates.record import JST, CertRecord, digest_prefix, sign_record
from wire.linkage import RESIDENT_FIELDS

ISSUED_AT = datetime(2026, 11, 26, 10, 30, tzinfo=JST)
KEY = Ed25519PrivateKey.generate()
COMMON: dict[str, Any] = {
    "serial": "20261126-000123",
    "issued_at": ISSUED_AT,
    "municipality_name": "鹿児島市",
    "municipality_code": "462012",
    "mayor_name": "鹿児島市長　桜島　太郎",
    "key": KEY,
}


def synthetic_person() -> dict[str, Any]:
    person: dict[str, Any] = dict.fromkeys(RESIDENT_FIELDS)
    person.update(
        kind="japanese",
        status="resident",
        name="𠮷田　髙志",
        name_kana="よしだ　たかし",
        birth_date="1980-01-01",
        sex="M",
        address="鹿児島市山下町11番1号",
        katagaki="山下レジデンス101号",
        relationship="世帯主",
        householder_name="𠮷田　髙志",
        became_resident_on="1980-01-01",
        address_set_on="2015-06-30",
        previous_address="鹿児島市東千石町1番1号",
    )
    return person


def median_ms(fn: Callable[[], object], n: int) -> float:
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def certificate_texts() -> list[tuple[str, str]]:
    """(text, font role) of everything the certificate prints, from its own layout."""
    template = engine.load_template("juminhyo")
    values = {
        "title": "住民票の写し",
        "serial": COMMON["serial"],
        "issued_date": "令和8年11月26日",
        "municipality_name": "鹿児島市",
        "mayor_name": COMMON["mayor_name"],
        "page": "1",
        "pages": "1",
    }
    person = engine.PersonInput(values=_person_values(synthetic_person()), kind="japanese")
    layout = engine.lay_out(template, values, [person])
    texts = [
        (engine.fill(str(i.params["text"]), values, "bench"), "text")
        for i in template.items
        if i.type == "text"
    ]
    for row in layout.blocks[0].rows:
        for cell in row.cells:
            texts.append((cell.label, "text"))
            texts.extend((line, cell.font) for line in cell.lines if line)
    return texts


def text_page(texts: list[tuple[str, str]]) -> bytes:
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, initialFontName=fonts.IPAEX_MINCHO)
    y = 800.0
    for text, role in texts:
        x = 50.0
        for name, seg in fonts.runs(text, fonts.CHAINS[role]):
            canvas.setFont(name, 10.5)
            canvas.drawString(x, y, seg)
            x += canvas.stringWidth(seg, name, 10.5)
        y -= 20
    canvas.showPage()
    with engine.binary_streams():  # the same stream settings as the certificate
        canvas.save()
    return buf.getvalue()


def stock_qr(text: str) -> object:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0)
    code.add_data(QRData(text.encode(), mode=MODE_8BIT_BYTE))
    code.make()
    return code.modules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="runs per measurement")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary of the full render")
    args = parser.parse_args()
    n = args.n

    start = time.perf_counter()
    fonts.register_fonts()
    print(f"font loading, once per process: {(time.perf_counter() - start) * 1000:.0f} ms")
    person = synthetic_person()
    cert = render_juminhyo([person], **COMMON)  # warm-up: templates, seal outlines, QR layout caches
    record_text = cert.record_text
    matrix = qr_matrix(record_text)
    texts = certificate_texts()
    record = CertRecord(
        serial=COMMON["serial"],
        kind="juminhyo",
        issued_at=ISSUED_AT,
        municipality_code="462012",
        name=person["name"],
        birth_date=datetime(1980, 1, 1).date(),
        address=person["address"],
        content_digest=digest_prefix(cert.content_digest),
    )
    template = engine.load_template("juminhyo")
    values = {
        "title": "住民票の写し",
        "serial": COMMON["serial"],
        "issued_date": "令和8年11月26日",
        "municipality_name": "鹿児島市",
        "mayor_name": COMMON["mayor_name"],
    }
    people = [engine.PersonInput(values=_person_values(person), kind="japanese")]
    layout = engine.lay_out(template, values, people)

    results: dict[str, float] = {}
    results["text page (same text and fonts, drawString)"] = median_ms(lambda: text_page(texts), n)
    results["QR matrix (ours: qrcode encoding + fast mask choice)"] = median_ms(
        lambda: qr_matrix(record_text), n
    )
    results["QR matrix (stock qrcode make(), reference)"] = median_ms(lambda: stock_qr(record_text), n)
    results["QR drawing (run-length rectangles -> PDF operators)"] = median_ms(
        lambda: pdf_ops(matrix, 0, 100, 100), n
    )
    results["record signature (Ed25519 + encoding)"] = median_ms(lambda: sign_record(record, KEY), n)
    results["  stage: lay_out (values, pagination, glyph check)"] = median_ms(
        lambda: engine.lay_out(template, values, people), n
    )
    results["  stage: content digest"] = median_ms(
        lambda: engine.content_digest(
            layout, kind="juminhyo", serial="x", issued_at=ISSUED_AT, municipality_code="462012"
        ),
        n,
    )
    results["  stage: draw + save (incl. QR matrix)"] = median_ms(lambda: engine.draw(layout, record_text), n)
    results["  stage: draw + save without QR"] = median_ms(lambda: engine.draw(layout, None), n)
    results["full render_juminhyo"] = median_ms(lambda: render_juminhyo([person], **COMMON), n)

    print(
        f"median of {n} runs, ms per certificate (record {len(record_text)} chars, QR version {matrix.version})"
    )
    for label, ms in results.items():
        print(f"  {label:<58} {ms:7.2f}")
    full = results["full render_juminhyo"]
    page = results["text page (same text and fonts, drawString)"]
    ours = results["QR matrix (ours: qrcode encoding + fast mask choice)"]
    stock = results["QR matrix (stock qrcode make(), reference)"]
    print(f"ratio full / (text page + QR matrix, ours):  {full / (page + ours):.2f}  (target <= 1.3)")
    print(f"ratio full / (text page + QR matrix, stock): {full / (page + stock):.2f}")
    print(f"PDF size: {len(cert.pdf)} bytes")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            render_juminhyo([person], **COMMON)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
