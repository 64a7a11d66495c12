"""The layout engine on its own: templates are data, and bad ones fail loudly."""

from __future__ import annotations

from typing import Any

import pytest

from issuance_server.certificates import engine

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
    template = engine.parse_template("t", MINIMAL)
    people = [engine.PersonInput(values={"name": n}, kind="japanese") for n in ("甲", "乙", "丙")]
    layout = engine.lay_out(template, {"title": "題"}, people)
    assert layout.pages == ((0, 1), (2,))  # 30 + 4 + 30 fits in 80 mm, a third does not
    assert layout.printed_persons() == [[["氏名", "甲"]], [["氏名", "乙"]], [["氏名", "丙"]]]
    assert layout.document_texts() == []  # page-numbered texts are not part of the digest
    pdf, pages = engine.draw(layout, None)
    assert pages == 2 and pdf.startswith(b"%PDF-")


def test_unknown_placeholder_is_an_error_not_printed_raw() -> None:
    template = engine.parse_template("t", MINIMAL)
    with pytest.raises(engine.TemplateError, match="title"):
        engine.lay_out(template, {}, [engine.PersonInput(values={"name": "甲"}, kind="japanese")])


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
    with pytest.raises(engine.TemplateError):
        engine.parse_template("t", {**MINIMAL, **change})


def test_the_shipped_template_loads() -> None:
    template = engine.load_template("juminhyo")
    assert template.kind == "juminhyo"
    assert template.default_options == frozenset({"householder"})
    assert "kojin_bango" in template.options
