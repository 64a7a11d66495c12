"""The layout engine on its own: templates are data, and bad ones fail loudly."""

from __future__ import annotations

from typing import Any

import pytest

from issuance_server.certificates.drawing import draw
from issuance_server.certificates.layout import PersonInput, lay_out
from issuance_server.certificates.template import TemplateError, load_template, parse_template

MINIMAL: dict[str, Any] = {
    "kind": "test",
    "version": 1,
    "items": [{"type": "text", "text": "{title} {page}/{pages}", "x": 10, "y": 10}],
    "block": {
        "top": 20,
        "bottom": 100,
        "left": 10,
        "right": 200,
        "label_width": 30,
        "rows": [{"height": 30, "label": "氏名", "value": "{name}"}],
    },
}


def test_pagination_and_printed_content() -> None:
    template = parse_template("t", MINIMAL)
    people = [PersonInput(values={"name": n}, kind="japanese") for n in ("甲", "乙", "丙")]
    layout = lay_out(template, {"title": "題"}, people)
    assert layout.pages == ((0, 1), (2,))  # 30 + 4 + 30 fits in 80 mm, a third does not
    assert layout.printed_persons() == [[["氏名", "甲"]], [["氏名", "乙"]], [["氏名", "丙"]]]
    assert layout.document_texts() == []  # page-numbered texts are not part of the digest
    pdf, pages = draw(layout, None)
    assert pages == 2 and pdf.startswith(b"%PDF-")


def test_unknown_placeholder_is_an_error_not_printed_raw() -> None:
    template = parse_template("t", MINIMAL)
    with pytest.raises(TemplateError, match="title"):
        lay_out(template, {}, [PersonInput(values={"name": "甲"}, kind="japanese")])


@pytest.mark.parametrize(
    "change",
    [
        {"items": [{"type": "image", "x": 1}]},
        {"block": {"top": 1}},
        {"block": {**MINIMAL["block"], "rows": [{"height": 5, "label": "x", "font": "comic"}]}},
        {"default_options": ["nope"]},
    ],
)
def test_bad_templates(change: dict[str, Any]) -> None:
    with pytest.raises(TemplateError):
        parse_template("t", {**MINIMAL, **change})


def test_the_shipped_template_loads() -> None:
    template = load_template("juminhyo_setai")
    assert template.kind == "juminhyo"
    assert template.default_options == frozenset({"householder"})
    assert "kojin_bango" in template.options


def test_per_page_caps_the_blocks_a_sheet() -> None:
    data = {**MINIMAL, "block": {**MINIMAL["block"], "bottom": 280, "per_page": 2, "gap": 0}}
    template = parse_template("t", data)
    people = [PersonInput(values={"name": n}, kind="japanese") for n in "甲乙丙丁戊"]
    assert lay_out(template, {"title": "題"}, people).pages == ((0, 1), (2, 3), (4,))


def test_conditions_on_rows_cells_and_items() -> None:
    data = {
        **MINIMAL,
        "options": {"extra": "an option"},
        "items": [
            {"type": "text", "text": "as of {as_of}", "x": 1, "y": 1, "if_set": "as_of"},
            {"type": "text", "text": "extra", "x": 1, "y": 2, "option": "extra"},
        ],
        "block": {
            **MINIMAL["block"],
            "rows": [
                {
                    "height": 10,
                    "cells": [
                        {"label": "A", "value": "{a}", "width": 50, "when": "foreign"},
                        {"label": "B", "value": "{b}", "if_set": "b"},
                        {"label": "C", "value": "{c}", "option": "extra", "align": "right"},
                    ],
                },
                {"height": 10, "label": "D", "value": "{d}", "if_set": "d"},
            ],
        },
    }
    template = parse_template("t", data)
    person = PersonInput(values={"a": "1", "b": "", "c": "3", "d": ""}, kind="japanese")
    plain = lay_out(template, {"as_of": ""}, [person], options=set())
    assert plain.printed_persons() == [[]] and plain.document_texts() == []
    full = lay_out(
        template,
        {"as_of": "今"},
        [PersonInput(values={"a": "1", "b": "2", "c": "3", "d": "4"}, kind="foreign")],
        options={"extra"},
    )
    assert full.printed_persons() == [[["A", "1"], ["B", "2"], ["C", "3"], ["D", "4"]]]
    assert full.document_texts() == ["as of 今", "extra"]


def test_base_templates_are_merged(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "_base.toml").write_text(
        'page = "A4"\n[[items]]\ntype = "text"\ntext = "base {page}/{pages}"\nx = 1\ny = 1\n'
        '[metadata]\nauthor = "base"\n',
        encoding="utf-8",
    )
    (tmp_path / "kind.toml").write_text(
        'base = "_base"\nkind = "k"\nversion = 3\n[[items]]\ntype = "text"\ntext = "own"\nx = 1\ny = 5\n'
        "[block]\ntop = 20\nbottom = 100\nleft = 10\nright = 200\nlabel_width = 30\n"
        '[[block.rows]]\nheight = 10\nlabel = "氏名"\nvalue = "{name}"\n',
        encoding="utf-8",
    )
    (tmp_path / "loop.toml").write_text('base = "loop"\n', encoding="utf-8")
    monkeypatch.setenv("KONBINI_TEMPLATES_DIR", str(tmp_path))
    load_template.cache_clear()
    try:
        template = load_template("kind")
        assert [i.params["text"] for i in template.items] == ["base {page}/{pages}", "own"]
        assert template.metadata == {"author": "base"} and template.version == 3
        with pytest.raises(TemplateError, match="loop"):
            load_template("loop")
    finally:
        load_template.cache_clear()


@pytest.mark.parametrize(
    "name",
    [
        "juminhyo_setai",
        "juminhyo_kojin",
        "inkan",
        "tax_income",
        "tax_status",
        "tax_income_assessment",
        "tax_payment",
    ],
)
def test_every_shipped_template_has_the_common_furniture(name: str) -> None:
    template = load_template(name)
    types = [item.type for item in template.items]
    assert types[0] == "anti_copy"  # drawn first, underneath
    assert types.count("microtext") >= 1 and types.count("qr") == 1
    assert types.count("seal") >= 1  # the 公印
    texts = " ".join(str(i.params.get("text", "")) for i in template.items)
    assert "{page}/{pages}" in texts and "{serial}" in texts and "{issued_date}" in texts
    assert "{mayor_name}" in texts and "{data_as_of}" in texts
    qr = next(i for i in template.items if i.type == "qr")
    assert 35 <= float(qr.params["size"]) <= 60  # mm, EU DCC guidance for printed codes
