"""The HAN core: real secured frames over modelled links, on explicit time."""

from __future__ import annotations

from emulator.core.han import Han, HanNode, LinkParams
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.rng import SplitMix64
from emulator.core.timebase import HOUR, MINUTE, MS, SECOND
from emulator.core.trace_sink import Recorder
from emulator.wire.eui import eui_from_str
from emulator.wire.se_clusters import ClusterId
from emulator.wire.zcl import ReadAttributes, zcl_foundation_frame

CHF = "00-1B-C5-0C-00-00-00-01"
ESME = "00-1B-C5-0C-02-00-00-01"
GSME = "00-1B-C5-0C-03-00-00-01"
NEW = "00-1B-C5-0C-03-00-00-99"
T0 = 1_767_571_200_000_000
CODE = bytes(range(16))
CODE_CRC = CODE + install_code_crc(CODE)


def make(rec: Recorder | None = None) -> tuple[Han, HanNode, HanNode, list[bytes]]:
    han = Han(CHF, b"\x11" * 16, SplitMix64(1), rec or Recorder())
    sent: list[bytes] = []
    han.capture = lambda frame, now: sent.append(frame)
    esme = han.add_node(ESME, link_key=b"\x22" * 16)
    gsme = han.add_node(GSME, sleepy=True, link_key=b"\x33" * 16)
    return han, esme, gsme, sent


def run(han: Han, until: int) -> list[object]:
    out: list[object] = []
    while (t := han.get_timer()) is not None and t <= until:
        out.extend(han.handle_timer(t))
    return out


def read_frame(tsn: int = 1) -> bytes:
    return zcl_foundation_frame(ReadAttributes((0x0000,)), tsn)


def test_unicast_read_arrives_after_latency_with_mac_ack_and_last_heard() -> None:
    han, esme, _, sent = make()
    han.send_zcl(han.chf, esme, ClusterId.METERING, read_frame(), T0)
    assert run(han, T0 + 19 * MS) == []
    (d,) = run(han, T0 + 20 * MS)
    assert d.src == CHF and d.dst == ESME and d.cluster == ClusterId.METERING  # type: ignore[attr-defined]
    # the data frame, its MAC ack, and the APS ack going back
    assert len(sent) == 3 and len(sent[1]) == 5
    run(han, T0 + 100 * MS)
    assert len(sent) == 4 and len(sent[3]) == 5  # ...and the MAC ack of the APS ack
    assert not han._aps_pending
    han.send_zcl(esme, han.chf, ClusterId.METERING, read_frame(2), T0 + SECOND)
    run(han, T0 + 2 * SECOND)
    assert han.chf.last_heard is None  # the CHF's view of itself is irrelevant
    assert esme.last_heard == T0 + SECOND + 20 * MS


def test_an_acknowledged_exchange_leaves_nothing_to_wake_for() -> None:
    """Frames in flight are queue entries; the APS-ack timer of a frame whose ack came is
    cancelled, so the HAN reports no deadline once the exchange is over."""
    han, esme, _, _ = make()
    han.send_zcl(han.chf, esme, ClusterId.METERING, read_frame(), T0)
    han.send_zcl(han.chf, esme, ClusterId.METERING, read_frame(2), T0)
    assert han.get_timer() == T0 + 20 * MS  # both frames arrive after the link's latency
    delivered = run(han, T0 + 20 * MS)
    assert [d.zcl for d in delivered] == [read_frame(), read_frame(2)]  # in the order sent
    assert han.get_timer() == T0 + 40 * MS  # their APS acks arrive back
    run(han, T0 + 40 * MS)
    assert not han._aps_pending and han.get_timer() is None


def test_behaviour_20_sleepy_gsme_gets_frames_only_when_it_polls() -> None:
    han, _, gsme, sent = make()
    han.send_zcl(han.chf, gsme, ClusterId.PREPAYMENT, read_frame(), T0)
    assert run(han, T0 + 10 * MINUTE) == [] and han.held_for(GSME) == 1
    assert sent == []  # nothing on air: the frame is held at the CHF
    han.poll(gsme, T0 + 30 * MINUTE)
    delivered = run(han, T0 + 31 * MINUTE)
    assert [d.dst for d in delivered] == [GSME]  # type: ignore[attr-defined]
    assert han.held_for(GSME) == 0
    assert gsme.last_heard is not None  # the CHF heard the poll (and then the APS ack)
    assert T0 + 30 * MINUTE + 20 * MS <= gsme.last_heard < T0 + 31 * MINUTE


def test_held_frames_expire() -> None:
    rec = Recorder()
    han, _, gsme, _ = make(rec)
    failed: list[int] = []
    han.send_zcl(han.chf, gsme, ClusterId.PREPAYMENT, read_frame(), T0, on_failed=failed.append)
    han.poll(gsme, T0 + 2 * HOUR)
    run(han, T0 + 3 * HOUR)
    assert failed and "HanIndirectExpired" in rec.names()


def test_losses_are_retried_and_an_outage_drops_the_frame() -> None:
    rec = Recorder()
    han, esme, _, sent = make(rec)
    esme.link = LinkParams(loss=0.5, mac_retries=10)
    han.send_zcl(han.chf, esme, ClusterId.METERING, read_frame(), T0)
    assert len(run(han, T0 + SECOND)) == 1
    assert len(sent) >= 2
    esme.link = LinkParams(outages=[(T0 + HOUR, T0 + 2 * HOUR)])
    failed: list[int] = []
    han.send_zcl(han.chf, esme, ClusterId.METERING, read_frame(), T0 + HOUR,
                 on_failed=failed.append)
    assert run(han, T0 + HOUR + SECOND) == []
    assert failed and "HanTransmissionFailed" in rec.names()


def test_behaviour_21_replayed_frame_is_dropped() -> None:
    rec = Recorder()
    han, esme, _, sent = make(rec)
    han.send_zcl(esme, han.chf, ClusterId.METERING, read_frame(), T0)
    assert len(run(han, T0 + SECOND)) == 1
    assert han.receive(sent[0], han.chf, T0 + 2 * SECOND) is False  # the same bytes again
    assert rec.events[-1][2] == "HanFrameDropped"
    assert rec.events[-1][3]["reason"] == "ReplayedCounter"


def test_behaviour_21_frames_under_the_old_network_key_are_dropped_after_switch() -> None:
    rec = Recorder()
    han, esme, gsme, sent = make(rec)
    han.send_zcl(esme, han.chf, ClusterId.METERING, read_frame(), T0)
    run(han, T0 + SECOND)
    old_frame = sent[0]
    new_key = b"\x44" * 16
    han.keys.install(new_key, 1)
    for node in (esme, gsme):
        han.transport_network_key(node, new_key, 1, T0 + 2 * SECOND)
    han.poll(gsme, T0 + 3 * SECOND)
    run(han, T0 + 4 * SECOND)
    han.switch_key(1, T0 + 5 * SECOND)
    han.poll(gsme, T0 + 6 * SECOND)
    run(han, T0 + 10 * SECOND)
    assert han.keys.current_seq == 1 and esme.keys is not None and esme.keys.current_seq == 1
    assert gsme.keys is not None and gsme.keys.current_seq == 1
    # A frame built under key sequence 0 (with a fresh counter) is now refused...
    esme.nwk_counter += 100
    stale = bytearray(old_frame)
    assert han.receive(bytes(stale), han.chf, T0 + 11 * SECOND) is False
    assert "UnknownKeySequence" in str(rec.events[-1][3])
    # ...while traffic under the new key flows.
    han.send_zcl(esme, han.chf, ClusterId.METERING, read_frame(3), T0 + 12 * SECOND)
    assert len(run(han, T0 + 13 * SECOND)) == 1


def _joiner(code_with_crc: bytes) -> HanNode:
    return HanNode(eui_from_str(NEW), 0xFFFE, sleepy=True,
                   link_key=install_code_link_key(code_with_crc))


def test_behaviour_19_join_with_the_whitelisted_install_code_inside_the_window() -> None:
    rec = Recorder()
    han, _, _, _ = make(rec)
    window_end = T0 + 90 * SECOND
    han.on_join_request = lambda node, now: (
        install_code_link_key(CODE_CRC) if node.name == NEW and now < window_end else None)
    joined: list[str] = []
    han.on_joined = lambda node, now: joined.append(node.name)
    joiner = _joiner(CODE_CRC)
    joiner.sleepy = False
    han.request_join(joiner, T0 + 10 * SECOND)
    run(han, T0 + 30 * SECOND)
    assert joined == [NEW] and joiner.joined and joiner.keys is not None
    assert "HanDeviceJoined" in rec.names()


def test_behaviour_19_join_refused_outside_window_or_with_wrong_code() -> None:
    rec = Recorder()
    han, _, _, _ = make(rec)
    window_end = T0 + 90 * SECOND
    han.on_join_request = lambda node, now: (
        install_code_link_key(CODE_CRC) if now < window_end else None)
    late = _joiner(CODE_CRC)
    late.sleepy = False
    han.request_join(late, T0 + 100 * SECOND)
    run(han, T0 + 200 * SECOND)
    assert "HanJoinRefused" in rec.names() and NEW not in han.nodes

    wrong_code = bytes(16 * [0xAB])
    wrong = _joiner(wrong_code + install_code_crc(wrong_code))
    wrong.sleepy = False
    han.request_join(wrong, T0 + 10 * SECOND)
    run(han, T0 + 60 * SECOND)
    assert not wrong.joined and wrong.keys is None  # could not decrypt the network key
    assert "HanJoinFailed" in rec.names() and NEW not in han.nodes


def test_aps_ack_lost_means_retransmission_but_one_delivery() -> None:
    rec = Recorder()
    han, esme, _, _ = make(rec)
    delivered: list[object] = []
    for i in range(30):  # a lossy link: some data frames or their APS acks get lost
        esme.link = LinkParams(loss=0.4, mac_retries=0)
        han.send_zcl(han.chf, esme, ClusterId.METERING, read_frame(i + 1), T0 + i * MINUTE)
        delivered += run(han, T0 + i * MINUTE + 30 * SECOND)
    assert han.aps_retransmissions > 0
    tsns = [d.zcl[1] for d in delivered]  # type: ignore[attr-defined]
    assert len(tsns) == len(set(tsns))  # retransmissions are acked but not delivered twice
    # With four APS tries through 40% loss nearly everything arrives (a sender may still report
    # a failure for a frame that arrived when every APS ack back was lost).
    assert len(tsns) >= 25


def test_aps_gives_up_after_its_retries() -> None:
    rec = Recorder()
    han, esme, _, sent = make(rec)
    esme.link = LinkParams(outages=[(T0, T0 + HOUR)])
    failed: list[int] = []
    han.send_zcl(han.chf, esme, ClusterId.METERING, read_frame(), T0, on_failed=failed.append)
    run(han, T0 + MINUTE)
    assert failed and han.aps_retransmissions == 3
    assert len(sent) == 4 * (1 + esme.link.mac_retries)  # every APS try, every MAC retry
