"""The folder printer of scripts and printer-less machines never writes over a certificate already there."""

from __future__ import annotations

from pathlib import Path

from kiosk.printing import FolderPrinter


async def test_a_second_certificate_with_the_same_serial_gets_its_own_file(tmp_path: Path) -> None:
    printer = FolderPrinter(tmp_path / "out")
    first = await printer.print_pdf(b"%PDF-first", "20261130-000001")
    second = await printer.print_pdf(b"%PDF-second", "20261130-000001")  # another data folder's serial 1
    assert first.printed and second.printed and first.path != second.path
    assert first.path is not None and second.path is not None
    assert first.path.read_bytes() == b"%PDF-first" and second.path.read_bytes() == b"%PDF-second"
    assert second.path.name == "certificate-20261130-000001-2.pdf"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {first.path.name, second.path.name}
