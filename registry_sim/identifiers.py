"""Unique synthetic identifiers: 個人番号, 住民票コード, 在留カード等番号.

Each is a bijective scramble of a running counter (``n -> (a*n + b) mod m`` with ``a`` coprime to ``m``),
so the numbers look random, never repeat, and cost no lookup table.
"""

from __future__ import annotations

import random
from math import gcd

from wire.linkage import kojin_bango_check_digit

_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


class Scramble:
    """A permutation of ``range(m)`` chosen by ``rng``."""

    __slots__ = ("_a", "_b", "_m")

    def __init__(self, rng: random.Random, m: int) -> None:
        a = rng.randrange(m // 3, m - 1)
        while gcd(a, m) != 1:
            a += 1
        self._a, self._b, self._m = a, rng.randrange(m), m

    def __call__(self, n: int) -> int:
        return (self._a * n + self._b) % self._m


def juminhyo_check_digit(first10: str) -> int:
    """Modulus-11 check digit with weights 2-7 from the right (the synthetic 住民票コード's last digit)."""
    total = 0
    for i, ch in enumerate(reversed(first10)):
        total += int(ch) * (2 + i % 6)
    r = total % 11
    return 0 if r <= 1 else 11 - r


class Identifiers:
    """Hands out the n-th 個人番号, 住民票コード and 在留カード等番号 for one generated city."""

    __slots__ = ("_card", "_code", "_kojin", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._kojin = Scramble(rng, 9 * 10**10)
        self._code = Scramble(rng, 9 * 10**9)
        self._card = Scramble(rng, 10**8)

    def kojin_bango(self, n: int) -> str:
        first11 = str(10**10 + self._kojin(n))
        return first11 + str(kojin_bango_check_digit(first11))

    def juminhyo_code(self, n: int) -> str:
        first10 = str(10**9 + self._code(n))
        return first10 + str(juminhyo_check_digit(first10))

    def zairyu_card_no(self, n: int) -> str:
        """Two letters, eight digits, two letters (e.g. ``AB12345678CD``); the digits are unique."""
        r = self._rng.random
        letters = _LETTERS
        k = len(letters)
        return (
            f"{letters[int(r() * k)]}{letters[int(r() * k)]}{self._card(n):08d}"
            f"{letters[int(r() * k)]}{letters[int(r() * k)]}"
        )
