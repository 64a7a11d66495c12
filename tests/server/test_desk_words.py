"""What the desk says: a Japanese and an English message for every code it can meet, with the same
parameters; the customer display in every kiosk language; 和暦 (wire/wareki.py, tests/wire/test_wareki.py)
and Japan time; labels, not codes."""

from __future__ import annotations

from importlib import resources

import yaml

from devices.card import errors as card_errors
from registration.desk.words import LABELS, MESSAGES, date_ja, label, say, time_ja
from tests.server.conftest import Env
from wire.catalogues import languages_of, placeholders, read_catalogue
from wire.kiosk_api import LANGUAGES

CUSTOMER = "registration.desk.customer_messages"


def server_codes() -> set[str]:
    spec = yaml.safe_load(
        resources.files("issuance_server").joinpath("openapi.yaml").read_text(encoding="utf-8")
    )
    return set(spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])


def card_codes() -> set[str]:
    found = [getattr(card_errors, name) for name in dir(card_errors)]
    return {c.code for c in found if isinstance(c, type) and issubclass(c, card_errors.CardError) and c.code}


def test_every_code_the_desk_meets_has_a_message_in_japanese_and_english() -> None:
    ja, en = read_catalogue(MESSAGES, "ja"), read_catalogue(MESSAGES, "en")
    assert set(ja) == set(en)
    assert server_codes() <= set(ja), sorted(server_codes() - set(ja))
    assert card_codes() <= set(ja), sorted(card_codes() - set(ja))
    for code, text in ja.items():
        assert placeholders(text) == placeholders(en[code]), code


def test_a_message_is_japanese_first_and_a_code_it_lacks_is_said_with_the_servers_words() -> None:
    said = say("nothing_to_change", detail="no registration of this resident can be resumed")
    assert said.ja and said.en and said.code == "nothing_to_change" and said.ja != said.en
    unknown = say("a_code_from_a_newer_server", detail="what the server said")
    assert (unknown.ja, unknown.en) == ("what the server said", "")


def test_the_customer_display_speaks_every_kiosk_language_with_the_same_messages() -> None:
    assert set(languages_of(CUSTOMER)) == set(LANGUAGES)
    ids = set(read_catalogue(CUSTOMER, "ja"))
    assert all(set(read_catalogue(CUSTOMER, lang)) == ids for lang in LANGUAGES)


def test_times_are_japan_time_and_dates_keep_the_iso_form_for_machines() -> None:
    assert "令和8年12月7日 06:45" in time_ja("2026-12-06T21:45:21.985Z")
    assert 'datetime="1981-04-12"' in date_ja("1981-04-12") and "昭和56年4月12日（1981年）" in date_ja(
        "1981-04-12"
    )
    assert time_ja("not a time") == "not a time" and date_ja("") == ""


def test_values_are_labelled_not_shown_as_codes() -> None:
    assert [label(v, "sex") for v in ("M", "F")] == ["男", "女"]
    assert (
        label("locked", "registration_status") == "ロック中" and label("juminhyo", "kind") == "住民票の写し"
    )
    assert all(code not in text for table in LABELS.values() for code, text in table.items() if len(code) > 2)


async def test_nothing_to_resume_is_said_in_plain_words(env: Env) -> None:
    resp = await env.client.post(
        "/clerk/api/registrations/resume", json={"atena_no": "0000000101"}, headers=env.clerk_headers
    )
    error = (await resp.json())["error"]
    assert (resp.status, error["code"]) == (409, "nothing_to_change")
    assert error["message"] == "no registration of this resident can be resumed"
