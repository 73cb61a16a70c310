"""Which installations a fleet has, and which of them one shard runs.

Everything about an installation follows from the fleet's size, seed and first EUI and from its
number n (1-based), never from the host or the shard that runs it: its id is ``i%05d``, its CHF
EUI-64 the first EUI plus n - 1, its loopback address the n-th host of the address range, its
behaviour the seed and the id (:class:`emulator.Installation`). ``--shard K/N`` takes the K-th of
N contiguous, near-equal slices of 1..total, so any host running slice K runs the same
installations.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from emulator.errors import FleetError, S1labError
from emulator.wire.eui import eui_from_str, eui_to_str, normalise

FIRST_EUI = "00-1B-C5-0C-00-00-00-01"  # what `s1lab pki init` mints from
DEFAULT_ADDRESSES = "127.1.0.0/16"
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based K
    count: int  # N

    @property
    def name(self) -> str:
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    m = _SHARD.match(text)
    if m is None:
        raise FleetError(f"not a shard K/N: {text!r} (e.g. 2/4)")
    k, n = int(m[1]), int(m[2])
    if not 1 <= k <= n:
        raise FleetError(f"shard {text!r}: K must be 1..N")
    return Shard(k, n)


def installation_id(n: int) -> str:
    return f"i{n:05d}"


@dataclass(frozen=True, slots=True)
class Member:
    """One installation of the fleet."""

    number: int  # 1-based, fleet-wide
    id: str
    chf_eui: str
    address: str  # the CHF's (loopback) address in listen mode


class FleetPlan:
    """The whole fleet's layout, and one shard's slice of it."""

    def __init__(self, total: int, shard: Shard = Shard(1, 1), first_eui: str = FIRST_EUI,
                 addresses: str = DEFAULT_ADDRESSES) -> None:
        if total < 1:
            raise FleetError(f"a fleet has at least one installation, not {total}")
        if shard.count > total:
            raise FleetError(f"{shard.count} shards for {total} installations: "
                                 "some shards would be empty")
        try:
            self.first_eui = normalise(first_eui)
            self.network = ipaddress.ip_network(addresses, strict=False)
        except (S1labError, ValueError) as exc:
            raise FleetError(str(exc)) from None
        if not isinstance(self.network, ipaddress.IPv4Network):
            raise FleetError(f"{addresses}: an IPv4 range, please (e.g. 127.1.0.0/16)")
        hosts = self.network.num_addresses - 2 if self.network.prefixlen < 31 else 1
        if total > hosts:
            raise FleetError(f"{addresses} has {hosts} addresses, the fleet {total} CHFs")
        base = int.from_bytes(eui_from_str(self.first_eui), "big")
        if base + total > 1 << 64:
            raise FleetError(f"{total} EUIs from {self.first_eui} overflow 64 bits")
        self._eui_base = base
        self.total = total
        self.shard = shard
        self.first = total * (shard.index - 1) // shard.count + 1
        self.last = total * shard.index // shard.count
        self.loopback = self.network.is_loopback

    def member(self, n: int) -> Member:
        if not 1 <= n <= self.total:
            raise FleetError(f"installation {n} is outside the fleet (1..{self.total})")
        eui = eui_to_str((self._eui_base + n - 1).to_bytes(8, "big"))
        offset = n if self.network.prefixlen < 31 else 0  # skip the network address
        return Member(n, installation_id(n), eui, str(self.network.network_address + offset))

    def members(self) -> list[Member]:
        """This shard's installations, in order."""
        return [self.member(n) for n in range(self.first, self.last + 1)]

    def number_of(self, installation: str) -> int | None:
        """The fleet number of an installation id (``i00042`` -> 42), None if not in the fleet."""
        if not re.fullmatch(r"i\d{5,}", installation):
            return None
        n = int(installation[1:])
        return n if 1 <= n <= self.total and installation == installation_id(n) else None

    def owns(self, n: int) -> bool:
        return self.first <= n <= self.last

    def shard_of(self, n: int) -> int:
        """Which shard (1-based) runs installation ``n``."""
        for k in range(1, self.shard.count + 1):
            if n <= self.total * k // self.shard.count:
                return k
        raise FleetError(f"installation {n} is outside the fleet (1..{self.total})")
