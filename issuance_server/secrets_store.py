"""Secrets generated at first start into the data folder (mode 0600), never logged, never committed.

- ``secrets/pin-pepper``: 32 random bytes keying PIN hashes (a stolen database alone cannot test PINs).
- ``secrets/issuing-ed25519.pem``: the city's certificate-signing key; its public half is written to
  ``keys/issuing-ed25519.pub`` for verifiers.
- ``secrets/ops-token``: bearer token for the ops CLI on the server machine.
- ``secrets/audit-chain-key``: 32 random bytes keying the audit log's chain.
- ``secrets/audit-ed25519.pem``: signs the audit checkpoints; its public half is ``keys/audit-ed25519.pub``.
- ``secrets/totp-key``: 32 random bytes sealing staff TOTP seeds and keying recovery-code hashes (a stolen
  database alone gives no second factor).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PUBLIC_KEY_NAME = "issuing-ed25519.pub"


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (never overwrites: concurrent first starts keep the first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _read_or_create(path: Path, make: bytes) -> bytes:
    if not path.exists():
        write_private(path, make)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    return path.read_bytes()


@dataclass(frozen=True)
class ServerSecrets:
    pin_pepper: bytes
    issuing_key: Ed25519PrivateKey
    ops_token: str
    audit_chain_key: bytes
    audit_signing_key: Ed25519PrivateKey
    proxy_secret: str  # what a TLS proxy in front (plain_http) sends to vouch for the client certificate
    totp_key: bytes

    @property
    def issuing_public_key(self) -> Ed25519PublicKey:
        return self.issuing_key.public_key()


def public_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / PUBLIC_KEY_NAME


def _ed25519(path: Path, public_path: Path, what: str) -> Ed25519PrivateKey:
    key_pem = _read_or_create(
        path,
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{what} key is not Ed25519")
    pub_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not public_path.exists() or public_path.read_bytes() != pub_pem:
        public_path.parent.mkdir(parents=True, exist_ok=True)
        public_path.write_bytes(pub_pem)
    return key


def load_or_create_secrets(data_dir: Path) -> ServerSecrets:
    secrets_dir = data_dir / "secrets"
    pepper = _read_or_create(secrets_dir / "pin-pepper", secrets.token_bytes(32))
    key = _ed25519(secrets_dir / "issuing-ed25519.pem", public_key_path(data_dir), "issuing")
    ops_token = (
        _read_or_create(secrets_dir / "ops-token", secrets.token_urlsafe(32).encode()).decode().strip()
    )
    return ServerSecrets(
        pin_pepper=pepper,
        issuing_key=key,
        ops_token=ops_token,
        audit_chain_key=_read_or_create(secrets_dir / "audit-chain-key", secrets.token_bytes(32)),
        audit_signing_key=_ed25519(
            secrets_dir / "audit-ed25519.pem", data_dir / "keys" / "audit-ed25519.pub", "audit"
        ),
        proxy_secret=_read_or_create(secrets_dir / "proxy-secret", secrets.token_urlsafe(32).encode())
        .decode()
        .strip(),
        totp_key=_read_or_create(secrets_dir / "totp-key", secrets.token_bytes(32)),
    )


def read_ops_token(data_dir: Path) -> str:
    path = data_dir / "secrets" / "ops-token"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: start the server once (konbini-server) to create it")
    return path.read_text().strip()
