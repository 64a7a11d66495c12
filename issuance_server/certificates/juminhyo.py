"""住民票の写し: person records (``wire.linkage.RESIDENT_FIELDS``) to a signed, verifiable PDF.

The layout is ``templates/juminhyo.toml``; this module formats the values (和暦 dates, 男/女, ...),
builds the QR record of the principal (``persons[0]``) and hands both to the engine. 住民票コード is
never printed; 個人番号, 本籍・筆頭者 and 在留カード等番号 only when asked for in ``options``.
Which persons and options a resident may have is the eligibility rules' business, not this module's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates import engine
from issuance_server.certificates.record import JST, CertRecord, digest_prefix, sign_record
from issuance_server.certificates.wareki import format_wareki, format_wareki_iso

KIND: Final = "juminhyo"
TITLE: Final = "住民票の写し"
TEMPLATE: Final = "juminhyo"
SEX_LABELS: Final = {"M": "男", "F": "女"}

# Values a template row may print, from the person record (formatted by _person_values).
PERSON_VALUES: Final = (
    "name",
    "name_kana",
    "name_alpha",
    "tsusho",
    "birth_date",
    "sex",
    "address",
    "katagaki",
    "householder_name",
    "relationship",
    "became_resident_on",
    "address_set_on",
    "previous_address",
    "honseki",
    "hittousha",
    "nationality",
    "art30_45_class",
    "zairyu_status",
    "zairyu_period",
    "zairyu_expiry",
    "zairyu_card_no",
    "kojin_bango",
)
_DATES: Final = ("became_resident_on", "address_set_on", "zairyu_expiry")


@dataclass(frozen=True)
class RenderedCertificate:
    pdf: bytes
    record_text: str  # the QR's text
    content_digest: str  # hex SHA-256 of the printed content (engine.content_digest)
    pages: int
    record: CertRecord


def _text(person: Mapping[str, Any], key: str) -> str:
    value = person.get(key)
    return "" if value is None else str(value)


def _birth_date_text(person: Mapping[str, Any]) -> str:
    born = date.fromisoformat(str(person["birth_date"]))
    if person.get("kind") == "foreign":  # 外国人住民の生年月日は西暦で記載する
        return f"{born.year}年{born.month}月{born.day}日"
    return format_wareki(born)


def _person_values(person: Mapping[str, Any]) -> dict[str, str]:
    values = {key: _text(person, key) for key in PERSON_VALUES}
    values["birth_date"] = _birth_date_text(person)
    sex = _text(person, "sex")
    values["sex"] = SEX_LABELS.get(sex, sex)
    for key in _DATES:
        values[key] = format_wareki_iso(person.get(key))
    return values


def _check_person(person: Mapping[str, Any], index: int) -> None:
    for key in ("name", "birth_date", "address", "kind"):
        if not person.get(key):
            raise ValueError(f"person {index} lacks {key}")
    if person["kind"] not in ("japanese", "foreign"):
        raise ValueError(f"person {index}: unknown kind")


def render_juminhyo(
    persons: Sequence[Mapping[str, Any]],
    *,
    serial: str,
    issued_at: datetime,
    municipality_name: str,
    municipality_code: str,
    mayor_name: str,
    key: Ed25519PrivateKey,
    options: Collection[str] | None = None,
) -> RenderedCertificate:
    """Render a 住民票の写し for ``persons`` (``persons[0]`` is the principal, named in the QR record).

    ``issued_at`` must be timezone-aware; it is kept to the second. ``options`` (default: the template's,
    世帯主・続柄) may add ``honseki``, ``kojin_bango``, ``zairyu_card_no``. Raises
    ``fonts.MissingGlyphError`` if any printed character has no glyph, ``ValueError`` on bad input.
    """
    if not persons:
        raise ValueError("no persons")
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    issued_at = issued_at.replace(microsecond=0)
    for i, person in enumerate(persons):
        _check_person(person, i)
    template = engine.load_template(TEMPLATE)
    values = {
        "title": TITLE,
        "serial": serial,
        "issued_date": format_wareki(issued_at.astimezone(JST).date()),  # the date in Japan
        "municipality_name": municipality_name,
        "mayor_name": mayor_name,
    }
    people = [engine.PersonInput(values=_person_values(p), kind=str(p["kind"])) for p in persons]
    layout = engine.lay_out(template, values, people, options)
    digest = engine.content_digest(
        layout, kind=KIND, serial=serial, issued_at=issued_at, municipality_code=municipality_code
    )
    principal = persons[0]
    record = CertRecord(
        serial=serial,
        kind=KIND,
        issued_at=issued_at,
        municipality_code=municipality_code,
        name=str(principal["name"]),
        birth_date=date.fromisoformat(str(principal["birth_date"])),
        address=str(principal["address"]),
        content_digest=digest_prefix(digest),
    )
    record_text = sign_record(record, key)
    pdf, pages = engine.draw(layout, record_text)
    return RenderedCertificate(
        pdf=pdf, record_text=record_text, content_digest=digest, pages=pages, record=record
    )
