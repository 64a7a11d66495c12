"""What the print guard costs a terminal, and what KB2 costs the QR code.

    .venv/bin/python bench/bench_print_guard.py [-n 40]

Per kind (the requests of ``bench_render.py``), the certificate rendered for a requester (``KB2`` on every
sheet) and without one (``KB1``, as before the guard). ``guard ms/sheet``: :func:`wire.print_guard.check_sheets`
on the PDF as the kiosk receives it (every page's QR image read from the file, decoded by libzbar, its
signature verified, serial, requester tag and sheet number checked), median of ``-n`` runs divided by the
number of sheets; goal <= 20 ms a sheet. ``QR``: the record's length in characters and the QR version at
level Q (modules a side), the bare record and the check-page link form (``public_base_url`` set).

Measured on this 2-core machine (7 Dec 2026, -n 40): the guard 2.0-2.7 ms a sheet (worst: the
所得額・課税額証明書, the longest record); KB2 adds 18-19 characters (sheet, total, a 96-bit tag, in base64url)
and at most one QR version at level Q (kept): the bare record v13 (69 modules a side) -> v14 (73); the
check-page link form (what a city with a public site prints) stays v15 (77) for seven kinds and goes v15 ->
v16 (81) for the 所得額・課税額証明書. The symbol is printed 38 mm wide as before: 0.43 mm a module at v16,
5 printer dots at 300 dpi (tests/certificates/test_juminhyo_wording.py reads it back from such a raster).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures
from bench_render import KEY, interleaved_ms, requests

from issuance_server.certificates.qr import qr_matrix
from issuance_server.certificates.render import render_certificate
from wire.cert_record import qr_text
from wire.print_guard import check_sheets

CARD = hashlib.sha256(b"the DER of the card's authentication certificate").digest()
SITE = "https://www.city.example.lg.jp"


def qr_size(text: str) -> str:
    matrix = qr_matrix(text)
    return f"{len(text)} ch v{matrix.version} ({matrix.size})"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="runs per measurement")
    args = parser.parse_args()
    print(
        f"{'kind':28} {'sheets':>6} {'guard ms/sheet':>14}  {'QR bare: KB1 -> KB2':34} link form: KB1 -> KB2"
    )
    worst = 0.0
    for name, req in requests().items():
        tagged = render_certificate(replace(req, requester_sha256=CARD), KEY)
        plain = render_certificate(req, KEY)
        sheets = check_sheets(tagged.pdf, req.serial, CARD, KEY.public_key())
        [ms] = interleaved_ms(
            {"guard": partial(check_sheets, tagged.pdf, req.serial, CARD, KEY.public_key())}, args.n
        ).values()
        per_sheet = ms / sheets
        worst = max(worst, per_sheet)
        bare = f"{qr_size(plain.record_text)} -> {qr_size(tagged.sheet_records[0])}"
        link = f"{qr_size(qr_text(plain.record_text, SITE))} -> {qr_size(qr_text(tagged.sheet_records[0], SITE))}"
        print(f"{name:28} {sheets:>6} {per_sheet:>14.1f}  {bare:34} {link}")
    print(f"worst guard cost {worst:.1f} ms a sheet (goal <= 20)")
    figures.record("print guard per sheet (kiosk)", round(worst, 1), "ms", 20, detail="the worst kind")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
