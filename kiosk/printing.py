"""Sending a certificate to the printer: CUPS ``lp`` when a printer is named, else a spool folder."""

from __future__ import annotations

import subprocess
from pathlib import Path


class PrintError(Exception):
    pass


def print_pdf(pdf: bytes, serial: str, spool_dir: Path, printer: str | None = None) -> Path | None:
    """Print (or spool) one certificate; returns the spooled file, or None when sent to a printer."""
    if printer:
        result = subprocess.run(
            ["lp", "-d", printer, "-t", serial, "-"], input=pdf, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise PrintError(
                f"printer {printer} refused the job: {result.stderr.decode(errors='replace').strip()}"
            )
        return None
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"certificate-{serial}.pdf"
    tmp = path.with_suffix(".part")
    try:
        tmp.write_bytes(pdf)
        tmp.replace(path)
    except OSError as exc:
        raise PrintError(f"cannot write to the spool folder {spool_dir}: {exc}") from exc
    return path
