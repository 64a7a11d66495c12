"""The kiosk's message catalogues: every message in every language with the same parameters, and a
message for every code the server or the engine can send to a kiosk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from issuance_server.issuing.eligibility import REFUSALS
from kiosk.catalogue import catalogue, languages, render_message
from wire.catalogues import placeholders
from wire.kiosk_api import CertificateKind

KIOSK = Path(__file__).resolve().parents[2] / "kiosk"


def test_every_language_has_every_message_with_the_same_parameters() -> None:
    reference = catalogue("ja")
    assert len(languages()) >= 2 and languages()[0] == "ja"
    for language in languages():
        messages = catalogue(language)
        assert set(messages) == set(reference), language
        for key, text in messages.items():
            assert placeholders(text) == placeholders(reference[key]), (language, key)


def server_codes() -> set[str]:
    """Every reason a kiosk can receive: refusals as a kiosk sees them, and closures."""
    shown = {r.for_kiosk()["code"] for r in REFUSALS.values()}
    return shown | {"replica_not_loaded", "maintenance", "outside_hours", "year_end_closed"}


def engine_codes() -> set[str]:
    """Codes the engine puts in its messages (``_msg("...")`` and the payment outcomes)."""
    source = (KIOSK / "engine.py").read_text()
    found = set(re.findall(r'_msg\("(\w+)"', source)) | set(
        re.findall(r'"(registration_\w+|card_not_registered)"', source)
    )
    return found | {"payment_cancelled", "payment_insufficient", "payment_device_error"}


@pytest.mark.parametrize("language", languages())
def test_every_code_a_kiosk_receives_has_a_message(language: str) -> None:
    messages = catalogue(language)
    for code in server_codes():
        assert f"reason.{code}" in messages, code
    for code in engine_codes():
        assert f"msg.{code}" in messages, code
    for kind in CertificateKind:
        assert f"kind.{kind.value}" in messages


def test_a_message_is_rendered_with_its_parameters() -> None:
    text = render_message("en", {"code": "outside_hours", "params": {"opens": "06:30", "closes": "23:00"}})
    assert "06:30" in text and "23:00" in text
    text = render_message(
        "ja", {"code": "print_failed", "params": {"failed": 1, "printed": 0, "refunded_yen": 200}}
    )
    assert "200円" in text and "1部" in text
    assert render_message("en", {"code": "no_such_code", "params": {}}) == "reason.no_such_code"
