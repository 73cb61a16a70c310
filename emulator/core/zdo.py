"""What a device says about itself, sans-IO: its ZDO descriptors, its Device_annce, and its
Basic-cluster attributes.

A coordinator that did not build the device (zigbee-herdsman, a physical CHF) learns it this
way after the join: the device broadcasts Device_annce, then answers Node_Desc, Active_EP and
Simple_Desc requests and Basic reads. s1lab's own CHF needs none of it (it knows its devices
from the whitelist), so only devices on a radio announce themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.errors import MalformedFrame
from emulator.wire.ieee802154 import CAP_ALLOCATE_ADDRESS, CAP_MAINS_POWERED, CAP_RX_ON_WHEN_IDLE
from emulator.wire.se_clusters import BasicAttr, ClusterId
from emulator.wire.vocabulary import DeviceType
from emulator.wire.zcl import DataType
from emulator.wire.zdo import (
    LogicalType,
    NodeDescriptor,
    SimpleDescriptor,
    ZdoCluster,
    ZdoStatus,
    active_ep_rsp,
    decode_request,
    device_annce,
    node_desc_rsp,
    simple_desc_rsp,
)
from emulator.wire.zigbee_aps import SE_PROFILE

#: s1lab's (fictional) manufacturer code, as in the vendor-specific GSME commands.
MANUFACTURER_CODE = 0x1F5A
SW_BUILD_ID = 0x4000  # Basic attribute SWBuildID
#: Smart Energy device ids (SE 1.4 table 5-2).
_SE_DEVICE_ID = {DeviceType.ESME: 0x0501, DeviceType.GSME: 0x0501, DeviceType.IHD: 0x0507,
                 DeviceType.PPMID: 0x0507, DeviceType.CHF: 0x0500}
_SERVER_CLUSTERS = {
    DeviceType.ESME: (ClusterId.BASIC, ClusterId.METERING, ClusterId.PREPAYMENT),
    DeviceType.GSME: (ClusterId.BASIC, ClusterId.METERING, ClusterId.PREPAYMENT),
}
_CLIENT_CLUSTERS = (ClusterId.TIME,)
ENDPOINT = 1


@dataclass(frozen=True, slots=True)
class Identity:
    """One device as it describes itself."""

    eui: bytes
    device_type: DeviceType
    manufacturer: str
    model: str
    firmware: str
    sleepy: bool

    @property
    def capability(self) -> int:
        if self.sleepy:
            return CAP_ALLOCATE_ADDRESS
        return CAP_ALLOCATE_ADDRESS | CAP_RX_ON_WHEN_IDLE | CAP_MAINS_POWERED

    def simple_descriptor(self) -> SimpleDescriptor:
        return SimpleDescriptor(ENDPOINT, SE_PROFILE, _SE_DEVICE_ID.get(self.device_type, 0x0500),
                                0, tuple(_SERVER_CLUSTERS.get(self.device_type,
                                                              (ClusterId.BASIC,))),
                                _CLIENT_CLUSTERS)

    def announce(self, tsn: int, short: int) -> bytes:
        return device_annce(tsn, short, self.eui, self.capability)

    def answer(self, cluster: int, payload: bytes, short: int) -> tuple[int, bytes] | None:
        """The ZDO response (cluster, payload) to a request addressed to us; None if it is not
        a request we answer (ZDO has no 'unsupported' reply for those here)."""
        try:
            req = decode_request(cluster, payload)
        except MalformedFrame:
            return None
        ok = ZdoStatus.SUCCESS
        if req.cluster is ZdoCluster.NODE_DESC_REQ:
            desc = NodeDescriptor(LogicalType.END_DEVICE, self.capability, MANUFACTURER_CODE)
            return ZdoCluster.NODE_DESC_RSP, node_desc_rsp(req.tsn, ok, short, desc)
        if req.cluster is ZdoCluster.ACTIVE_EP_REQ:
            return ZdoCluster.ACTIVE_EP_RSP, active_ep_rsp(req.tsn, ok, short, (ENDPOINT,))
        if req.endpoint != ENDPOINT:
            return ZdoCluster.SIMPLE_DESC_RSP, simple_desc_rsp(req.tsn, ZdoStatus.NOT_ACTIVE,
                                                               short, None)
        return ZdoCluster.SIMPLE_DESC_RSP, simple_desc_rsp(req.tsn, ok, short,
                                                           self.simple_descriptor())

    def basic(self) -> dict[int, tuple[int, int | str]]:
        """Basic-cluster attributes: id -> (ZCL type, value)."""
        return {
            BasicAttr.ZCL_VERSION: (DataType.UINT8, 3),
            BasicAttr.APPLICATION_VERSION: (DataType.UINT8, 1),
            BasicAttr.STACK_VERSION: (DataType.UINT8, 2),
            BasicAttr.HW_VERSION: (DataType.UINT8, 1),
            BasicAttr.MANUFACTURER_NAME: (DataType.CHAR_STRING, self.manufacturer[:32]),
            BasicAttr.MODEL_IDENTIFIER: (DataType.CHAR_STRING, self.model[:32]),
            BasicAttr.DATE_CODE: (DataType.CHAR_STRING, "20261201"),
            BasicAttr.POWER_SOURCE: (DataType.ENUM8, 0x03 if self.sleepy else 0x01),
            SW_BUILD_ID: (DataType.CHAR_STRING, self.firmware[:16]),
        }


__all__ = ["MANUFACTURER_CODE", "Identity"]
