from __future__ import annotations

import base64
import random

import pytest
import qrcode
from qrcode.util import MODE_8BIT_BYTE, QRData

from issuance_server.certificates.qr import image_ops, mask_bits, pdf_ops, qr_matrix


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


def test_mask_bits_pack_one_bit_a_module() -> None:
    matrix = qr_matrix("KB1.test")
    data = mask_bits(matrix)
    n = matrix.size
    row_bytes = (n + 7) // 8
    assert len(data) == n * row_bytes
    first_row = bin(int.from_bytes(data[:row_bytes], "big"))[2:].zfill(8 * row_bytes)[:n]
    assert first_row == matrix.rows[0]


def test_image_ops_paint_the_quiet_zone_then_the_image() -> None:
    matrix = qr_matrix("KB1.test")
    ops = image_ops(matrix, 100.0, 4, "QR")
    margin = 4 * 100.0 / matrix.size
    assert ops.startswith(f"q 1 g {-margin:.3f} {-margin:.3f}")  # the white quiet zone first
    assert ops.endswith("0 g 100.000 0 0 100.000 0 0 cm /QR Do Q")  # then the mask, in black


def test_level_q_and_version_for_a_record() -> None:
    from issuance_server.certificates.qr import ERROR_CORRECTION, codewords

    assert ERROR_CORRECTION == qrcode.constants.ERROR_CORRECT_Q
    version, words = codewords(b"x" * 240)
    assert version == 13 and len(words) == 532  # total codewords of version 13
