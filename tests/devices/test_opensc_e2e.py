"""OpenSC, a JPKI client nobody here wrote, against the virtual card in a vpcd reader (pcscd + vpcd + the
card + Debian's ``pkcs15-tool``, ``pkcs11-tool`` and ``opensc-pkcs11.so``), side by side with the kiosk's own
card layer: both see the same certificate bytes and tries left, and their signatures verify with one key.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding

from devices.card.errors import WrongPin
from devices.card.jpki import JpkiCard
from devices.card.pcsc import list_readers
from devices.card.virtual.state import load_state
from devices.card.virtual.vpcd import CardHandle
from tests.devices.conftest import PIN, SIGN_PASSWORD, unavailable

pytestmark = pytest.mark.e2e

Insert = Callable[[Path], CardHandle]
AUTH_TOKEN = "JPKI (User Authentication PIN)"
SIGN_TOKEN = "JPKI (Digital Signature PIN)"
_MODULE_GLOBS = ("/usr/lib/*/opensc-pkcs11.so", "/usr/lib/opensc-pkcs11.so", "/usr/lib64/opensc-pkcs11.so")


@dataclass(frozen=True)
class OpenSC:
    """OpenSC's command-line tools, pointed at one reader."""

    reader: str
    module: str
    conf: Path

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSC_")}
        env["OPENSC_CONF"] = str(self.conf)
        return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, check=False)

    def pkcs15(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(["pkcs15-tool", "--reader", self.reader, *args])

    def slot_of(self, token_label: str) -> str:
        """The PKCS#11 slot id of ``token_label`` in this reader (OpenSC makes one slot per PIN)."""
        listing = self._run(["pkcs11-tool", "--module", self.module, "--list-slots"])
        assert listing.returncode == 0, listing.stderr
        slot = None
        for line in listing.stdout.splitlines():
            head = re.match(r"Slot \d+ \((0x[0-9a-f]+)\): (.*)$", line)
            if head:
                slot = head.group(1) if head.group(2).strip() == self.reader else None
            elif slot and re.match(rf"\s*token label\s*:\s*{re.escape(token_label)}\s*$", line):
                return slot
        raise AssertionError(f"no token {token_label!r} in {self.reader!r}:\n{listing.stdout}")

    def pkcs11(self, token_label: str, *args: str) -> subprocess.CompletedProcess[str]:
        slot = self.slot_of(token_label)
        return self._run(["pkcs11-tool", "--module", self.module, "--slot", slot, *args])


def opensc_conf(reader: str) -> str:
    """OpenSC's defaults, but it sees only ``reader``: the other readers are other runs' (their cards come
    and go, and pkcs11-tool's slot listing then fails with CKR_BUFFER_TOO_SMALL between its two calls)."""
    others = [r for r in list_readers() if r != reader]
    ignored = f"ignored_readers = {', '.join(json.dumps(r) for r in others)};" if others else ""
    return f"app default {{\n    {ignored}\n    framework pkcs15 {{\n    }}\n}}\n"


@pytest.fixture
def opensc(pcscd: str, tmp_path: Path) -> OpenSC:
    for tool in ("pkcs15-tool", "pkcs11-tool"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (Debian package opensc)")
    modules = [m for pattern in _MODULE_GLOBS for m in sorted(glob.glob(pattern))]
    if not modules:
        unavailable("opensc-pkcs11.so is not installed (Debian package opensc-pkcs11)")
    conf = tmp_path / "opensc.conf"
    conf.write_text(opensc_conf(pcscd))
    return OpenSC(pcscd, modules[0], conf)


def pem_to_der(text: str) -> bytes:
    match = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    assert match, text
    return x509.load_pem_x509_certificate(match.group(0).encode()).public_bytes(Encoding.DER)


def tries_by_pin(listing: str) -> dict[str, int]:
    """``pkcs15-tool --list-pins``: PIN label -> tries left."""
    labels = re.findall(r"^PIN \[(.+)\]$", listing, re.M)
    tries = [int(t) for t in re.findall(r"Tries left\s*:\s*(-?\d+)", listing)]
    assert len(labels) == len(tries), listing
    return dict(zip(labels, tries, strict=True))


def rsa_key_of(cert_der: bytes) -> rsa.RSAPublicKey:
    key = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_opensc_binds_the_card_and_lists_certificates_pins_and_keys(
    opensc: OpenSC, insert_card: Insert, card_file: Path
) -> None:
    insert_card(card_file)
    result = opensc.pkcs15("--list-certificates", "--list-pins", "--list-keys")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label, path in [
        ("User Authentication Certificate", "000a"),
        ("Digital Signature Certificate", "0001"),
        ("User Authentication Certificate CA", "000b"),
        ("Digital Signature Certificate CA", "0002"),
    ]:
        assert re.search(rf"X\.509 Certificate \[{label}\]\n(?:\t.*\n)*?\tPath\s*: {path}\n", out), label
    assert "Private RSA Key [User Authentication Key]" in out
    assert "Private RSA Key [Digital Signature Key]" in out
    assert "min_len:4, max_len:4" in out and "min_len:6, max_len:16" in out
    assert tries_by_pin(out) == {"User Authentication PIN": 3, "Digital Signature PIN": 5}


def test_opensc_and_the_kiosk_read_the_same_certificates(
    opensc: OpenSC, insert_card: Insert, card_file: Path
) -> None:
    insert_card(card_file)
    auth = opensc.pkcs15("--read-certificate", "01")
    ca = opensc.pkcs15("--read-certificate", "03")
    assert auth.returncode == 0 and ca.returncode == 0, auth.stderr + ca.stderr
    with JpkiCard.connect(opensc.reader) as card:
        kiosk_auth, kiosk_ca = card.read_auth_certificate(), card.read_ca_certificate()
    state = load_state(card_file)
    assert pem_to_der(auth.stdout) == kiosk_auth == state.certificate_der
    assert pem_to_der(ca.stdout) == kiosk_ca == state.ca_certificate_der


def test_pkcs11_signs_with_the_pin_and_the_kiosk_signs_the_same(
    opensc: OpenSC, insert_card: Insert, card_file: Path, tmp_path: Path
) -> None:
    insert_card(card_file)
    message = b"konbini: signed through OpenSC's PKCS#11 module"
    (tmp_path / "message").write_bytes(message)
    signed = opensc.pkcs11(
        AUTH_TOKEN,
        *("--login", "--pin", PIN, "--sign", "--id", "01", "--mechanism", "SHA256-RSA-PKCS"),
        *("--input-file", str(tmp_path / "message"), "--output-file", str(tmp_path / "signature")),
    )
    assert signed.returncode == 0, signed.stderr
    by_opensc = (tmp_path / "signature").read_bytes()
    digest = hashlib.sha256(message).digest()
    with JpkiCard.connect(opensc.reader) as card:
        cert = card.read_auth_certificate()
        assert card.pin_tries_left() == 3
        card.verify_pin(PIN)
        by_kiosk = card.sign_digest(digest)
    key = rsa_key_of(cert)
    key.verify(by_opensc, message, padding.PKCS1v15(), hashes.SHA256())
    key.verify(by_kiosk, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert by_opensc == by_kiosk  # PKCS#1 v1.5 is deterministic: one key, one DigestInfo, one signature


def test_wrong_pin_through_opensc_counts_down_the_tries_the_kiosk_sees(
    opensc: OpenSC, insert_card: Insert, card_file: Path
) -> None:
    insert_card(card_file)
    login = opensc.pkcs11(AUTH_TOKEN, "--login", "--pin", "9999", "--list-objects")
    assert login.returncode != 0 and "CKR_PIN_INCORRECT" in login.stderr
    with JpkiCard.connect(opensc.reader) as card:
        assert card.pin_tries_left() == 2
        with pytest.raises(WrongPin) as wrong:
            card.verify_pin("0000")
        assert wrong.value.tries_left == 1
    assert tries_by_pin(opensc.pkcs15("--list-pins").stdout)["User Authentication PIN"] == 1
    assert opensc.pkcs11(AUTH_TOKEN, "--login", "--pin", "8888", "--list-objects").returncode != 0
    assert tries_by_pin(opensc.pkcs15("--list-pins").stdout)["User Authentication PIN"] == 0
    blocked = opensc.pkcs11(AUTH_TOKEN, "--login", "--pin", PIN, "--list-objects")
    assert blocked.returncode != 0 and "CKR_PIN_LOCKED" in blocked.stderr  # even the right PIN
    with JpkiCard.connect(opensc.reader) as card:
        assert card.pin_tries_left() == 0
    state = load_state(card_file)
    assert state.tries_left == 0 and state.signature is not None and state.signature.tries_left == 5


def test_signature_certificate_is_refused_without_the_signature_password(
    opensc: OpenSC, insert_card: Insert, card_file: Path, tmp_path: Path
) -> None:
    insert_card(card_file)
    refused = opensc.pkcs15("--read-certificate", "02")
    assert refused.returncode != 0 and "BEGIN CERTIFICATE" not in refused.stdout
    assert "Certificate read failed" in refused.stderr
    half = load_state(card_file).signature
    assert half is not None
    read = opensc.pkcs11(
        SIGN_TOKEN,
        *("--login", "--pin", SIGN_PASSWORD, "--read-object", "--type", "cert", "--id", "02"),
        *("--output-file", str(tmp_path / "sign.der")),
    )
    assert read.returncode == 0, read.stderr
    assert (tmp_path / "sign.der").read_bytes() == half.certificate_der
    (tmp_path / "document").write_bytes(b"a document signed with the signature key")
    signed = opensc.pkcs11(
        SIGN_TOKEN,
        *("--login", "--pin", SIGN_PASSWORD, "--sign", "--id", "02", "--mechanism", "SHA256-RSA-PKCS"),
        *("--input-file", str(tmp_path / "document"), "--output-file", str(tmp_path / "document.sig")),
    )
    assert signed.returncode == 0, signed.stderr
    rsa_key_of(half.certificate_der).verify(
        (tmp_path / "document.sig").read_bytes(),
        (tmp_path / "document").read_bytes(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
