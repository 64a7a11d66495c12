"""The ``GET /verify`` page for a person who scanned a certificate's QR code with a phone (ja + en).

It shows the status (有効 / 無効（取消） / 確認できません), the kind, the issue date and the identity fields
the QR record carries (name, birth date, address), for comparison with the paper: nothing more about the
person. Every value is HTML-escaped; the page needs no JavaScript. The skeleton is
``templates/verify_page.html``.
"""

from __future__ import annotations

import html
import string
from functools import lru_cache
from typing import Final, Literal

from issuance_server.certificates.record import JST, CertRecord
from issuance_server.certificates.template import templates_dir
from issuance_server.certificates.wareki import format_wareki
from wire.kiosk_api import KIND_LABELS_EN, KIND_LABELS_JA

Status = Literal["valid", "voided", "unconfirmed"]

_STATUS_TEXT: Final[dict[str, tuple[str, str, str, str]]] = {
    "valid": (
        "有効",
        "Valid",
        "この証明書は交付されたもので、取り消されていません。下の記載が紙の証明書と一致することを確かめてください。",
        "This certificate was issued and has not been voided. Check that the details below match the paper.",
    ),
    "voided": (
        "無効（取消）",
        "Void (cancelled)",
        "この交付番号の証明書は取り消されています。この証明書は使えません。",
        "The certificate with this serial number was voided. It is not valid.",
    ),
    "unconfirmed": (
        "確認できません",
        "Cannot be confirmed",
        "QRコードの内容を確かめられませんでした。読み取り直すか、発行した市区町村にお問い合わせください。",
        "The QR code could not be confirmed. Scan it again, or ask the issuing city.",
    ),
}


def _e(text: str) -> str:
    return html.escape(text, quote=True)


@lru_cache(maxsize=1)
def _skeleton() -> string.Template:
    return string.Template((templates_dir() / "verify_page.html").read_text(encoding="utf-8"))


def _page(content: str, municipality_name: str) -> str:
    return _skeleton().substitute(content=content, municipality=_e(municipality_name))


def _row(ja: str, en: str, value: str) -> str:
    return f'<dt>{_e(ja)} <span class="en">{_e(en)}</span></dt>\n<dd>{_e(value)}</dd>'


def result_page(status: Status, record: CertRecord | None, municipality_name: str) -> str:
    """The page for a checked QR text; ``record`` is shown only for ``valid`` and ``voided``."""
    ja, en, explain_ja, explain_en = _STATUS_TEXT[status]
    parts = [
        f'<section class="status {status}" role="status"><strong>{_e(ja)}</strong>'
        f'<span class="en">{_e(en)}</span><p>{_e(explain_ja)}<br><span class="en">{_e(explain_en)}'
        "</span></p></section>"
    ]
    if record is not None and status != "unconfirmed":
        issued = record.issued_at.astimezone(JST)
        rows = [
            _row(
                "証明書の種類",
                "Certificate",
                f"{KIND_LABELS_JA.get(record.kind, record.kind)} / {KIND_LABELS_EN.get(record.kind, record.kind)}",
            ),
            _row("交付日", "Issued on", f"{format_wareki(issued.date())}（{issued.date().isoformat()}）"),
            _row("交付番号", "Serial number", record.serial),
            _row("氏名", "Name", record.name),
            _row("生年月日", "Date of birth", _birth_text(record)),
            _row("住所", "Address", record.address),
        ]
        parts.append("<dl>\n" + "\n".join(rows) + "\n</dl>")
    parts.append(_form(""))
    return _page("\n".join(parts), municipality_name)


def _birth_text(record: CertRecord) -> str:
    try:
        return f"{format_wareki(record.birth_date)}（{record.birth_date.isoformat()}）"
    except ValueError:  # before 1873: no 和暦 form
        return record.birth_date.isoformat()


def _form(value: str) -> str:
    return (
        '<form method="get" action="/verify">'
        '<label for="qr">QRコードの内容 <span class="en">Text of the QR code</span></label>'
        f'<textarea id="qr" name="qr" required spellcheck="false" autocomplete="off">{_e(value)}</textarea>'
        '<button type="submit">確認する / Check</button></form>'
    )


def form_page(municipality_name: str) -> str:
    """The page without a QR text: how to use it, and a small form."""
    intro = (
        "<p>証明書のQRコードを読み取った文字列（KB1. で始まります）を下に入れると、証明書が有効かどうかを"
        '確かめられます。<br><span class="en">Paste the text of the certificate\'s QR code (it begins with'
        " KB1.) below to check whether the certificate is valid.</span></p>"
    )
    return _page(intro + _form(""), municipality_name)
