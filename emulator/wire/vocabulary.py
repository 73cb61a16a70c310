"""Shared vocabulary: the enumerations that wire formats, device cores and the harness all use.

Values are wire values (they appear in WAN frames, see docs/wan-protocol.md), so never renumber.
"""

from __future__ import annotations

from enum import IntEnum


class DeviceType(IntEnum):
    CHF = 0x01
    ESME = 0x02
    GSME = 0x03
    PPMID = 0x04
    IHD = 0x05


class Role(IntEnum):
    """Who sent a WAN frame."""

    SMSO = 0x01  # the supplier's SMETS1 head-end (before migration, and after rollback)
    S1SP = 0x02  # the DCC's SMETS1 Service Provider (after migration)
    CHF = 0x10  # the Communications Hub Function itself (responses, alerts)


class PaymentMode(IntEnum):
    CREDIT = 0x00
    PREPAYMENT = 0x01


class SupplyState(IntEnum):
    """Electricity supply contactor, or the gas valve."""

    ENABLED = 0x00
    DISABLED = 0x01
    ARMED = 0x02  # disabled, waiting for the consumer to press the button to enable


class SupplyAction(IntEnum):
    ENABLE = 0x00
    DISABLE = 0x01
    ARM = 0x02


class TopUpStatus(IntEnum):
    ACCEPTED = 0x00
    MALFORMED = 0x01  # not 20 decimal digits, or above 2**64 - 1
    INVALID = 0x02  # check value (MAC) wrong for this meter
    ALREADY_USED = 0x03  # this UTRN counter was applied before (or is too old)
    EXCEEDS_MAX_CREDIT = 0x04  # the balance would pass the meter's maximum credit
    LOCKED_OUT = 0x05  # too many invalid UTRNs in a row; the meter refuses keypad/WAN top-ups
    DEVICE_NOT_SUPPORTED = 0x06  # the target device takes no top-ups


class FirmwareTransferState(IntEnum):
    """Where one device's firmware upgrade stands, as the CHF sees it."""

    NONE = 0x00
    OFFERED = 0x01  # Image Notify sent; the device has not asked for a block yet
    DOWNLOADING = 0x02
    DOWNLOADED = 0x03  # verified by the device, waiting for its activation time or command
    ACTIVATION_SCHEDULED = 0x04
    ACTIVATED = 0x05  # the device reports the new version
    REFUSED = 0x06  # the device refused the image (INVALID_IMAGE, or ABORT on a downgrade)
    FAILED = 0x07  # activation failed: the device still runs its old version


class DeviceLogState(IntEnum):
    """State of an entry in the CHF device log (the HAN whitelist)."""

    WHITELISTED = 0x00  # added, not joined yet
    JOINED = 0x01
    REMOVED = 0x02


class EventCode(IntEnum):
    """Device event log codes (the ``code`` of an event log entry)."""

    POWER_ON = 0x0001
    CLOCK_ADJUSTED = 0x0002
    PAYMENT_MODE_CHANGED = 0x0010
    TOP_UP_ACCEPTED = 0x0011
    TOP_UP_REJECTED = 0x0012
    UTRN_LOCKOUT = 0x0013
    LOW_CREDIT = 0x0014
    EMERGENCY_CREDIT_AVAILABLE = 0x0015
    EMERGENCY_CREDIT_ACTIVATED = 0x0016
    EMERGENCY_CREDIT_EXHAUSTED = 0x0017
    CREDIT_EXHAUSTED = 0x0018
    SUPPLY_ENABLED = 0x0020
    SUPPLY_DISABLED = 0x0021
    SUPPLY_ARMED = 0x0022
    FIRMWARE_ACTIVATED = 0x0030
    WAN_FRAME_REJECTED = 0x0040
    HAN_DEVICE_ADDED = 0x0050
    HAN_DEVICE_REMOVED = 0x0051
    HAN_DEVICE_JOINED = 0x0052


class MessageType(IntEnum):
    """WAN application protocol v1 message types. A response is the request's value | 0x80."""

    READ_INSTANTANEOUS = 0x01
    READ_INVENTORY = 0x02
    READ_FIRMWARE_VERSIONS = 0x03
    READ_EVENT_LOG = 0x04
    READ_PAYMENT_MODE = 0x05
    SET_PAYMENT_MODE = 0x06
    TOP_UP = 0x07
    READ_TIME = 0x08
    SET_TIME = 0x09
    SET_SUPPLY = 0x0A
    UPDATE_HAN_DEVICE_LOG = 0x0B  # DUIS SRV 8.11: add/remove a device on the CHF whitelist
    # 0x20-0x2F key management (under the CHF Master Key), 0x30-0x3F certificates,
    # 0x40-0x4F SIM/APN.
    ROTATE_KEYS = 0x20  # Master-Key authorised: new operational keys, AES-key-wrapped
    ROLLBACK = 0x21  # Master-Key authorised: back to the previous keys, anchor and APN
    READ_SECURITY_STATE = 0x22
    SWAP_CERTIFICATE = 0x30  # Master-Key authorised: a new head-end trust anchor
    MOVE_SIM = 0x40
    # 0x50-0x5F firmware (ZigBee OTA images for the CHF and its HAN devices)
    FIRMWARE_SEGMENT = 0x50  # one piece of an image, in order, into the CHF's buffer
    DISTRIBUTE_FIRMWARE = 0x51  # the buffered image to the target device, with its activation
    READ_FIRMWARE_TRANSFER = 0x52
    ACTIVATE_FIRMWARE = 0x53
    ERROR = 0x7F


RESPONSE_BIT = 0x80


class ErrorCode(IntEnum):
    """Payload of an ERROR (0x7F) frame."""

    MALFORMED = 0x01
    UNSUPPORTED_VERSION = 0x02
    UNKNOWN_ROLE = 0x03  # the role has no keys on this CHF (or is not the current owner)
    UNKNOWN_KEY = 0x04  # key id is not the role's current key
    BAD_MAC = 0x05
    REPLAYED_COUNTER = 0x06
    UNKNOWN_DEVICE = 0x07
    UNSUPPORTED_COMMAND = 0x08
    INVALID_ARGUMENT = 0x09
    DEVICE_UNREACHABLE = 0x0A
    OPERATION_FAILED = 0x0B  # the device tried and failed (a migration step)
    INTERNAL_ERROR = 0x0C  # the CHF failed while handling an authenticated request (traced)


class DeviceLogAction(IntEnum):
    """What an UPDATE_HAN_DEVICE_LOG request does to the CHF device log."""

    ADD = 0x00  # whitelist the device with its install code and open a join window
    REMOVE = 0x01


class DeviceLogStatus(IntEnum):
    """Outcome of an UPDATE_HAN_DEVICE_LOG request."""

    DONE = 0x00
    ALREADY_PRESENT = 0x01  # ADD of a device already in the log
    NOT_PRESENT = 0x02  # REMOVE of a device not in the log
    INVALID_INSTALL_CODE = 0x03  # the install code's CRC is wrong
    LOG_FULL = 0x04
    NOT_ALLOWED = 0x05  # the CHF refuses the change for another reason
