"""Synthesized TCP/IPv4: checked packet by packet against scapy, an independent decoder."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP  # type: ignore[import-untyped]

from emulator.capture.addresses import chf_address, headend_address
from emulator.capture.tcp_stream import MSS, Endpoint, TcpFlow

CLIENT = Endpoint(bytes((192, 0, 2, 1)), 49152)
SERVER = Endpoint(bytes((100, 64, 0, 1)), 8443)


def _parse(packet: bytes) -> IP:
    ip = IP(packet)
    # scapy recomputes both checksums when they are deleted: they must equal ours.
    fresh = IP(packet)
    del fresh.chksum
    del fresh[TCP].chksum
    rebuilt = IP(bytes(fresh))
    assert (ip.chksum, ip[TCP].chksum) == (rebuilt.chksum, rebuilt[TCP].chksum)
    assert ip.len == len(packet) and ip.flags == "DF"
    return ip


def test_open_data_close_add_up() -> None:
    flow = TcpFlow(CLIENT, SERVER)
    hello, answer = bytes(range(256)) * 20, b"y" * 100  # 5120 bytes: 4 segments
    packets = [*flow.open(), *flow.send(True, hello), *flow.send(False, answer),
               *flow.close(True)]
    parsed = [_parse(p) for p in packets]
    syn, syn_ack, ack = parsed[:3]
    assert (syn[TCP].flags, syn_ack[TCP].flags, ack[TCP].flags) == ("S", "SA", "A")
    assert dict(syn[TCP].options)["MSS"] == MSS
    assert syn_ack[TCP].ack == syn[TCP].seq + 1 and ack[TCP].ack == syn_ack[TCP].seq + 1
    data = parsed[3:7]
    assert [len(p[TCP].payload) for p in data] == [MSS, MSS, MSS, len(hello) - 3 * MSS]
    assert b"".join(bytes(p[TCP].payload) for p in data) == hello
    assert [str(p[TCP].flags) for p in data] == ["A", "A", "A", "PA"]
    for before, after in zip(data, data[1:], strict=False):
        assert after[TCP].seq == before[TCP].seq + len(before[TCP].payload)
    reply = parsed[7]
    assert (reply.src, reply.dst) == ("100.64.0.1", "192.0.2.1")
    assert reply[TCP].ack == data[-1][TCP].seq + len(data[-1][TCP].payload)  # all of hello
    assert bytes(reply[TCP].payload) == answer
    fin1, fin2, last = parsed[8:]
    assert (str(fin1[TCP].flags), str(fin2[TCP].flags), str(last[TCP].flags)) == ("FA", "FA", "A")
    assert fin1[TCP].ack == reply[TCP].seq + len(answer)
    assert fin2[TCP].ack == fin1[TCP].seq + 1 and last[TCP].ack == fin2[TCP].seq + 1
    assert flow.send(True, b"late") == [] and flow.close(False) == []
    # IP ids go up per sender.
    ids = [p.id for p in parsed if p.src == "192.0.2.1"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_reset_and_determinism() -> None:
    a, b = TcpFlow(CLIENT, SERVER), TcpFlow(CLIENT, SERVER)
    assert a.open() == b.open()  # the same flow gives the same bytes
    other = TcpFlow(Endpoint(CLIENT.address, CLIENT.port + 1), SERVER)
    assert _parse(other.open()[0])[TCP].seq != _parse(TcpFlow(CLIENT, SERVER).open()[0])[TCP].seq
    rst = _parse(a.reset(False)[0])
    assert str(rst[TCP].flags) == "RA" and rst.src == "100.64.0.1"
    assert a.reset(True) == []


@pytest.mark.parametrize(("eui", "address"), [
    ("00-1B-C5-0C-00-00-00-01", "100.64.0.1"),
    ("00-1B-C5-0C-00-01-00-00", "100.65.0.0"),
])
def test_addresses_are_stable(eui: str, address: str) -> None:
    assert ".".join(map(str, chf_address(eui))) == address
    assert headend_address("SMSO") == bytes((192, 0, 2, 1))
    assert headend_address("s1sp") == bytes((192, 0, 2, 2))
    assert headend_address("lab") == headend_address("lab") and headend_address("lab")[3] >= 16
