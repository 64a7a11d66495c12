"""Cost of rendering each certificate kind, and of its pieces: medians of N runs after a warm-up.

    .venv/bin/python bench/bench_render.py [-n 40] [--profile KIND] [--kinds juminhyo,inkan,...]

Per kind (synthetic people): ms per document and per page for render + record signature
(``render_certificate``); pages per second on one core; the baseline, plain text pages with the same
text and fonts (drawString, the text each page prints) plus the QR matrix, and the ratio to it (target
<= 1.3); the QR's share of the render (matrix + drawing operators); the PAdES signature (pyHanko, ECDSA
P-256, PAdES B-B) of the rendered PDF and its share of render + signature. The measurements take turns
within each round (see ``interleaved_ms``). ``--profile KIND`` adds a cProfile summary.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import fonts, pades
from issuance_server.certificates.drawing import binary_streams
from issuance_server.certificates.layout import Layout, fill, on_page
from issuance_server.certificates.qr import QRMatrix, image_ops, mask_bits, qr_matrix
from issuance_server.certificates.render import CertificateRequest, build_layout, render_certificate
from konbini_demo import people
from wire.cert_record import JST

ISSUED_AT = datetime(2026, 11, 26, 10, 30, tzinfo=JST)
KEY = Ed25519PrivateKey.generate()


def salary_only_tax() -> dict[str, Any]:
    """The holder's 令和8年度 assessment with salary as the only income."""
    return people.tax_record(
        business_income=0,
        other_income=0,
        total_income=4_360_000,
        taxable_income=3_130_000,
        municipal_income_levy=187_800,
        prefectural_income_levy=125_200,
        paid=318_000,
    )


def requests() -> dict[str, CertificateRequest]:
    base = CertificateRequest(
        kind="juminhyo",
        persons=[people.householder()],
        serial="20261126-000123",
        issued_at=ISSUED_AT,
        municipality_name="鹿児島市",
        municipality_code="462012",
        mayor_name="鹿児島県鹿児島市長　桜島　太郎",
        options=frozenset({"householder"}),
    )
    household = [
        {
            **people.householder(),
            "atena_no": f"00000001{i:02d}",
            "name": f"𠮷田　{n}",
            "relationship": "子" if i else "世帯主",
        }
        for i, n in enumerate("一二三四五六七八九")
    ]
    out = {
        "juminhyo (setai, 1 person)": base,
        "juminhyo (kojin, 1 person)": replace(base, layout="kojin"),
        "juminhyo (setai, 9 persons)": replace(base, persons=household),
        "inkan": replace(base, kind="inkan", options=frozenset(), seal=people.seal_record()),
    }
    for kind in ("tax_income", "tax_status", "tax_income_assessment", "tax_payment"):
        out[kind] = replace(base, kind=kind, options=frozenset(), tax=salary_only_tax())
    return out


def interleaved_ms(fns: dict[str, Callable[[], object]], n: int) -> dict[str, float]:
    """Median ms of each function over ``n`` rounds, the functions taking turns within each round, so
    that a busy neighbour on the machine slows them all alike (ratios stay fair)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def page_texts(layout: Layout) -> list[list[tuple[str, str]]]:
    """Per page, (text, font role) of every text the certificate prints there, from its own layout."""
    t = layout.template
    total = len(layout.pages)
    out = []
    for number, block_indexes in enumerate(layout.pages, start=1):
        values = {**layout.values, "page": str(number), "pages": str(total)}
        texts = [
            (fill(str(i.params["text"]), values, "bench"), str(i.params.get("font", t.font)))
            for i in layout.items()
            if i.type == "text" and on_page(i.on, number, total)
        ]
        blocks = [table.block for table in layout.tables if on_page(table.spec.on, number, total)]
        blocks += [layout.blocks[i] for i in block_indexes]
        for block in blocks:
            for row in block.rows:
                for cell in row.cells:
                    texts.append((cell.label, t.font))
                    texts.extend((line, cell.font) for line in cell.lines)
        out.append([(text, role) for text, role in texts if text])
    return out


def text_pages(pages: list[list[tuple[str, str]]]) -> bytes:
    """The baseline: the same text, the same fonts, drawString, one line under another; same streams."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, initialFontName=fonts.IPAEX_MINCHO, invariant=1)
    for texts in pages:
        y = 800.0
        for text, role in texts:
            x = 50.0
            for name, seg in fonts.runs(text, fonts.CHAINS[role]):
                canvas.setFont(name, 10.5)
                canvas.drawString(x, y, seg)
                x += canvas.stringWidth(seg, name, 10.5)
            y -= 14
        canvas.showPage()
    with binary_streams():
        canvas.save()
    return buf.getvalue()


def qr_drawing(matrix: QRMatrix) -> str:
    """What the engine does with the QR matrix: the image mask's bits, compressed, and the operators."""
    zlib.compress(mask_bits(matrix), 9)
    return image_ops(matrix, 38 * mm, 4, "QR")


def pades_signer() -> pades.PadesSigner:
    tmp = Path(tempfile.mkdtemp(prefix="bench-pades-"))
    pades.create_signing_identity(tmp / "secrets", tmp / "keys", "鹿児島市")
    return pades.load_signer(tmp / "secrets", tmp / "keys")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="rounds per measurement")
    parser.add_argument("--profile", metavar="KIND", help="cProfile summary of one kind's render")
    args = parser.parse_args()
    n = args.n

    start = time.perf_counter()
    fonts.register_fonts()
    print(f"font loading, once per process: {(time.perf_counter() - start) * 1000:.0f} ms")
    signer = pades_signer()
    reqs = requests()
    header = (
        f"{'kind':<28} {'pages':>5} {'ms/doc':>7} {'ms/page':>7} {'pages/s':>7} {'base':>6} {'ratio':>5}"
        f" {'QR %':>5} {'PAdES ms':>8} {'PAdES %':>7} {'kB':>5}"
    )
    print(f"median of {n} runs; render = render_certificate (layout, digest, Ed25519 record, PDF)")
    print(header)
    for label, req in reqs.items():
        cert = render_certificate(req, KEY)  # warm-up: templates, seal outlines, QR layout caches
        texts = page_texts(build_layout(req))
        matrix = qr_matrix(cert.record_text)
        ms = interleaved_ms(
            {
                "render": partial(render_certificate, req, KEY),
                "text": partial(text_pages, texts),
                "matrix": partial(qr_matrix, cert.record_text),
                "qr_ops": partial(qr_drawing, matrix),
                "pades": partial(pades.sign_pdf, cert.pdf, signer),
            },
            n,
        )
        full, pages, sign = ms["render"], cert.pages, ms["pades"]
        base = ms["text"] + ms["matrix"]
        print(
            f"{label:<28} {pages:>5} {full:7.2f} {full / pages:7.2f} {1000 * pages / full:7.0f}"
            f" {base:6.2f} {full / base:5.2f} {100 * (ms['matrix'] + ms['qr_ops']) / full:5.0f}"
            f" {sign:8.2f} {100 * sign / (full + sign):7.0f} {len(cert.pdf) / 1024:5.0f}"
        )
    print(
        "base: the same text and fonts drawn with drawString + the QR matrix; ratio = render / base;"
        " QR % = (matrix + drawing) / render; PAdES % = signature / (render + signature)"
    )

    if args.profile:
        req = next(r for label, r in reqs.items() if label.split(" ")[0] == args.profile)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            render_certificate(req, KEY)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
