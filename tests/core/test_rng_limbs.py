"""The limb form of SplitMix64 (a mypyc build's) gives exactly the plain form's outputs.

The limb functions are called directly, so this runs in the pure tree too; the class is
checked in whichever form the tree runs (plain when pure, limbs in a build), against an
independent SplitMix64 written out here and against published outputs.
"""

from __future__ import annotations

import random

from emulator.core import rng
from emulator.core.rng import SplitMix64

_MASK = (1 << 64) - 1


class _Reference:
    """SplitMix64 as in Vigna's splitmix64.c, written out independently of emulator.core.rng."""

    def __init__(self, seed: int) -> None:
        self.x = seed % (1 << 64)

    def next(self) -> int:
        self.x = (self.x + 0x9E3779B97F4A7C15) % (1 << 64)
        z = self.x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
        return z ^ (z >> 31)


# Published SplitMix64 outputs: seed 0 (splitmix64.c, prng.di.unimi.it) and seed 1234567 (the
# vector SplitMix64 ports commonly test against).
_PUBLISHED = {
    0: [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC,
        0x1B39896A51A8749B],
    1234567: [6457827717110365317, 3203168211198807973, 9817491932198370423,
              4593380528125082431, 16408922859458223821],
}


def _seeds(count: int) -> list[int]:
    draw = random.Random(20261203)
    edges = [0, 1, 2, 1234567, _MASK, _MASK - 1, 1 << 63, (1 << 63) - 1, (1 << 44) - 1,
             1 << 44, (1 << 22) - 1, 1 << 22, -1, 1 << 70]
    return edges + [draw.getrandbits(64) for _ in range(count)]


def _joined(l0: int, l1: int, l2: int) -> int:
    for limb, bits in ((l0, 22), (l1, 22), (l2, 20)):
        assert 0 <= limb < 1 << bits
    return l2 << 44 | l1 << 22 | l0


def test_the_reference_and_the_class_give_the_published_outputs() -> None:
    for seed, want in _PUBLISHED.items():
        reference = _Reference(seed)
        assert [reference.next() for _ in want] == want
        generator = SplitMix64(seed)
        assert [generator.next_u64() for _ in want] == want


def test_the_limb_step_is_the_plain_step_for_many_seeds_and_draws() -> None:
    for seed in _seeds(400):
        reference = _Reference(seed)
        state = rng._limbs_of(seed & _MASK)
        assert _joined(*state) == seed & _MASK
        for _ in range(250):
            want = reference.next()
            s0, s1, s2, o0, o1, o2 = rng._limbs_next(*state)
            state = (s0, s1, s2)
            assert _joined(s0, s1, s2) == reference.x
            assert _joined(o0, o1, o2) == want


def test_the_limb_symmetric_noise_is_the_plain_one() -> None:
    draw = random.Random(7)
    ns = [0, 1, 2, 3, 999_999, 1_000_000, rng._SYMMETRIC_LIMIT - 1]
    for seed in _seeds(100):
        reference = _Reference(seed)
        for _ in range(60):
            u = reference.next()
            limbs = rng._limbs_of(u)
            for n in ns + [draw.randrange(rng._SYMMETRIC_LIMIT) for _ in range(4)]:
                want = n * (2 * u - (1 << 64)) >> 64
                assert rng._limbs_symmetric(n, *limbs) == want, (u, n)
                assert n == 0 or -n <= want < n


def test_the_class_in_this_trees_form_follows_the_reference_whatever_it_is_asked() -> None:
    compiled = not rng.__file__.endswith(".py")
    assert compiled == rng._LIMBS
    draw = random.Random(11)
    for seed in _seeds(60):
        reference = _Reference(seed)
        generator = SplitMix64(seed)
        for _ in range(200):
            kind = draw.randrange(5)
            if kind == 0:
                assert generator.next_u64() == reference.next()
            elif kind == 1:
                assert generator.random() == (reference.next() >> 11) * (1.0 / (1 << 53))
            elif kind == 2:  # the limb form's ns, and the others (plain in either form)
                n = draw.choice([0, 1, 500_000, rng._SYMMETRIC_LIMIT - 1, rng._SYMMETRIC_LIMIT,
                                 1 << 70, -3, -1_000_000])
                assert generator.symmetric(n) == n * (2 * reference.next() - (1 << 64)) >> 64
            elif kind == 3:
                n = draw.randrange(1, 1 << 40)
                assert generator.randrange(n) == reference.next() % n
            else:
                want = reference.next().to_bytes(8, "big") + reference.next().to_bytes(8, "big")
                assert generator.randbytes(13) == want[:13]
