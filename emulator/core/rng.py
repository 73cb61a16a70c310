"""Deterministic, tiny random numbers for device cores.

Every installation derives its own generator from (run seed, installation id, stream name), so
two runs with the same seed behave identically and one installation's draws never disturb
another's. SplitMix64 keeps its whole state in one int (a ``random.Random`` costs ~2.5 KiB,
which matters at ten thousand installations).
"""

from __future__ import annotations

import hashlib

_MASK = (1 << 64) - 1


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from any printable parts, stable across processes and Python versions."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush for our purposes."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    @classmethod
    def derive(cls, *parts: object) -> SplitMix64:
        return cls(derive_seed(*parts))

    def next_u64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1)."""
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

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
