"""``konbini-verify`` as a user runs it: a separate process, a file or the QR text, a key file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.record import public_key_pem
from tests.certificates.conftest import ADDRESS, NAME

REPO = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, command: list[str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    cmd = command or [sys.executable, "-m", "issuance_server.certificates.verify_cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_pdf_verifies(certificate_pdf: Path, public_key_file: Path) -> None:
    result = run_cli(str(certificate_pdf), "--key", str(public_key_file))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "VALID"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert fields["name"] == NAME
    assert fields["address"] == ADDRESS
    assert fields["birth_date"] == "1980-01-01"
    assert fields["serial"] == "20261126-000123"
    assert fields["kind"] == "juminhyo"
    assert fields["issued_at"] == "2026-11-26T10:30:15+09:00"
    assert fields["municipality_code"] == "462012"


def test_console_script_entry_point(certificate_pdf: Path, public_key_file: Path) -> None:
    """``konbini-verify`` if installed (pip install -e .), else the call its generated wrapper makes."""
    script = shutil.which("konbini-verify", path=str(Path(sys.executable).parent)) or shutil.which(
        "konbini-verify"
    )
    wrapper = [
        sys.executable,
        "-c",
        "import sys; from issuance_server.certificates.verify_cli import main; sys.exit(main())",
    ]
    result = run_cli(
        str(certificate_pdf), "--key", str(public_key_file), command=[script] if script else wrapper
    )
    assert result.returncode == 0 and result.stdout.startswith("VALID"), result.stderr


def test_qr_text_verifies(certificate: RenderedCertificate, public_key_file: Path) -> None:
    result = run_cli(certificate.record_text, "--key", str(public_key_file))
    assert result.returncode == 0
    assert result.stdout.startswith("VALID\n")


def test_tampered_text_is_invalid(certificate: RenderedCertificate, public_key_file: Path) -> None:
    text = certificate.record_text
    i = 30
    tampered = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
    result = run_cli(tampered, "--key", str(public_key_file))
    assert result.returncode == 1
    assert result.stdout.strip() == "INVALID bad_signature"


def test_wrong_key_is_invalid(certificate_pdf: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pub"
    other.write_bytes(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    result = run_cli(str(certificate_pdf), "--key", str(other))
    assert result.returncode == 1
    assert result.stdout.strip() == "INVALID bad_signature"


def test_not_a_record_is_malformed(public_key_file: Path) -> None:
    result = run_cli("hello world", "--key", str(public_key_file))
    assert (result.returncode, result.stdout.strip()) == (1, "INVALID malformed")


def test_image_without_qr(public_key_file: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (400, 300), 255).save(blank)
    result = run_cli(str(blank), "--key", str(public_key_file))
    assert (result.returncode, result.stdout.strip()) == (1, "INVALID no_qr_found")


def test_unreadable_file(public_key_file: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4 this is not a pdf")
    result = run_cli(str(junk), "--key", str(public_key_file))
    assert (result.returncode, result.stdout.strip()) == (1, "INVALID unreadable_file")
    other = tmp_path / "junk.bin"
    other.write_bytes(b"\x00\x01 not an image")
    result = run_cli(str(other), "--key", str(public_key_file))
    assert (result.returncode, result.stdout.strip()) == (1, "INVALID unreadable_file")


def test_missing_key_file_is_a_usage_error(certificate: RenderedCertificate, tmp_path: Path) -> None:
    result = run_cli(certificate.record_text, "--key", str(tmp_path / "nope.pub"))
    assert result.returncode == 2
    assert "key file not found" in result.stderr


def test_default_key_path_is_under_the_data_dir(
    certificate: RenderedCertificate, public_key_file: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "var" / "keys"
    keys.mkdir(parents=True)
    shutil.copy(public_key_file, keys / "issuing-ed25519.pub")
    result = run_cli(certificate.record_text, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_not_a_key_is_a_usage_error(certificate: RenderedCertificate, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key")
    result = run_cli(certificate.record_text, "--key", str(bad))
    assert result.returncode == 2


def test_no_argument_is_a_usage_error() -> None:
    assert run_cli().returncode == 2
