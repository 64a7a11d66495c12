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

Measured on this 2-core machine (30 Nov 2026, -n 5, poppler 22.12, one run each after the other, main
then this code; ranges over the eight kinds):

| | before (~100 placed tiles of dots) | after (a tiling pattern) |
|---|---|---|
| pdftoppm 300 dpi with / without the 地紋 | 346-384 / 71-79 ms: 4.6-5.3x | 127-139 / 66-76 ms: 1.82-1.95x |
| pdftoppm 600 dpi with / without | 553-621 / 179-215 ms: 2.9-3.1x | 393-424 / 177-207 ms: 2.00-2.23x |
| pdftotext (inkan) | 217 ms | 54 ms (poppler's text pass skips the pattern) |
| verify in-process / CLI | 1359-1503 / 1878-2056 ms (rasterised at 300 dpi) | 4 ms / 167-196 ms (QR read from the file) |
| PDF size | 52-69 kB | the same (52-69 kB) |

Where the 600 dpi time goes: poppler draws the pattern cell once, then blits it over the whole
rectangle through its compositing pipe, ~10 ns a device pixel: a cell with a single dot costs the same
as the real one (the dots are free; the 30 million pixels are not). A full-page 1-bit image mask at
600 dpi measured about the same (decode, scale and blit of every pixel), loses the exact dot sizes to
the 600 dpi grid (0.14 mm is 3.3 pixels) and adds 30 kB, so the pattern stays. With the pattern's
y axis up, poppler rescales the tiled image instead: 4x slower at 600 dpi. The CLI's time is mostly
Python's start and imports (pypdf ~60-90 ms); pyHanko (0.3 s) loads only for a PDF with a /ByteRange.
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

from issuance_server.certificates import engine
from issuance_server.certificates.record import public_key_pem, qr_text
from issuance_server.certificates.render import CertificateRequest, build_layout, render_certificate
from issuance_server.certificates.verify import extract_record_text, verify_text


def without_tint(req: CertificateRequest, record_text: str) -> bytes:
    """The certificate of ``req`` drawn without its 地紋 (the template's ``anti_copy`` items left out)."""
    layout = build_layout(req)
    template = layout.template
    bare = replace(template, items=tuple(i for i in template.items if i.type != "anti_copy"))
    pdf, _ = engine.draw(replace(layout, template=bare), qr_text(record_text, req.public_base_url), ISSUED_AT)
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
