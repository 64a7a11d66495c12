from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates import engine
from issuance_server.certificates.verify import VerifyError, extract_record_text, verify_file, verify_text


def test_pdf_without_qr_is_no_qr_found(tmp_path: Path) -> None:
    template = engine.load_template("juminhyo_kojin")
    values = {
        k: "x" for k in ("title", "serial", "issued_date", "municipality_name", "mayor_name", "data_as_of")
    }
    person = engine.PersonInput(values=dict.fromkeys(("name", "address"), "山田"), kind="japanese")
    with pytest.raises(engine.TemplateError):  # the template needs every person value it prints
        engine.lay_out(template, values, [person])
    minimal = engine.parse_template(
        "t",
        {
            "kind": "t",
            "version": 1,
            "block": {
                "top": 20,
                "bottom": 250,
                "left": 10,
                "right": 200,
                "label_width": 30,
                "rows": [{"height": 200, "label": "氏名", "value": "{name}"}],
            },
        },
    )
    pdf, pages = engine.draw(engine.lay_out(minimal, {}, [person, person]), None)
    assert pages == 2  # every page is searched, then the search stops
    path = tmp_path / "noqr.pdf"
    path.write_bytes(pdf)
    with pytest.raises(VerifyError) as exc:
        extract_record_text(path)
    assert exc.value.reason == "no_qr_found"


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    outcome = verify_file(tmp_path / "absent.pdf", Ed25519PrivateKey.generate().public_key())
    assert (outcome.valid, outcome.reason) == (False, "unreadable_file")


def test_verify_text_never_raises() -> None:
    outcome = verify_text("KB1.\u3042.\u3042", Ed25519PrivateKey.generate().public_key())
    assert (outcome.valid, outcome.reason, outcome.record) == (False, "malformed", None)
