"""住民票の写し: the values of ``templates/juminhyo_setai.toml`` (世帯連記式) and ``juminhyo_kojin.toml`` (個人票).

This module formats the person records (``wire.linkage.RESIDENT_FIELDS``): 和暦 dates, 男/女, and for the
世帯連記式 the household's address and householder printed once a sheet. 住民票コード is never printed (no
template can name it: it is not among the values); 個人番号, 本籍・筆頭者 and 在留カード等番号 only when asked
for in the options. ``whole_household`` tells the template whether every current member of the household
is printed (its 認証文 says 世帯全員 or 世帯の一部); the wording itself is the template's. Which persons and
options a resident may have is the eligibility rules' business.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates.document import Content
from issuance_server.certificates.formatting import check_person, date_text, identity_values, text
from issuance_server.certificates.layout import PersonInput
from issuance_server.certificates.template import load_template

if TYPE_CHECKING:
    from issuance_server.certificates.document import RenderedCertificate

KIND: Final = "juminhyo"
TEMPLATES: Final = {"setai": "juminhyo_setai", "kojin": "juminhyo_kojin"}

# Values a template row may print, from the person record (formatted by person_values).
PERSON_VALUES: Final = (
    "name",
    "name_kana",
    "name_alpha",
    "tsusho",
    "kyuuji",
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
# 備考: what the record holds that a reader should know was entered on request (the registry gives no
# date of entry, so none is printed).
_REMARKS: Final = (("kyuuji", "旧氏記載"), ("tsusho", "通称記載"))


def person_values(person: Mapping[str, Any]) -> dict[str, str]:
    values = {key: text(person, key) for key in PERSON_VALUES}
    values.update(identity_values(person))
    for key in _DATES:
        values[key] = date_text(person.get(key))
    values["remarks"] = "、".join(remark for key, remark in _REMARKS if values[key])
    return values


def content(
    persons: Sequence[Mapping[str, Any]],
    options: Collection[str] | None,
    layout: str,
    whole_household: bool = True,
) -> Content:
    """The 住民票の写し of ``persons`` (``persons[0]`` the principal) in the ``setai`` or ``kojin`` layout;
    ``whole_household``: they are every current member of their household.

    The 世帯連記式 prints one household: every person must share the principal's address and 方書.
    """
    if layout not in TEMPLATES:
        raise ValueError(f"unknown 住民票 layout {layout!r} (setai or kojin)")
    if not persons:
        raise ValueError("no persons")
    for i, person in enumerate(persons):
        check_person(person, i)
    principal = persons[0]
    if layout == "setai":
        for i, person in enumerate(persons[1:], start=1):
            if (text(person, "address"), text(person, "katagaki")) != (
                text(principal, "address"),
                text(principal, "katagaki"),
            ):
                raise ValueError(f"person {i} lives at another address: 世帯連記式 prints one household")
    values = {
        "whole_household": "1" if whole_household else "",
        "household_address": text(principal, "address"),
        "household_katagaki": text(principal, "katagaki"),
        "householder_name": text(principal, "householder_name"),
    }
    people = [PersonInput(values=person_values(p), kind=str(p["kind"])) for p in persons]
    return Content(
        template=TEMPLATES[layout],
        values=values,
        persons=people,
        options=None if options is None else frozenset(options),
    )


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
    layout: str = "setai",
    data_as_of: datetime | None = None,
    whole_household: bool = True,
) -> RenderedCertificate:
    """A 住民票の写し; a thin wrapper of :func:`render.render_certificate` (``options`` None: 世帯主・続柄)."""
    from issuance_server.certificates.render import CertificateRequest, render_certificate

    template = load_template(TEMPLATES.get(layout, TEMPLATES["setai"]))
    chosen = template.default_options if options is None else frozenset(options)
    request = CertificateRequest(
        kind=KIND,
        persons=persons,
        serial=serial,
        issued_at=issued_at,
        municipality_name=municipality_name,
        municipality_code=municipality_code,
        mayor_name=mayor_name,
        options=chosen,
        layout=layout,
        data_as_of=data_as_of,
        whole_household=whole_household,
    )
    return render_certificate(request, key)
