"""The ``GET /verify`` page for a person who scanned a certificate's QR code with a phone, in the
visitor's language (``?lang=``, else the browser's ``Accept-Language``, else Japanese).

It shows the status (valid / voided / cannot be confirmed), the kind, the issue date and the identity
fields the QR record carries (name, birth date, address), for comparison with the paper: nothing more
about the person. Texts come from ``templates/verify/<language>.po`` (the certificate's own contents stay
Japanese). Every value is HTML-escaped; the page needs no JavaScript. The skeleton is
``templates/verify_page.html``.
"""

from __future__ import annotations

import html
import string
import urllib.parse
from functools import cache, lru_cache
from typing import Literal

from babel.messages.pofile import read_po

from issuance_server.certificates.template import templates_dir
from wire.cert_record import JST, CertRecord
from wire.kiosk_api import LANGUAGES
from wire.wareki import format_wareki

Status = Literal["valid", "voided", "unconfirmed"]


@cache
def languages() -> tuple[str, ...]:
    """Languages with a catalogue for the page, in the order of the language list."""
    found = {p.stem for p in (templates_dir() / "verify").glob("*.po")}
    return tuple(lang for lang in LANGUAGES if lang in found)


@cache
def catalogue(language: str) -> dict[str, str]:
    with (templates_dir() / "verify" / f"{language}.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id and m.string}


def choose_language(asked: str | None, accept_language: str | None) -> str:
    """``?lang=`` if we have it; else the best of the browser's languages (``zh-TW`` -> zh-Hant, ...)."""
    offered = languages()
    if asked in offered:
        return str(asked)
    wanted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            wanted.append((float(q) if q else 1.0, tag.strip()))
        except ValueError:
            continue
    for _, tag in sorted(wanted, key=lambda w: -w[0]):
        lower = tag.lower()
        if lower in ("zh-tw", "zh-hk", "zh-mo") or lower.startswith("zh-hant"):
            candidate = "zh-Hant"
        elif lower.startswith("zh"):
            candidate = "zh-Hans"
        elif lower.startswith("fil"):
            candidate = "tl"
        else:
            candidate = lower.split("-")[0]
        if candidate in offered:
            return candidate
    return "ja"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


@lru_cache(maxsize=1)
def _skeleton() -> string.Template:
    return string.Template((templates_dir() / "verify_page.html").read_text(encoding="utf-8"))


def _page(content: str, municipality_name: str, language: str, qr: str) -> str:
    t = catalogue(language)
    links = []
    for lang in languages():
        query = urllib.parse.urlencode({"lang": lang, **({"qr": qr} if qr else {})})
        current = ' aria-current="true"' if lang == language else ""
        html_lang = "ja" if lang == "easy-ja" else lang
        links.append(
            f'<a href="?{_e(query)}" lang="{html_lang}"{current}>{_e(catalogue(lang)["language_name"])}</a>'
        )
    return _skeleton().substitute(
        lang="ja" if language == "easy-ja" else language,
        title=_e(t["page.title"]),
        language_label=_e(t["page.language"]),
        languages=" ".join(links),
        content=content,
        footer=_e(t["page.footer"]),
        municipality=_e(municipality_name),
    )


def _row(label: str, value: str) -> str:
    return f"<dt>{_e(label)}</dt>\n<dd>{_e(value)}</dd>"


def result_page(
    status: Status, record: CertRecord | None, municipality_name: str, language: str = "ja", qr: str = ""
) -> str:
    """The page for a checked QR text; ``record`` is shown only for ``valid`` and ``voided``. ``qr``: the
    text as the visitor gave it in the query (kept in the language links), if it came that way."""
    t = catalogue(language)
    parts = [
        f'<section class="status {status}" role="status"><strong>{_e(t[f"status.{status}"])}</strong>'
        f"<p>{_e(t[f'status.{status}.explain'])}</p></section>"
    ]
    if record is not None and status != "unconfirmed":
        issued = record.issued_at.astimezone(JST)
        rows = [
            _row(t["field.kind"], t.get(f"kind.{record.kind}", record.kind)),
            _row(t["field.issued_on"], f"{format_wareki(issued.date())}（{issued.date().isoformat()}）"),
            _row(t["field.serial"], record.serial),
            _row(t["field.name"], record.name),
            _row(t["field.birth_date"], _birth_text(record)),
            _row(t["field.address"], record.address),
        ]
        parts.append("<dl>\n" + "\n".join(rows) + "\n</dl>")
    parts.append(_form(language))
    return _page("\n".join(parts), municipality_name, language, qr)


def _birth_text(record: CertRecord) -> str:
    try:
        return f"{format_wareki(record.birth_date)}（{record.birth_date.isoformat()}）"
    except ValueError:  # before 1873: no 和暦 form
        return record.birth_date.isoformat()


def _form(language: str) -> str:
    t = catalogue(language)
    return (
        '<form method="get" action="/verify">'
        f'<input type="hidden" name="lang" value="{_e(language)}">'
        f'<label for="qr">{_e(t["form.label"])}</label>'
        '<textarea id="qr" name="qr" required spellcheck="false" autocomplete="off"></textarea>'
        f'<button type="submit">{_e(t["form.submit"])}</button></form>'
    )


def form_page(municipality_name: str, language: str = "ja") -> str:
    """The page without a QR text: how to use it, and a small form."""
    intro = f"<p>{_e(catalogue(language)['form.intro'])}</p>"
    return _page(intro + _form(language), municipality_name, language, "")
