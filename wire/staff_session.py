"""A staff member's session for the command-line tools (``konbini-clerk``, ``konbini-ops --staff-id``).

Log in once with the password and a TOTP code (or a recovery code); the session token is kept in a private
file (``$KONBINI_STAFF_SESSION``, else ``~/.konbini/session-<staff id>@<host>-<port>``, mode 0600) and
used until the server ends the session (15 idle minutes, logout, deactivation). A TOTP code is accepted
once, so commands run one after another reuse the session instead of asking for a code each time.
Passwords and codes come from ``$KONBINI_STAFF_PASSWORD`` / ``$KONBINI_TOTP_CODE`` or a prompt.
"""

from __future__ import annotations

import getpass
import io
import os
import sys
import urllib.parse
from pathlib import Path

import qrcode

from wire.http_json import HttpError, JsonClient


class StaffLoginError(Exception):
    """Logging in cannot go on (no terminal to ask, enrolment needed): the message says what to do."""


def ask(env: str, prompt: str) -> str:
    """``$env`` if set, else a hidden prompt on a terminal."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise StaffLoginError(f"set {env} or run in a terminal to be asked")
    return getpass.getpass(prompt)


def session_file(staff_id: str, server: str) -> Path:
    if os.environ.get("KONBINI_STAFF_SESSION"):
        return Path(os.environ["KONBINI_STAFF_SESSION"])
    url = urllib.parse.urlsplit(server)
    return Path.home() / ".konbini" / f"session-{staff_id}@{url.hostname}-{url.port or 443}"


def _keep(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)


def _second_factor(code: str) -> dict[str, str]:
    code = code.strip()
    return {"totp_code": code} if code.isdigit() else {"recovery_code": code}


def qr_text(uri: str) -> str:
    """The enrolment URI as a QR code drawn with characters, for a terminal."""
    qr = qrcode.QRCode(border=2)
    qr.add_data(uri)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def staff_session(client: JsonClient, staff_id: str, terminal: str, fresh: bool = False) -> JsonClient:
    """``client`` with a staff session's bearer token: the kept one while the server accepts it, else a
    new login (kept for the next command)."""
    path = session_file(staff_id, client.base_url)
    if path.exists() and not fresh:
        client.headers["Authorization"] = f"Bearer {path.read_text().strip()}"
        try:
            if client.call("GET", "/clerk/api/me")["staff_id"] == staff_id:
                return client
        except HttpError as exc:
            if exc.status != 401:
                raise
        path.unlink(missing_ok=True)
    body = {"staff_id": staff_id, "terminal": terminal}
    body["password"] = ask("KONBINI_STAFF_PASSWORD", f"password for {staff_id}: ")
    code = ask("KONBINI_TOTP_CODE", "code from your authenticator app (or a recovery code): ")
    client.headers.pop("Authorization", None)
    try:
        token = client.call("POST", "/clerk/api/login", {**body, **_second_factor(code)})["token"]
    except HttpError as exc:
        if exc.code == "totp_enrolment_required":
            raise StaffLoginError(
                f"{staff_id} has no second factor yet: run `konbini-clerk --staff-id {staff_id} totp-enrol`"
                " (it shows the QR code for your authenticator app), then `totp-confirm`"
            ) from None
        raise
    _keep(path, token)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def start_enrolment(client: JsonClient, staff_id: str, terminal: str) -> dict[str, str]:
    password = ask("KONBINI_STAFF_PASSWORD", f"password for {staff_id}: ")
    return client.call(
        "POST", "/clerk/api/totp/enrol", {"staff_id": staff_id, "password": password, "terminal": terminal}
    )


def confirm_enrolment(client: JsonClient, staff_id: str, terminal: str) -> list[str]:
    """Confirm with a code from the new seed; the session is kept; returns the recovery codes."""
    password = ask("KONBINI_STAFF_PASSWORD", f"password for {staff_id}: ")
    code = ask("KONBINI_TOTP_CODE", "code from your authenticator app: ")
    answer = client.call(
        "POST",
        "/clerk/api/totp/confirm",
        {"staff_id": staff_id, "password": password, "totp_code": code.strip(), "terminal": terminal},
    )
    _keep(session_file(staff_id, client.base_url), answer["token"])
    client.headers["Authorization"] = f"Bearer {answer['token']}"
    return list(answer["recovery_codes"])


def end_session(client: JsonClient, staff_id: str) -> bool:
    """Log out: the server forgets the session and the kept file is removed; False when there was none."""
    path = session_file(staff_id, client.base_url)
    if not path.exists():
        return False
    client.headers["Authorization"] = f"Bearer {path.read_text().strip()}"
    try:
        client.call("POST", "/clerk/api/logout")
    except HttpError as exc:
        if exc.status != 401:
            raise
    path.unlink(missing_ok=True)
    return True
