"""印鑑登録証明書: the values of ``templates/inkan.toml`` from a person and their seal record.

The registered seal image (印影) is drawn by the engine from the seal's characters (``impression``) as a red
seal: round, as most registered seals are, unless the record asks for ``shape = "square"`` or the
impression is longer than four characters (a square seal holds more).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from issuance_server.certificates.document import Content
from issuance_server.certificates.formatting import check_person, date_text, identity_values, text
from issuance_server.certificates.layout import PersonInput

KIND: Final = "inkan"
TEMPLATE: Final = "inkan"
_ROUND_MAX_CHARS: Final = 4


def seal_shape(seal: Mapping[str, Any]) -> str:
    shape = seal.get("shape")
    if shape in ("round", "square"):
        return str(shape)
    return "round" if len(text(seal, "impression")) <= _ROUND_MAX_CHARS else "square"


def content(
    person: Mapping[str, Any], seal: Mapping[str, Any] | None, options: frozenset[str] = frozenset()
) -> Content:
    """The certificate of ``person``'s own active seal; ``ValueError`` if the seal is not theirs or not
    active (the rules refuse those before; this is the last guard against printing a wrong seal).
    The template has no options: any in ``options`` is refused when laid out."""
    check_person(person)
    if seal is None:
        raise ValueError("印鑑登録証明書 needs the seal record")
    if text(seal, "owner_atena_no") != text(person, "atena_no"):
        raise ValueError("the seal belongs to another person")
    if seal.get("status") != "active":
        raise ValueError("the seal registration is not active")
    if not text(seal, "impression") or not text(seal, "seal_no"):
        raise ValueError("the seal record lacks its impression or number")
    values = {
        "impression": text(seal, "impression"),
        "seal_shape": seal_shape(seal),
        "seal_no": text(seal, "seal_no"),
        "seal_registered_on": date_text(seal.get("registered_on")),
    }
    person_values = identity_values(person)
    return Content(
        template=TEMPLATE,
        values=values,
        persons=[PersonInput(values=person_values, kind=str(person["kind"]))],
        options=options,
    )
