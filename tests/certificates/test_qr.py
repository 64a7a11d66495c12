from __future__ import annotations

import base64
import random

import pytest
import qrcode
from qrcode.util import MODE_8BIT_BYTE, QRData

from issuance_server.certificates.qr import pdf_ops, qr_matrix


def _reference(data: str) -> tuple[str, ...]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0)
    code.add_data(QRData(data.encode(), mode=MODE_8BIT_BYTE))
    code.make()
    return tuple("".join("1" if m else "0" for m in row) for row in code.modules)


@pytest.mark.parametrize("length", [1, 17, 60, 120, 180, 227, 260, 400])
def test_same_matrix_as_qrcode(length: int) -> None:
    rng = random.Random(length)
    for _ in range(3):
        data = base64.urlsafe_b64encode(rng.randbytes(length)).decode()[:length]
        assert qr_matrix(data).rows == _reference(data)


def test_unicode_is_encoded_as_utf8_bytes() -> None:
    assert qr_matrix("𠮷田").rows == _reference("𠮷田")


def test_pdf_ops_fill_one_run_per_dark_stretch() -> None:
    matrix = qr_matrix("KB1.test")
    ops = pdf_ops(matrix, 10, 100, 50)
    runs = sum(len([r for r in row.split("0") if r]) for row in matrix.rows)
    assert ops.count(" re") == runs
    assert ops.startswith("q 0 g") and ops.endswith("f Q")
