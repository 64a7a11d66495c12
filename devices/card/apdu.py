"""ISO 7816-4 short APDUs, independent of any application: status words and the length a command asks for."""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class StatusWord(IntEnum):
    """The status words (SW1 SW2 as one number) the card layer and the virtual card use."""

    OK = 0x9000
    END_OF_FILE = 0x6282  # fewer bytes than Le: end of file reached
    WRONG_LENGTH = 0x6700
    INCOMPATIBLE_FILE = 0x6981  # command incompatible with the file structure
    SECURITY_NOT_SATISFIED = 0x6982
    PIN_BLOCKED = 0x6983
    NO_CURRENT_EF = 0x6986
    WRONG_DATA = 0x6A80
    FILE_NOT_FOUND = 0x6A82
    WRONG_P1P2 = 0x6A86
    WRONG_OFFSET = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


PIN_TRIES_MASK: Final = 0x63C0  # 63Cx: verification failed / x tries left

SW_NAMES: Final[dict[int, str]] = {
    StatusWord.OK: "success",
    StatusWord.END_OF_FILE: "end of file reached",
    StatusWord.WRONG_LENGTH: "wrong length",
    StatusWord.INCOMPATIBLE_FILE: "command incompatible with file",
    StatusWord.SECURITY_NOT_SATISFIED: "security status not satisfied (PIN not verified)",
    StatusWord.PIN_BLOCKED: "PIN blocked",
    StatusWord.NO_CURRENT_EF: "no file selected",
    StatusWord.WRONG_DATA: "wrong data",
    StatusWord.FILE_NOT_FOUND: "file or application not found",
    StatusWord.WRONG_P1P2: "wrong P1/P2",
    StatusWord.WRONG_OFFSET: "offset beyond end of file",
    StatusWord.INS_NOT_SUPPORTED: "instruction not supported",
    StatusWord.CLA_NOT_SUPPORTED: "class not supported",
}


def sw_name(sw: int) -> str:
    """A short English name for a status word (for error messages and logs)."""
    if sw & 0xFFF0 == PIN_TRIES_MASK:
        return f"verification failed, {sw & 0x0F} tries left"
    return SW_NAMES.get(sw, "unknown status")


def pin_tries_sw(tries_left: int) -> int:
    """The 63Cx status word for ``tries_left`` (0..15)."""
    return PIN_TRIES_MASK | (tries_left & 0x0F)


def expected_length(apdu: bytes) -> int:
    """The most response data a short command APDU asks for: its Le (00 = 256), or 0 without Le."""
    if len(apdu) <= 4:
        return 0
    if len(apdu) == 5:  # case 2: header + Le
        return apdu[4] or 256
    return 0 if len(apdu) == 5 + apdu[4] else apdu[-1] or 256  # case 3 (no Le) or case 4
