"""ZigBee OTA Upgrade (cluster 0x0019) as sans-IO state machines: the CHF's server, a device's
client, and the CHF's own firmware.

Inputs are decoded command fields (dicts, as :func:`emulator.wire.se_clusters.decode_command`
gives them) and ``now``; outputs are :class:`Out` commands to send, trace events, and a
deadline (``get_timer`` / ``handle_timer``). :mod:`emulator.core.ota_han` carries them over the
HAN, so the pace of a transfer is the link's: a sleepy GSME's blocks come as fast as it polls.

Client (a device)::

    IDLE --Image Notify--> query --Query Next Image Response(SUCCESS)--> DOWNLOADING
    DOWNLOADING --Image Block Response...--> verify --> Upgrade End Request(SUCCESS | INVALID_IMAGE)
    DOWNLOADING --exchange lost--> resume at the same offset after ``retry_after_s``
    --Upgrade End Response--> WAITING (upgrade time 0xFFFFFFFF) | ACTIVATING (at the time given)
    ACTIVATING --time--> activated (new version) or reverted (profile: activation_fails);
                         either way the device queries again, reporting the version it runs

The device reports the new version only after activation: the server learns it from that
Query Next Image Request, and the CHF's version table from the server.

Server (the CHF): one :class:`Transfer` per device. An image is offered only when manufacturer
code, image type and (when the client gives one) hardware version match; otherwise the answer is
NO_IMAGE_AVAILABLE and the transfer ends ``refused`` with that status and the field at fault.

Profile-driven device behaviour (:class:`OtaPolicy`, from ``ota:`` in the device profile):
downgrades accepted or not, block size and minimum block period, blocks per wake for a sleepy
device, and the failure modes stall / verify_fails / activation_fails; ``unknown_state``: the
device reports no version or hardware, and takes whatever matches (a possible downgrade too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from emulator.core.ota_verify import ImageIdentity, verify
from emulator.core.timebase import SECOND
from emulator.core.trace_sink import Emit
from emulator.errors import LocalProtocolError, MalformedImage
from emulator.wire.ota_image import OtaHeader, OtaImage, parse_image, version_text

__all__ = [
    "UPGRADE_WAIT",
    "MAX_BLOCK",
    "ChfFirmware",
    "ClientState",
    "OtaClient",
    "OtaPolicy",
    "OtaServer",
    "OtaStatus",
    "Out",
    "Transfer",
]

#: Upgrade Time meaning "wait: the server will send another Upgrade End Response".
UPGRADE_WAIT = 0xFFFFFFFF
UNKNOWN_VERSION = 0xFFFFFFFF
#: How long a client waits for an Image Block Response before it counts the exchange lost.
RESPONSE_TIMEOUT = 30 * SECOND
QUERY_JITTER = 100
#: The largest Image Block the server sends: what fits one 127-byte 802.15.4 frame under NWK and
#: APS security with the Image Block Response header (a client may ask for more).
MAX_BLOCK = 48


class OtaStatus(IntEnum):
    SUCCESS = 0x00
    ABORT = 0x95
    INVALID_IMAGE = 0x96
    WAIT_FOR_DATA = 0x97
    NO_IMAGE_AVAILABLE = 0x98
    REQUIRE_MORE_IMAGE = 0x99


class OtaPolicy(Protocol):
    """What the OTA cores read from a device model's ``ota:`` section (``OtaSpec``)."""

    @property
    def manufacturer_code(self) -> int: ...
    @property
    def image_type(self) -> int: ...
    @property
    def hardware_version(self) -> int: ...
    @property
    def accept_downgrade(self) -> bool: ...
    @property
    def block_size(self) -> int: ...
    @property
    def block_period_ms(self) -> int: ...
    @property
    def blocks_per_wake(self) -> int: ...
    @property
    def retry_after_s(self) -> int: ...
    @property
    def failure(self) -> str: ...
    @property
    def stall_at_percent(self) -> int: ...
    @property
    def unknown_state(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Out:
    """A command to send: its name in the OTA cluster table and its fields."""

    name: str
    fields: dict[str, Any]


def _ids(mfr: int, image_type: int, version: int) -> dict[str, int]:
    return {"manufacturer_code": mfr, "image_type": image_type, "file_version": version}


class _Failing:
    """The failure mode an OTA core acts on: an injected fault's (``imposed``, set by
    ``set_failure``) over its model's."""

    policy: OtaPolicy
    imposed: str | None

    @property
    def failure(self) -> str:
        return self.imposed or self.policy.failure


# ---- the client (a device) -----------------------------------------------------------------


class ClientState(IntEnum):
    """Also the ZCL ImageUpgradeStatus attribute values where one exists."""

    IDLE = 0x00  # Normal
    DOWNLOADING = 0x01  # Download in progress
    DOWNLOADED = 0x02  # Download complete (verified, reported)
    WAITING = 0x03  # Waiting to upgrade
    ACTIVATING = 0x04  # Count down
    PAUSED = 0x40  # s1lab: a sleepy device between wakes, mid-download
    STALLED = 0x41  # s1lab: the profile's stall fault


class OtaClient(_Failing):
    """One device's OTA client."""

    def __init__(self, eui: str, policy: OtaPolicy, version: int, trusted: Iterable[bytes],
                 emit: Emit, *, sleepy: bool = False) -> None:
        self.eui = eui
        self.policy = policy
        self.imposed: str | None = None
        self.version = version  # what the device runs
        self.trusted = tuple(trusted)
        self.sleepy = sleepy
        self._emit = emit
        self.state = ClientState.IDLE
        self.offered: tuple[int, int, int] | None = None  # manufacturer, image type, version
        self.size = 0
        self.buffer = bytearray()
        self.downloaded_version: int | None = None
        self.requests = 0  # block requests sent (resumes included)
        self.resumes = 0
        self._blocks_this_wake = 0
        self._timer: tuple[int, Callable[[int], list[Out]]] | None = None
        #: Firmware state unknown (profile): until a successful activation puts it in a known one.
        self.unknown = policy.unknown_state

    @property
    def identity(self) -> ImageIdentity:
        p = self.policy
        return ImageIdentity(p.manufacturer_code, p.image_type,
                             None if self.unknown else p.hardware_version)

    @property
    def offset(self) -> int:
        return len(self.buffer)

    def get_timer(self) -> int | None:
        return None if self._timer is None else self._timer[0]

    def handle_timer(self, now: int) -> list[Out]:
        if self._timer is None or self._timer[0] > now:
            return []
        _, action = self._timer
        self._timer = None
        return action(now)

    def _after(self, at: int, action: Callable[[int], list[Out]]) -> None:
        self._timer = (at, action)

    # queries

    def query(self, now: int) -> list[Out]:
        p = self.policy
        fields: dict[str, Any] = {
            "field_control": 0 if self.unknown else 1,
            "manufacturer_code": p.manufacturer_code, "image_type": p.image_type,
            "current_file_version": UNKNOWN_VERSION if self.unknown else self.version,
            "hardware_version": None if self.unknown else p.hardware_version,
        }
        return [Out("QueryNextImageRequest", fields)]

    def on_image_notify(self, fields: dict[str, Any], now: int) -> list[Out]:
        if self.state is not ClientState.IDLE:
            return []
        return self.query(now)

    def on_query_response(self, fields: dict[str, Any], now: int) -> list[Out]:
        if self.state is not ClientState.IDLE:
            return []
        if fields["status"] != OtaStatus.SUCCESS:
            self._emit(now, self.eui, "OtaNoImageAvailable", {"status": fields["status"]})
            return []
        mfr, itype, version = fields["manufacturer_code"], fields["image_type"], \
            fields["file_version"]
        p = self.policy
        if version == self.version and not self.unknown:
            return []  # already running it
        if version < self.version and not (p.accept_downgrade or self.unknown):
            self._emit(now, self.eui, "OtaDowngradeRefused",
                       {"running": version_text(self.version), "offered": version_text(version)})
            return [Out("UpgradeEndRequest", {"status": OtaStatus.ABORT, **_ids(mfr, itype,
                                                                                 version)})]
        self.offered = (mfr, itype, version)
        self.size = fields["image_size"]
        self.buffer = bytearray()
        self.state = ClientState.DOWNLOADING
        self._blocks_this_wake = 0
        self._emit(now, self.eui, "OtaDownloadStarted",
                   {"version": version_text(version), "size": self.size})
        return self._request(now)

    # blocks

    def _request(self, now: int) -> list[Out]:
        assert self.offered is not None
        self.requests += 1
        self._after(now + RESPONSE_TIMEOUT, self._lost)
        return [Out("ImageBlockRequest", {
            "field_control": 0, **_ids(*self.offered), "file_offset": self.offset,
            "max_data_size": self.policy.block_size,
        })]

    def _lost(self, now: int) -> list[Out]:
        """No answer to a block request: resume from the same offset later."""
        return self.exchange_failed(now)

    def exchange_failed(self, now: int) -> list[Out]:
        if self.state is not ClientState.DOWNLOADING:
            return []
        self.resumes += 1
        self._emit(now, self.eui, "OtaTransferInterrupted", {"offset": self.offset})
        self._after(now + self.policy.retry_after_s * SECOND, self._resume)
        return []

    def _resume(self, now: int) -> list[Out]:
        if self.state is not ClientState.DOWNLOADING:
            return []
        self._emit(now, self.eui, "OtaTransferResumed", {"offset": self.offset})
        return self._request(now)

    def on_block_response(self, fields: dict[str, Any], now: int) -> list[Out]:
        if self.state is not ClientState.DOWNLOADING or self.offered is None:
            return []
        status = fields["status"]
        if status == OtaStatus.WAIT_FOR_DATA:
            wait = max(0, fields["request_time"] - fields["current_time"]) * SECOND
            self._after(now + wait, self._request)
            return []
        if status != OtaStatus.SUCCESS:
            self._emit(now, self.eui, "OtaDownloadAborted", {"status": status})
            self._reset()
            return []
        if fields["file_offset"] != self.offset:
            return []  # a late duplicate of a block we have
        self.buffer += fields["data"]
        self._timer = None
        if self.offset >= self.size:
            return self._verify(now)
        p = self.policy
        if self.failure == "stall" and self.offset * 100 >= self.size * p.stall_at_percent:
            self.state = ClientState.STALLED
            self._emit(now, self.eui, "OtaTransferStalled", {"offset": self.offset})
            return []
        self._blocks_this_wake += 1
        if self.sleepy and p.blocks_per_wake and self._blocks_this_wake >= p.blocks_per_wake:
            self.state = ClientState.PAUSED
            return []
        if p.block_period_ms:
            self._after(now + p.block_period_ms * 1000, self._request)
            return []
        return self._request(now)

    def set_failure(self, failure: str | None, now: int) -> list[Out]:
        """Impose an OTA failure mode (an injected fault), or with None give the model's back.
        A download that the fault stalled goes on from where it stopped once the mode is no
        longer ``stall``."""
        self.imposed = failure
        if self.state is ClientState.STALLED and self.failure != "stall":
            self.state = ClientState.DOWNLOADING
            self._emit(now, self.eui, "OtaTransferResumed", {"offset": self.offset})
            return self._request(now)
        return []

    def wake(self, now: int) -> list[Out]:
        """A sleepy device woke: continue a paused download."""
        if self.state is not ClientState.PAUSED:
            return []
        self.state = ClientState.DOWNLOADING
        self._blocks_this_wake = 0
        return self._request(now)

    def _verify(self, now: int) -> list[Out]:
        assert self.offered is not None
        verdict = verify(bytes(self.buffer), self.trusted, identity=self.identity,
                         expected_size=self.size)
        ok = verdict.ok and self.failure != "verify_fails"
        reason = verdict.reason or ("verification fault (its OTA failure mode)" if not ok else "")
        ids = _ids(*self.offered)
        if not ok:
            self._emit(now, self.eui, "OtaImageInvalid", {"reason": reason})
            self._reset()
            return [Out("UpgradeEndRequest", {"status": OtaStatus.INVALID_IMAGE, **ids})]
        self.state = ClientState.DOWNLOADED
        self.downloaded_version = ids["file_version"]
        self._emit(now, self.eui, "OtaDownloadComplete",
                   {"version": version_text(ids["file_version"]), "size": self.size})
        return [Out("UpgradeEndRequest", {"status": OtaStatus.SUCCESS, **ids})]

    def _reset(self) -> None:
        self.state = ClientState.IDLE
        self.offered = None
        self.buffer = bytearray()
        self._timer = None

    # activation

    def on_upgrade_end_response(self, fields: dict[str, Any], now: int) -> list[Out]:
        if self.state not in (ClientState.DOWNLOADED, ClientState.WAITING,
                              ClientState.ACTIVATING):
            return []
        if fields["file_version"] != self.downloaded_version:
            return []
        if fields["upgrade_time"] == UPGRADE_WAIT:
            self.state = ClientState.WAITING
            self._timer = None
            self._emit(now, self.eui, "OtaWaitingForActivation", {})
            return []
        # Upgrade Time is on the server's clock; Current Time gives the offset to ours.
        delay = max(0, fields["upgrade_time"] - fields["current_time"]) * SECOND
        self.state = ClientState.ACTIVATING
        self._after(now + delay, self._activate)
        self._emit(now, self.eui, "OtaActivationScheduled", {"in_s": delay // SECOND})
        return []

    def _activate(self, now: int) -> list[Out]:
        assert self.downloaded_version is not None
        new = self.downloaded_version
        if self.failure == "activation_fails":
            self._emit(now, self.eui, "OtaActivationFailed",
                       {"version": version_text(new), "reverted_to": version_text(self.version)})
        else:
            old, self.version = self.version, new
            self.unknown = False
            self._emit(now, self.eui, "OtaActivated",
                       {"from": version_text(old), "to": version_text(new)})
        self._reset()
        self.downloaded_version = None
        return self.query(now)  # after its restart, the device reports what it runs


# ---- the server (the CHF) -------------------------------------------------------------------


@dataclass(slots=True)
class Transfer:
    """One image distributed to one device, as the CHF sees it."""

    eui: str
    image: OtaImage
    activate_at: int | None  # ZigBee UTC; None: wait for an activate command
    state: str = "offered"  # offered downloading downloaded activation-scheduled activated
    #                         refused failed
    offset: int = 0
    bytes_served: int = 0
    blocks_served: int = 0
    status: int = OtaStatus.SUCCESS
    reason: str = ""
    distributed_at: int = 0
    last_block_at: int | None = None
    finished_at: int | None = None
    history: list[tuple[int, str]] = field(default_factory=list)

    @property
    def version(self) -> int:
        return self.image.header.file_version

    @property
    def size(self) -> int:
        return len(self.image.raw)

    def move(self, state: str, now: int) -> None:
        self.state = state
        self.history.append((now, state))


def _mismatch(h: OtaHeader, mfr: int, image_type: int, hardware: int | None) -> str:
    """What keeps an image with header ``h`` from a device that queried with these; "" if none."""
    if mfr != h.manufacturer_code:
        return f"manufacturer code 0x{h.manufacturer_code:04X}, the device's is 0x{mfr:04X}"
    if image_type != h.image_type:
        return f"image type 0x{h.image_type:04X}, the device's is 0x{image_type:04X}"
    if not h.hardware_matches(hardware):
        assert hardware is not None  # no hardware version given always matches
        return (f"hardware versions 0x{h.min_hardware_version:04X}-"
                f"0x{h.max_hardware_version:04X}, the device's is 0x{hardware:04X}")
    return ""


class OtaServer:
    """The CHF's OTA server for its HAN devices."""

    def __init__(self, eui: str, emit: Emit) -> None:
        self.eui = eui
        self._emit = emit
        self.transfers: dict[str, Transfer] = {}
        self.versions: dict[str, int] = {}  # as each device last reported (Query Next Image)

    def distribute(self, eui: str, raw: bytes, now: int, activate_at: int | None) -> Transfer:
        """Offer ``raw`` to device ``eui``; an unparsable file is refused (INVALID_IMAGE)."""
        try:
            image = parse_image(raw)
        except MalformedImage as exc:
            self._emit(now, self.eui, "OtaImageRefused", {"to": eui, "status": "INVALID_IMAGE",
                                                          "reason": str(exc)})
            raise
        t = Transfer(eui, image, activate_at, distributed_at=now)
        t.move("offered", now)
        self.transfers[eui] = t
        h = image.header
        self._emit(now, self.eui, "OtaImageDistributed", {
            "to": eui, "version": version_text(h.file_version), "size": t.size,
            "manufacturer_code": h.manufacturer_code, "image_type": h.image_type})
        return t

    def image_notify(self, eui: str) -> Out:
        h = self.transfers[eui].image.header
        return Out("ImageNotify", {"payload_type": 3, "query_jitter": QUERY_JITTER,
                                   **_ids(h.manufacturer_code, h.image_type, h.file_version)})

    def on_query(self, eui: str, fields: dict[str, Any], now: int) -> Out:
        reported = fields["current_file_version"]
        if reported != UNKNOWN_VERSION:
            self.versions[eui] = reported
        t = self.transfers.get(eui)
        if t is not None and t.state == "activation-scheduled":
            if reported == t.version:
                t.finished_at = now
                t.move("activated", now)
                self._emit(now, self.eui, "OtaUpgradeConfirmed",
                           {"device": eui, "version": version_text(reported)})
            else:
                t.reason = "activation failed: the device runs its old version"
                t.finished_at = now
                t.move("failed", now)
                self._emit(now, self.eui, "OtaUpgradeFailed", {"device": eui,
                                                               "reason": t.reason})
        no = Out("QueryNextImageResponse", {"status": OtaStatus.NO_IMAGE_AVAILABLE})
        if t is None or t.state not in ("offered", "downloading"):
            return no
        h = t.image.header
        hw = fields.get("hardware_version") if fields["field_control"] & 1 else None
        mismatch = _mismatch(h, fields["manufacturer_code"], fields["image_type"], hw)
        if mismatch:
            # The device asked for its own image and this is not it: the transfer is over.
            t.status = OtaStatus.NO_IMAGE_AVAILABLE
            t.reason = f"the image does not fit the device: {mismatch}"
            t.finished_at = now
            t.move("refused", now)
            self._emit(now, self.eui, "OtaNoImageOffered", {
                "device": eui, "manufacturer_code": fields["manufacturer_code"],
                "image_type": fields["image_type"], "hardware_version": hw,
                "reason": t.reason})
            return no
        return Out("QueryNextImageResponse", {
            "status": OtaStatus.SUCCESS,
            **_ids(h.manufacturer_code, h.image_type, h.file_version), "image_size": t.size})

    def on_block_request(self, eui: str, fields: dict[str, Any], now: int) -> Out:
        t = self.transfers.get(eui)
        h = None if t is None else t.image.header
        if (t is None or h is None or t.state not in ("offered", "downloading")
                or (fields["manufacturer_code"], fields["image_type"], fields["file_version"])
                != (h.manufacturer_code, h.image_type, h.file_version)):
            return Out("ImageBlockResponse", {"status": OtaStatus.NO_IMAGE_AVAILABLE})
        offset = fields["file_offset"]
        data = t.image.raw[offset:offset + min(fields["max_data_size"], MAX_BLOCK)]
        if t.state == "offered":
            t.move("downloading", now)
        t.offset = offset + len(data)
        t.bytes_served += len(data)
        t.blocks_served += 1
        t.last_block_at = now
        return Out("ImageBlockResponse", {
            "status": OtaStatus.SUCCESS, **_ids(h.manufacturer_code, h.image_type,
                                                h.file_version),
            "file_offset": offset, "data": data})

    def on_upgrade_end(self, eui: str, fields: dict[str, Any], now: int,
                       current_time: int) -> Out | None:
        """None: answer with a Default Response (the client reported a failure)."""
        t = self.transfers.get(eui)
        if t is None or fields["file_version"] != t.version:
            return None
        status = fields["status"]
        if status != OtaStatus.SUCCESS:
            t.status = status
            t.reason = ("downgrade refused by the device" if status == OtaStatus.ABORT
                        else "the device refused the image")
            t.finished_at = now
            t.move("refused", now)
            known = status in set(OtaStatus)
            self._emit(now, self.eui, "OtaImageRefused", {
                "device": eui, "status": OtaStatus(status).name if known else status,
                "reason": t.reason})
            return None
        t.move("downloaded", now)
        self._emit(now, self.eui, "OtaTransferComplete", {
            "device": eui, "bytes_served": t.bytes_served, "blocks": t.blocks_served,
            "seconds": (now - t.distributed_at) // SECOND})
        if t.activate_at is not None:
            t.move("activation-scheduled", now)
        return self._end_response(t, current_time)

    def _end_response(self, t: Transfer, current_time: int) -> Out:
        h = t.image.header
        upgrade = UPGRADE_WAIT if t.activate_at is None else max(t.activate_at, 0)
        return Out("UpgradeEndResponse", {
            **_ids(h.manufacturer_code, h.image_type, h.file_version),
            "current_time": current_time, "upgrade_time": upgrade})

    def activate(self, eui: str, at: int, now: int, current_time: int) -> Out:
        """Tell a device holding a verified image to run it at ``at`` (ZigBee UTC)."""
        t = self.transfers.get(eui)
        if t is None or t.state not in ("downloaded", "activation-scheduled"):
            state = "no transfer" if t is None else t.state
            raise LocalProtocolError(f"cannot activate {eui}: {state}")
        t.activate_at = at
        t.move("activation-scheduled", now)
        self._emit(now, self.eui, "OtaActivationRequested", {"device": eui, "at": at})
        return self._end_response(t, current_time)


# ---- the CHF's own firmware -----------------------------------------------------------------


class ChfFirmware(_Failing):
    """The CHF's own image: received over the WAN, verified, activated at a set time.

    Trace events follow the DUIS ``SMETS1CHFirmwareNotification`` states: UpdateRequested,
    then ActivationSuccessful (or ActivationFailed).
    """

    def __init__(self, eui: str, policy: OtaPolicy, version: int, trusted: Iterable[bytes],
                 emit: Emit) -> None:
        self.eui = eui
        self.policy = policy
        self.imposed: str | None = None
        self.version = version
        self.trusted = tuple(trusted)
        self._emit = emit
        self.pending: OtaImage | None = None
        self.activate_at_us: int | None = None  # run time
        self.state = "idle"  # idle downloaded activation-scheduled activated failed refused
        self.status: int = OtaStatus.SUCCESS  # of the last image loaded
        self.reason = ""

    def load(self, raw: bytes, now: int) -> int:
        """Take an image; returns the OTA status (SUCCESS or INVALID_IMAGE / ABORT)."""
        self.status = self._load(raw, now)
        return self.status

    def _load(self, raw: bytes, now: int) -> int:
        p = self.policy
        identity = ImageIdentity(p.manufacturer_code, p.image_type, p.hardware_version)
        verdict = verify(raw, self.trusted, identity=identity)
        if not verdict.ok or self.failure == "verify_fails":
            self.state, self.reason = "refused", verdict.reason or "verification fault"
            self._notify(now, "ImageRefused", {"reason": self.reason})
            return OtaStatus.INVALID_IMAGE
        assert verdict.image is not None
        version = verdict.image.header.file_version
        if version < self.version and not (p.accept_downgrade or p.unknown_state):
            self.state, self.reason = "refused", "downgrade refused"
            self._notify(now, "ImageRefused", {"reason": self.reason})
            return OtaStatus.ABORT
        self.pending = verdict.image
        self.state = "downloaded"
        self._notify(now, "UpdateRequested", {"version": version_text(version)})
        return OtaStatus.SUCCESS

    def set_failure(self, failure: str | None) -> None:
        """Impose an OTA failure mode on the CHF's own firmware (None: the model's again)."""
        self.imposed = failure

    def schedule(self, at_us: int, now: int) -> None:
        if self.pending is None:
            raise LocalProtocolError("the CHF holds no verified image to activate")
        self.activate_at_us = max(at_us, now)
        self.state = "activation-scheduled"

    def get_timer(self) -> int | None:
        return self.activate_at_us

    def handle_timer(self, now: int) -> bool:
        """Activate if due; returns whether the running version changed."""
        if self.activate_at_us is None or self.activate_at_us > now or self.pending is None:
            return False
        new = self.pending.header.file_version
        self.pending, self.activate_at_us = None, None
        if self.failure == "activation_fails":
            self.state, self.reason = "failed", "activation failed; reverted"
            self._notify(now, "ActivationFailed", {"version": version_text(new),
                                                   "reverted_to": version_text(self.version)})
            return False
        old, self.version = self.version, new
        self.state = "activated"
        self._notify(now, "ActivationSuccessful", {"from": version_text(old),
                                                   "to": version_text(new)})
        return True

    def _notify(self, now: int, status: str, fields: dict[str, object]) -> None:
        self._emit(now, self.eui, "SMETS1CHFirmwareNotification", {"status": status, **fields})
