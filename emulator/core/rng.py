"""Deterministic, tiny random numbers for device cores.

Every installation derives its own generator from (run seed, installation id, stream name), so
two runs with the same seed behave identically and one installation's draws never disturb
another's. SplitMix64 keeps its whole state in one int (a ``random.Random`` costs ~2.5 KiB,
which matters at ten thousand installations).

Two forms of the same arithmetic, chosen once by :data:`_LIMBS`: the plain form (one Python
int, masked to 64 bits: fast in CPython) and, in a mypyc build, the limb form (three limbs of
22, 22 and 20 bits). mypyc keeps an int unboxed only below 2**62, so the plain form's 64-bit
sums and products go to generic long-integer calls there; on limbs every partial product stays
below 2**47 and each step is a few machine instructions. Both give the same outputs bit for bit
(tests/core/test_rng_limbs.py).
"""

from __future__ import annotations

import hashlib
from typing import Final

_MASK: Final = (1 << 64) - 1
_TWO64: Final = 1 << 64
_GAMMA: Final = 0x9E3779B97F4A7C15
_MUL1: Final = 0xBF58476D1CE4E5B9
_MUL2: Final = 0x94D049BB133111EB

#: True in a mypyc build (the module is an extension there, not a .py file): use the limbs.
_LIMBS: Final = not __file__.endswith(".py")

# Limbs: bits 0..21, 22..43 and 44..63 of a 64-bit value.
_M22: Final = (1 << 22) - 1
_M20: Final = (1 << 20) - 1
_G0: Final = _GAMMA & _M22
_G1: Final = _GAMMA >> 22 & _M22
_G2: Final = _GAMMA >> 44
_A0: Final = _MUL1 & _M22
_A1: Final = _MUL1 >> 22 & _M22
_A2: Final = _MUL1 >> 44
_B0: Final = _MUL2 & _M22
_B1: Final = _MUL2 >> 22 & _M22
_B2: Final = _MUL2 >> 44
#: :meth:`SplitMix64.symmetric` multiplies limbs by ``n`` below this (products below 2**52).
_SYMMETRIC_LIMIT: Final = 1 << 30


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from any printable parts, stable across processes and Python versions."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _limbs_of(value: int) -> tuple[int, int, int]:
    """The limbs of a 64-bit ``value``."""
    return value & _M22, value >> 22 & _M22, value >> 44 & _M20


def _limbs_next(s0: int, s1: int, s2: int) -> tuple[int, int, int, int, int, int]:
    """One SplitMix64 step on limbs: the next state's limbs, then the output's."""
    # state += gamma (mod 2**64), carrying from limb to limb
    s0 += _G0
    s1 += _G1 + (s0 >> 22)
    s0 &= _M22
    s2 = (s2 + _G2 + (s1 >> 22)) & _M20
    s1 &= _M22
    # z ^= z >> 30: bits 30..63 of z are bits 8..21 of limb 1 and all of limb 2
    z0 = s0 ^ (s1 >> 8 | (s2 << 14 & _M22))
    z1 = s1 ^ (s2 >> 8)
    z2 = s2
    # z *= MUL1 (mod 2**64): the partial products of weight below 2**64, with carries
    p = z0 * _A0
    r0 = p & _M22
    p = (p >> 22) + z0 * _A1 + z1 * _A0
    r1 = p & _M22
    r2 = ((p >> 22) + z0 * _A2 + z1 * _A1 + z2 * _A0) & _M20
    # z ^= z >> 27
    z0 = r0 ^ (r1 >> 5 | (r2 << 17 & _M22))
    z1 = r1 ^ (r2 >> 5)
    z2 = r2
    # z *= MUL2 (mod 2**64)
    p = z0 * _B0
    r0 = p & _M22
    p = (p >> 22) + z0 * _B1 + z1 * _B0
    r1 = p & _M22
    r2 = ((p >> 22) + z0 * _B2 + z1 * _B1 + z2 * _B0) & _M20
    # z ^ (z >> 31)
    return s0, s1, s2, r0 ^ (r1 >> 9 | (r2 << 13 & _M22)), r1 ^ (r2 >> 9), r2


def _limbs_symmetric(n: int, o0: int, o1: int, o2: int) -> int:
    """:meth:`SplitMix64.symmetric` of the output of limbs ``o0, o1, o2``, for ``0 <= n <
    _SYMMETRIC_LIMIT``."""
    # floor(n (2 u - 2**64) / 2**64) is floor(n u / 2**63) - n; n u is summed limb by limb, the
    # low 44 bits dropped on the way, and the rest shifted down by 19
    low = n * o0
    mid = n * o1 + (low >> 22)
    return (n * o2 + (mid >> 22) >> 19) - n


class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush for our purposes."""

    # Plain form: ``_state`` is the whole state (``_s1``, ``_s2`` unused). Limb form: ``_state``,
    # ``_s1``, ``_s2`` are its limbs.
    __slots__ = ("_state", "_s1", "_s2")

    def __init__(self, seed: int) -> None:
        if _LIMBS:
            self._state, self._s1, self._s2 = _limbs_of(seed & _MASK)
        else:
            self._state = seed & _MASK
            self._s1 = self._s2 = 0

    @classmethod
    def derive(cls, *parts: object) -> SplitMix64:
        return cls(derive_seed(*parts))

    def _next_limbs(self) -> tuple[int, int, int]:
        """Limb form: step, and return the output's limbs."""
        self._state, self._s1, self._s2, o0, o1, o2 = _limbs_next(self._state, self._s1, self._s2)
        return o0, o1, o2

    def next_u64(self) -> int:
        if _LIMBS:
            o0, o1, o2 = self._next_limbs()
            return o2 << 44 | o1 << 22 | o0
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK  # _GAMMA, _MUL1, _MUL2
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1)."""
        if _LIMBS:
            o0, o1, o2 = self._next_limbs()
            return (o2 << 33 | o1 << 11 | o0 >> 11) * (1.0 / (1 << 53))  # below 2**53
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def symmetric(self, n: int) -> int:
        """``floor(n * (2 u - 2**64) / 2**64)`` of the next output ``u``: for ``n > 0`` an int
        in ``[-n, n)``, a uniform noise around zero from one draw."""
        if _LIMBS and 0 <= n < _SYMMETRIC_LIMIT:
            o0, o1, o2 = self._next_limbs()
            return _limbs_symmetric(n, o0, o1, o2)
        # ``>> 64`` is ``// 2**64`` (both floor, for negative numbers too), without a long
        # division
        return n * (2 * self.next_u64() - _TWO64) >> 64

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def randrange(self, n: int) -> int:
        """An int in [0, n)."""
        if n <= 0:
            raise ValueError("randrange needs n > 0")
        return self.next_u64() % n

    def randbytes(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            out += self.next_u64().to_bytes(8, "big")
        return bytes(out[:n])
