"""``konbini-card``: init-ca, personalise, run, info; errors as one line with a code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devices.card.cli import main
from devices.card.virtual.ca import load_ca
from devices.card.virtual.state import load_state
from konbini_demo.processes import free_port
from registry_sim.__main__ import main as registry_main
from registry_sim.generator import DEMO_ATENA_NO
from wire.card_identity import verified_identity

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "devices.card.cli", *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(stream: object, timeout_s: float) -> str:
    """One line from a pipe, or '' after ``timeout_s``."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)  # type: ignore[attr-defined]
    reader.start()
    reader.join(timeout_s)
    return result[0] if result else ""


def test_init_ca_and_personalise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = tmp_path / "ca"
    assert main(["init-ca", "--dir", str(ca)]) == 0
    assert "created" in capsys.readouterr().out
    assert main(["init-ca", "--dir", str(ca)]) == 0
    assert "already exists" in capsys.readouterr().out
    out = tmp_path / "cards" / "bob.json"
    rc = main(["personalise", "--pin", "4321", "--card-id", "BOB-1", "--out", str(out), "--ca-dir", str(ca)])
    assert rc == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "BOB-1"
    assert "4321" not in captured.out + captured.err
    assert load_state(out).card_id == "BOB-1"


def test_personalise_takes_the_signature_password(
    card_ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "carol.json"
    argv = ["personalise", "--pin", "4321", "--sign-password", "CAROL2026", "--out", str(out)]
    assert main([*argv, "--ca-dir", str(card_ca)]) == 0
    captured = capsys.readouterr()
    assert "CAROL2026" not in captured.out + captured.err
    half = load_state(out).signature
    assert half is not None and half.password == "CAROL2026" and half.tries_left == 5
    assert out.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("password", ["short", "lower-case1", "ABCDE", "A" * 17, "ＡＢＣ１２３"])
def test_bad_signature_password_is_exit_2_with_a_code(
    password: str, card_ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.json"
    argv = ["personalise", "--pin", "1234", "--sign-password", password, "--out", str(out)]
    assert main([*argv, "--ca-dir", str(card_ca)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "konbini-card: error sign_password_format: the signature password must be 6-16 upper-case "
        "letters (A-Z) and digits (0-9)\n"
    )
    assert not out.exists()


def test_bad_signature_password_from_the_command_line_has_no_traceback(card_ca: Path, tmp_path: Path) -> None:
    proc = _cli("personalise", "--pin", "1234", "--sign-password", "abc", "--out", str(tmp_path / "y.json"))
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "Traceback" not in err and "error sign_password_format" in err


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["personalise", "--pin", "12a4", "--out", "{tmp}/x.json", "--ca-dir", "{ca}"], "bad_argument"),
        (["personalise", "--pin", "1234", "--out", "{tmp}/x.json", "--ca-dir", "{tmp}/none"], "card_ca"),
        (["run", "{tmp}/missing.json"], "card_file"),
    ],
)
def test_errors_are_one_line_with_a_code(
    argv: list[str], code: str, card_ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.format(tmp=tmp_path, ca=card_ca) for a in argv]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"konbini-card: error {code}: ")
    assert "12a4" not in err


def test_run_retries_until_vpcd_listens_and_stops_on_sigterm(card_file: Path) -> None:
    port = free_port()  # reserved for this process, where nothing listens
    proc = _cli("run", str(card_file), "--port", str(port))
    try:
        line = _read_line(proc.stderr, 10)
        assert "vpcd is not listening" in line and "retrying" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_info_without_pcscd_names_the_fix(tmp_path: Path) -> None:
    proc = _cli("info", env={"PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")})
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert err.startswith("konbini-card: error pcsc_unavailable: the smart-card service pcscd is not running")


@pytest.mark.e2e
def test_run_and_info_through_pcscd(
    pcscd: str,
    vpcd_port: int,
    await_reader: Callable[[bool], None],
    card_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proc = _cli("run", str(card_file), "--port", str(vpcd_port))
    try:
        line = _read_line(proc.stdout, 10)
        assert line == f"card TEST-CARD-0001 inserted in vpcd port {vpcd_port}\n"
        await_reader(True)
        assert main(["info", "--reader", pcscd]) == 0
        out = capsys.readouterr().out
        assert f"reader: {pcscd}" in out
        assert "card id: TEST-CARD-0001" in out
        assert "PIN tries left: 3" in out
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    await_reader(False)
    assert main(["info", "--reader", pcscd]) == 1
    assert capsys.readouterr().err.startswith("konbini-card: error no_card: ")


def test_the_card_issuer_writes_the_residents_identity_from_the_registry(
    card_ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``konbini-registry card-identity`` then ``konbini-card personalise --identity``: the card holds the
    resident's four fields, signed by the card CA."""
    db = tmp_path / "registry.sqlite3"
    assert registry_main(["seed", "--residents", "3", "--seed", "1", "--db", str(db)]) == 0
    identity = tmp_path / "identity.json"
    assert registry_main(["card-identity", DEMO_ATENA_NO, "--db", str(db), "--out", str(identity)]) == 0
    assert registry_main(["card-identity", "9999999999", "--db", str(db)]) == 1
    out = tmp_path / "held.json"
    argv = [
        "personalise",
        "--pin",
        "4321",
        "--identity",
        str(identity),
        "--out",
        str(out),
        "--ca-dir",
        str(card_ca),
    ]
    assert main(argv) == 0
    held = load_state(out).identity
    assert held is not None and held.pin == "4321"
    public = load_ca(card_ca)[1].public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    record = json.loads(identity.read_text(encoding="utf-8"))
    assert verified_identity(held.basic_four, held.signature, public).name == record["name"]
    identity.write_text('{"name": "x"}', encoding="utf-8")
    assert main([*argv[:-4], "--out", str(tmp_path / "bad.json"), "--ca-dir", str(card_ca)]) == 2
    assert "bad_identity" in capsys.readouterr().err
