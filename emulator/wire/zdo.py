"""ZigBee Device Object frames (profile 0x0000, endpoint 0) that s1lab's devices send and answer.

Every ZDO frame is a transaction sequence number then the command's fields (little-endian);
a response's cluster is the request's | 0x8000 and carries its TSN. Declared here: Device_annce
(0x0013, broadcast after joining), Node_Desc (0x0002), Simple_Desc (0x0004) and Active_EP
(0x0005) requests and responses, as a coordinator interviews a new device (ZigBee spec
r22 §2.4.3-2.4.4).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from emulator.errors import MalformedFrame

ZDO_PROFILE = 0x0000
ZDO_ENDPOINT = 0
#: Broadcast to all rx-on-when-idle devices (where Device_annce goes).
BROADCAST_RX_ON = 0xFFFD


class ZdoCluster(IntEnum):
    NODE_DESC_REQ = 0x0002
    SIMPLE_DESC_REQ = 0x0004
    ACTIVE_EP_REQ = 0x0005
    DEVICE_ANNCE = 0x0013
    NODE_DESC_RSP = 0x8002
    SIMPLE_DESC_RSP = 0x8004
    ACTIVE_EP_RSP = 0x8005


class ZdoStatus(IntEnum):
    SUCCESS = 0x00
    INVALID_EP = 0x82
    NOT_ACTIVE = 0x83
    DEVICE_NOT_FOUND = 0x81


class LogicalType(IntEnum):
    COORDINATOR = 0
    ROUTER = 1
    END_DEVICE = 2


FREQ_BAND_2400 = 0x40  # bit 14 of the descriptor's second 16-bit word


@dataclass(frozen=True, slots=True)
class NodeDescriptor:
    logical_type: LogicalType
    mac_capability: int
    manufacturer_code: int
    max_buffer_size: int = 80
    max_in_transfer: int = 160
    server_mask: int = 0x2C00  # stack compliance revision 22, no server roles
    max_out_transfer: int = 160
    descriptor_capability: int = 0

    def encode(self) -> bytes:
        return struct.pack("<BBBHBHHHB", int(self.logical_type) & 0x07, FREQ_BAND_2400,
                           self.mac_capability, self.manufacturer_code, self.max_buffer_size,
                           self.max_in_transfer, self.server_mask, self.max_out_transfer,
                           self.descriptor_capability)


@dataclass(frozen=True, slots=True)
class SimpleDescriptor:
    endpoint: int
    profile: int
    device_id: int
    device_version: int
    in_clusters: tuple[int, ...]
    out_clusters: tuple[int, ...]

    def encode(self) -> bytes:
        return (struct.pack("<BHHBB", self.endpoint, self.profile, self.device_id,
                            self.device_version, len(self.in_clusters))
                + b"".join(struct.pack("<H", c) for c in self.in_clusters)
                + bytes((len(self.out_clusters),))
                + b"".join(struct.pack("<H", c) for c in self.out_clusters))


@dataclass(frozen=True, slots=True)
class ZdoRequest:
    """A decoded request: the TSN, the NWK address of interest, and the endpoint (Simple_Desc)."""

    cluster: ZdoCluster
    tsn: int
    nwk_addr: int
    endpoint: int | None = None


def decode_request(cluster: int, payload: bytes) -> ZdoRequest:
    try:
        kind = ZdoCluster(cluster)
    except ValueError as exc:
        raise MalformedFrame(f"ZDO cluster 0x{cluster:04X} is not one s1lab answers",
                             "zdo.cluster") from exc
    need = {ZdoCluster.NODE_DESC_REQ: 3, ZdoCluster.ACTIVE_EP_REQ: 3,
            ZdoCluster.SIMPLE_DESC_REQ: 4}.get(kind)
    if need is None:
        raise MalformedFrame(f"ZDO 0x{cluster:04X} is not a request", "zdo.cluster")
    if len(payload) < need:
        raise MalformedFrame(f"ZDO 0x{cluster:04X} of {len(payload)} bytes", "zdo.length")
    tsn, nwk = struct.unpack_from("<BH", payload)
    endpoint = payload[3] if kind is ZdoCluster.SIMPLE_DESC_REQ else None
    return ZdoRequest(kind, tsn, nwk, endpoint)


def node_desc_rsp(tsn: int, status: int, nwk: int, desc: NodeDescriptor | None) -> bytes:
    out = struct.pack("<BBH", tsn, status, nwk)
    return out + desc.encode() if desc is not None and status == ZdoStatus.SUCCESS else out


def active_ep_rsp(tsn: int, status: int, nwk: int, endpoints: tuple[int, ...]) -> bytes:
    return struct.pack("<BBHB", tsn, status, nwk, len(endpoints)) + bytes(endpoints)


def simple_desc_rsp(tsn: int, status: int, nwk: int, desc: SimpleDescriptor | None) -> bytes:
    body = desc.encode() if desc is not None and status == ZdoStatus.SUCCESS else b""
    return struct.pack("<BBHB", tsn, status, nwk, len(body)) + body


def device_annce(tsn: int, nwk: int, eui: bytes, capability: int) -> bytes:
    """Device_annce: NWK address, IEEE address (sent little-endian), MAC capability."""
    if len(eui) != 8:
        raise MalformedFrame(f"an EUI-64 is 8 bytes, got {len(eui)}", "zdo.ieee")
    return struct.pack("<BH", tsn, nwk) + eui[::-1] + bytes((capability & 0xFF,))


@dataclass(frozen=True, slots=True)
class DeviceAnnce:
    tsn: int
    nwk: int
    eui: bytes
    capability: int


def decode_device_annce(payload: bytes) -> DeviceAnnce:
    if len(payload) != 12:
        raise MalformedFrame(f"Device_annce of {len(payload)} bytes (12 expected)", "zdo.length")
    tsn, nwk = struct.unpack_from("<BH", payload)
    return DeviceAnnce(tsn, nwk, payload[3:11][::-1], payload[11])


__all__ = [
    "BROADCAST_RX_ON",
    "ZDO_ENDPOINT",
    "ZDO_PROFILE",
    "DeviceAnnce",
    "LogicalType",
    "NodeDescriptor",
    "SimpleDescriptor",
    "ZdoCluster",
    "ZdoRequest",
    "ZdoStatus",
    "active_ep_rsp",
    "decode_device_annce",
    "decode_request",
    "device_annce",
    "node_desc_rsp",
    "simple_desc_rsp",
]
