"""``konbini-verify`` as a user runs it: a separate process, a file or the QR text, a key file."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from issuance_server.certificates import pades
from issuance_server.certificates.document import RenderedCertificate
from konbini_demo.processes import free_port
from tests.certificates.conftest import ADDRESS, NAME
from wire.cert_record import public_key_pem

REPO = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, command: list[str] | None = None, cwd: Path = REPO, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``path``: the PATH the command sees (default: this process's)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    if path is not None:
        env["PATH"] = path
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


def test_pdf_verifies_without_poppler(
    certificate_pdf: Path,
    signed_pdf: Path,
    public_key_file: Path,
    pades_files: tuple[pades.PadesSigner, Path],
    tmp_path: Path,
) -> None:
    """The QR of a PDF is read from the file: no pdftoppm on the PATH, and still VALID (signed or not);
    a scan saved as a PDF does need it."""
    for pdf in (certificate_pdf, signed_pdf):
        trust = str(pades_files[1])
        result = run_cli(str(pdf), "--key", str(public_key_file), "--trust", trust, path=str(tmp_path))
        assert result.returncode == 0 and result.stdout.startswith("VALID\n"), result.stderr
    scan = tmp_path / "scan.pdf"
    Image.new("1", (100, 100), 1).save(scan)
    result = run_cli(str(scan), "--key", str(public_key_file), path=str(tmp_path))
    assert result.stdout.strip() == "INVALID unreadable_file" and "pdftoppm not found" in result.stderr


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


# ------------------------------------------------------------------------------- PAdES and --server


@pytest.fixture(scope="module")
def pades_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[pades.PadesSigner, Path]:
    root = tmp_path_factory.mktemp("pades-cli")
    pades.create_signing_identity(root / "secrets", root / "keys", "鹿児島市")
    return pades.load_signer(root / "secrets", root / "keys"), root / "keys" / pades.CERT_FILE


@pytest.fixture
def signed_pdf(
    certificate: RenderedCertificate, pades_files: tuple[pades.PadesSigner, Path], tmp_path: Path
) -> Path:
    path = tmp_path / "signed.pdf"
    path.write_bytes(pades.sign_pdf(certificate.pdf, pades_files[0]))
    return path


def test_pades_signed_pdf_verifies_both(
    signed_pdf: Path, public_key_file: Path, pades_files: tuple[pades.PadesSigner, Path]
) -> None:
    result = run_cli(str(signed_pdf), "--key", str(public_key_file), "--trust", str(pades_files[1]))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "VALID"
    assert any(line.startswith("pades: valid") and "鹿児島市" in line for line in lines)


def test_unsigned_pdf_says_no_pades(certificate_pdf: Path, public_key_file: Path) -> None:
    result = run_cli(str(certificate_pdf), "--key", str(public_key_file), "--trust", "/nonexistent.crt")
    assert result.returncode == 0 and "pades: none" in result.stdout.splitlines()


def test_tampered_signed_pdf_is_invalid(
    signed_pdf: Path, public_key_file: Path, pades_files: tuple[pades.PadesSigner, Path], tmp_path: Path
) -> None:
    data = bytearray(signed_pdf.read_bytes())
    data[len(data) // 3] ^= 0x01  # one byte in the signed range (the QR may well still scan)
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    result = run_cli(str(tampered), "--key", str(public_key_file), "--trust", str(pades_files[1]))
    assert result.returncode == 1
    assert result.stdout.strip().startswith("INVALID")


def test_signed_pdf_without_trust_file_is_a_usage_error(
    signed_pdf: Path, public_key_file: Path, tmp_path: Path
) -> None:
    result = run_cli(str(signed_pdf), "--key", str(public_key_file), "--trust", str(tmp_path / "none.crt"))
    assert result.returncode == 2 and "--trust" in result.stderr


def test_default_trust_path_is_under_the_data_dir(
    signed_pdf: Path, public_key_file: Path, pades_files: tuple[pades.PadesSigner, Path], tmp_path: Path
) -> None:
    keys = tmp_path / "var" / "keys"
    keys.mkdir(parents=True)
    shutil.copy(public_key_file, keys / "issuing-ed25519.pub")
    shutil.copy(pades_files[1], keys / "city-issuing.crt")
    result = run_cli(str(signed_pdf), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


class FakeServer:
    """A stand-in for the issuance server's ``POST /verify``, answering what a test sets."""

    def __init__(self) -> None:
        self.answer: dict[str, object] = {}
        self.requests: list[dict[str, object]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append({"path": self.path, **json.loads(body)})
                data = json.dumps(fake.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.mark.parametrize(
    ("answer", "code", "first_line"),
    [
        ({"result": "VALID", "serial_status": "printed"}, 0, "VALID"),
        ({"result": "VOIDED", "serial_status": "voided"}, 1, "VOIDED"),
        ({"result": "UNKNOWN_SERIAL", "serial_status": "unknown"}, 1, "INVALID unknown_serial"),
        ({"result": "INVALID", "reason": "bad_signature"}, 1, "INVALID server_bad_signature"),
    ],
)
def test_server_status(
    answer: dict[str, object],
    code: int,
    first_line: str,
    server: FakeServer,
    certificate: RenderedCertificate,
    public_key_file: Path,
) -> None:
    server.answer = answer
    result = run_cli(certificate.record_text, "--key", str(public_key_file), "--server", server.url + "/")
    assert result.returncode == code, result.stderr
    assert result.stdout.splitlines()[0] == first_line
    assert server.requests == [{"path": "/verify", "qr_text": certificate.record_text}]
    if code == 0:
        assert "serial_status: printed" in result.stdout.splitlines()


def test_unreachable_server_leaves_the_offline_result_but_says_unchecked(
    certificate: RenderedCertificate, public_key_file: Path
) -> None:
    port = free_port()  # reserved for this process: nobody listens on it
    result = run_cli(
        certificate.record_text, "--key", str(public_key_file), "--server", f"http://127.0.0.1:{port}"
    )
    assert result.returncode == 3  # the offline check held, the status asked for was not checked
    assert result.stdout.startswith("VALID\n") and "serial_status: not checked" in result.stdout
    assert "not reachable" in result.stderr


def test_several_files_are_each_verified_and_the_worst_result_counts(
    certificate: RenderedCertificate, public_key_file: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.pdf"
    good.write_bytes(certificate.pdf)
    torn = tmp_path / "torn.pdf"
    torn.write_bytes(certificate.pdf[: len(certificate.pdf) // 3])
    both = run_cli(str(good), str(good), "--key", str(public_key_file))
    assert both.returncode == 0 and both.stdout.count("VALID\n") == 2 and f"== {good}" in both.stdout
    mixed = run_cli(str(good), str(torn), "--key", str(public_key_file))
    assert mixed.returncode == 1 and "VALID\n" in mixed.stdout and "INVALID" in mixed.stdout


def test_server_is_not_asked_about_an_invalid_record(server: FakeServer, public_key_file: Path) -> None:
    result = run_cli("KB1.AAAA.BBBB", "--key", str(public_key_file), "--server", server.url)
    assert result.returncode == 1 and server.requests == []
