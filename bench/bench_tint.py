"""What the 地紋 costs whoever prints or checks a certificate: poppler's rasterising, and konbini-verify.

    .venv/bin/python bench/bench_tint.py [-n 3] [--kinds juminhyo,inkan,...] [--dpi 300,600]

Per kind (the requests of ``bench_render.py``), page 1 of the certificate and of the same certificate
drawn without its ``anti_copy`` item, rasterised by ``pdftoppm -gray`` to a PGM in /dev/shm (no PNG
encoding, no disk) at each dpi, the four taking turns in every round (``interleaved_ms``); the ratio
with / without (goal <= 2). Then ``konbini-verify`` on the PDF: ``in-process`` is
``extract_record_text`` + ``verify_text`` in this process (modules loaded, the verification itself);
``CLI`` is ``python -m issuance_server.certificates.verify_cli --key K FILE`` as a new process, end to
end (interpreter start, imports, the PAdES check of an unsigned file); goal < 100 ms for the first.
``kB``: the PDF's size with and without the 地紋. Render times: ``bench_render.py``.

Measured on this 2-core machine (30 Nov 2026, -n 5, poppler 22.12; first two columns one run each
after the other, main then that code; the last two columns side by side, per kind main then this code,
1 Dec 00:48 UTC, load 0.4-0.9; ranges over the eight kinds):

| | ~100 placed tiles of dots | a tiling pattern (main) | an image mask (this) |
|---|---|---|---|
| pdftoppm 300 dpi with / without the 地紋 | 4.6-5.3x | 137-207 / 76-111 ms: 1.76-2.29x | 114-156 / 69-93 ms: 1.46-1.94x |
| pdftoppm 600 dpi with / without | 2.9-3.1x | 422-639 / 214-300 ms: 1.94-2.37x | 280-392 / 190-242 ms: 1.46-1.62x |
| verify in-process / CLI | 1359-1503 / 1878-2056 ms | 4-7 / 169-251 ms | 2-3 / 54-78 ms |
| PDF size | 52-69 kB | 52-79 kB | 3 kB less (49-76 kB) |

Where the time goes. A tiling pattern: poppler draws the cell once, then blits it with its alpha over
every device pixel of the area (~7 ns a pixel, 30 Mpx at 600 dpi), whatever the cell holds. The image
mask (8 px/mm, 3.5 Mpx) is decoded at its own resolution, scaled to the device and only its set pixels
painted. At 300 dpi the two are closer (7.6 Mpx either way). The CLI: Python's start and imports; a
konbini PDF is read by pdf_objects and the QR decoded by libzbar through ctypes, so pypdf (~80 ms),
PIL, pyzbar, cryptography's PEM loader and dataclasses are never loaded; pyHanko (0.3 s) loads only for
a PDF with a /ByteRange.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import ISSUED_AT, KEY, interleaved_ms, requests

from issuance_server.certificates.drawing import draw
from issuance_server.certificates.render import CertificateRequest, build_layout, render_certificate
from wire.cert_qr import extract_record_text, verify_text
from wire.cert_record import public_key_pem, qr_text


def without_tint(req: CertificateRequest, record_text: str) -> bytes:
    """The certificate of ``req`` drawn without its 地紋 (the template's ``anti_copy`` items left out)."""
    layout = build_layout(req)
    template = layout.template
    bare = replace(template, items=tuple(i for i in template.items if i.type != "anti_copy"))
    pdf, _ = draw(replace(layout, template=bare), qr_text(record_text, req.public_base_url), ISSUED_AT)
    return pdf


def rasterise(path: Path, dpi: int, out: Path) -> None:
    """Page 1 at ``dpi``, grey, to a PGM file ``out`` (in memory where /dev/shm exists: poppler 22 writes
    no image to standard output)."""
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-gray", "-f", "1", "-l", "1", "-singlefile", str(path), str(out)],
        check=True,
    )


def verify_in_process(path: Path, record_text: str) -> None:
    text = extract_record_text(path)
    assert text == record_text and verify_text(text, KEY.public_key()).valid


def verify_cli(path: Path, key_file: Path) -> None:
    """``konbini-verify`` from this bench's checkout (whichever one it is run from), its modules'
    bytecode cached in ``__pycache__`` (the warm-up run writes it) as an installed package has it, even
    where ``PYTHONDONTWRITEBYTECODE`` is set (compiling verify_cli, verify and record from source costs
    every run ~10 ms more)."""
    cmd = [sys.executable, "-m", "issuance_server.certificates.verify_cli", "--key", str(key_file), str(path)]
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(root)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=root, env=env)
    assert out.returncode == 0 and out.stdout.startswith("VALID"), out.stdout + out.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="rounds per measurement")
    parser.add_argument("--kinds", help="comma-separated labels' first words (default: every kind)")
    parser.add_argument("--dpi", default="300,600", help="comma-separated resolutions")
    args = parser.parse_args()
    dpis = [int(d) for d in args.dpi.split(",")]
    reqs = requests()
    if args.kinds:
        wanted = set(args.kinds.split(","))
        reqs = {label: r for label, r in reqs.items() if label.split(" ")[0] in wanted}
    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="bench-tint-", dir=shm if shm.is_dir() else None))
    key_file = tmp / "issuing.pub"
    key_file.write_bytes(public_key_pem(KEY.public_key()))
    raster_cols = " ".join(f"{f'{d} tint':>8} {f'{d} bare':>8} {'ratio':>5}" for d in dpis)
    print(f"median of {args.n} runs, ms; pdftoppm -gray page 1; tint = with the 地紋, bare = without")
    print(f"{'kind':<28} {raster_cols} {'verify':>6} {'CLI':>5} {'kB tint':>7} {'kB bare':>7}")
    for label, req in reqs.items():
        cert = render_certificate(req, KEY)
        tint, bare = tmp / "tint.pdf", tmp / "bare.pdf"
        tint.write_bytes(cert.pdf)
        bare.write_bytes(without_tint(req, cert.record_text))
        fns: dict[str, Callable[[], object]] = {}
        for dpi in dpis:
            fns[f"{dpi} tint"] = partial(rasterise, tint, dpi, tmp / "page")
            fns[f"{dpi} bare"] = partial(rasterise, bare, dpi, tmp / "page")
        fns["verify"] = partial(verify_in_process, tint, cert.record_text)
        fns["cli"] = partial(verify_cli, tint, key_file)
        ms = interleaved_ms(fns, args.n)
        cols = " ".join(
            f"{ms[f'{d} tint']:8.0f} {ms[f'{d} bare']:8.0f} {ms[f'{d} tint'] / ms[f'{d} bare']:5.2f}"
            for d in dpis
        )
        print(
            f"{label:<28} {cols} {ms['verify']:6.0f} {ms['cli']:5.0f}"
            f" {tint.stat().st_size / 1024:7.0f} {bare.stat().st_size / 1024:7.0f}"
        )
    shutil.rmtree(tmp)
    print(
        "ratio = tint / bare (goal <= 2); verify = extract_record_text + verify_text in this process"
        " (goal < 100 ms); CLI = konbini-verify as a new process, end to end, bytecode cached"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
