"""The desk's resident search reads a name as clerks type it: katakana, half-width kana, hiragana, romaji,
kanji with variant characters folded (吉田 finds 𠮷田), spaces ignored; what it cannot be finds nothing."""

from __future__ import annotations

import pytest

from tests.server.conftest import Env
from wire.name_search import is_variant


async def found(env: Env, name: str) -> set[str]:
    resp = await env.client.get("/clerk/api/residents", params={"name": name}, headers=env.clerk_headers)
    assert resp.status == 200, await resp.text()
    return {r["atena_no"] for r in (await resp.json())["residents"]}


@pytest.mark.parametrize(
    "typed",
    [
        "𠮷田",
        "吉田",
        "𠮷田　花子",
        "吉田 花子",
        "よしだ　はなこ",
        "ヨシダハナコ",
        "ﾖｼﾀﾞﾊﾅｺ",
        "yoshida hanako",
        "はなこ",
    ],
)
async def test_a_name_is_found_however_the_clerk_types_it(env: Env, typed: str) -> None:
    assert "0000000102" in await found(env, typed)


async def test_a_kanji_search_finds_the_variant_and_only_names_that_contain_it(env: Env) -> None:
    assert "0000000101" in await found(env, "高志")  # the record holds 髙志
    assert await found(env, "支援") == {"0000000107"}
    assert await found(env, "%") == set() and await found(env, "_") == set()  # LIKE's wildcards are text


async def test_the_variant_characters_are_told_apart() -> None:
    assert [c for c in "𠮷田　髙志" if is_variant(c)] == ["𠮷", "髙"]
    assert not any(is_variant(c) for c in "吉田　高志 Yoshida よしだ")


async def test_a_search_by_nothing_is_refused_with_its_code(env: Env) -> None:
    resp = await env.client.get("/clerk/api/residents", params={"name": "  "}, headers=env.clerk_headers)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_field"


async def test_foreign_names_are_found_with_their_hyphens_accents_and_dots_or_without(env: Env) -> None:
    await env.core.db.execute(
        "UPDATE replica.resident SET name = 'ANNE-MARIE O''BRIEN', name_alpha = 'ANNE-MARIE O''BRIEN',"
        " name_kana = 'あん・まりー　おぶらいえん', tsusho = NULL WHERE atena_no = '0000000107'"
    )
    for typed in ("Anne-Marie", "annemarie", "O'Brien", "obrien", "アン・マリー", "あんまりー"):
        assert "0000000107" in await found(env, typed), typed


async def test_a_compatibility_ideograph_is_found_by_its_everyday_character(env: Env) -> None:
    await env.core.db.execute(
        "UPDATE replica.resident SET name = '\ufa10田　一郎' WHERE atena_no = '0000000106'"
    )
    assert "0000000106" in await found(env, "塚田") and "0000000106" in await found(env, "\ufa10田")
