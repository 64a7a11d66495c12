"""QR codes read by libzbar (Debian ``libzbar0``) through ctypes: the few calls the verifier needs.

pyzbar wraps the same library, but importing it costs ``konbini-verify`` 25-40 ms of its ~100 ms budget
(``ctypes.util``, which runs ``ldconfig`` to find the library, and its many enums); this loads the
library by its soname and declares only the functions below.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Final

SONAME: Final = "libzbar.so.0"
_Y800: Final = int.from_bytes(b"Y800", "little")  # 8-bit grey, one byte a pixel
_QRCODE: Final = 64  # zbar_symbol_type_t ZBAR_QRCODE
_CFG_ENABLE: Final = 0  # zbar_config_t ZBAR_CFG_ENABLE


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL(SONAME)
    p = ctypes.c_void_p
    signatures: dict[str, tuple[object, list[object]]] = {
        "zbar_image_scanner_create": (p, []),
        "zbar_image_scanner_destroy": (None, [p]),
        "zbar_image_scanner_set_config": (ctypes.c_int, [p, ctypes.c_int, ctypes.c_int, ctypes.c_int]),
        "zbar_image_create": (p, []),
        "zbar_image_destroy": (None, [p]),
        "zbar_image_set_format": (None, [p, ctypes.c_ulong]),
        "zbar_image_set_size": (None, [p, ctypes.c_uint, ctypes.c_uint]),
        "zbar_image_set_data": (None, [p, p, ctypes.c_ulong, p]),
        "zbar_scan_image": (ctypes.c_int, [p, p]),
        "zbar_image_first_symbol": (p, [p]),
        "zbar_symbol_next": (p, [p]),
        "zbar_symbol_get_type": (ctypes.c_int, [p]),
        "zbar_symbol_get_data": (p, [p]),
        "zbar_symbol_get_data_length": (ctypes.c_uint, [p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def decode_qr(grey: bytes, width: int, height: int) -> list[bytes]:
    """The data of each QR code zbar finds in an 8-bit grey image (``width * height`` bytes, rows top to
    bottom). Raises ``OSError`` when libzbar is not installed, ``ValueError`` for a wrong size."""
    if width <= 0 or height <= 0 or len(grey) != width * height:
        raise ValueError(f"{len(grey)} bytes are not a {width}x{height} grey image")
    lib = _library()
    buffer = ctypes.create_string_buffer(grey, len(grey))  # zbar reads it while scanning; we own it
    scanner = lib.zbar_image_scanner_create()
    image = lib.zbar_image_create()
    try:
        lib.zbar_image_scanner_set_config(scanner, 0, _CFG_ENABLE, 0)  # every symbology off...
        lib.zbar_image_scanner_set_config(scanner, _QRCODE, _CFG_ENABLE, 1)  # ...but QR codes
        lib.zbar_image_set_format(image, _Y800)
        lib.zbar_image_set_size(image, width, height)
        lib.zbar_image_set_data(image, ctypes.cast(buffer, ctypes.c_void_p), len(grey), None)
        found: list[bytes] = []
        if lib.zbar_scan_image(scanner, image) > 0:
            symbol = lib.zbar_image_first_symbol(image)
            while symbol:
                if lib.zbar_symbol_get_type(symbol) == _QRCODE:
                    data = lib.zbar_symbol_get_data(symbol)
                    found.append(ctypes.string_at(data, lib.zbar_symbol_get_data_length(symbol)))
                symbol = lib.zbar_symbol_next(symbol)
        return found
    finally:
        lib.zbar_image_destroy(image)
        lib.zbar_image_scanner_destroy(scanner)
