"""The s1lab error tree.

Every error s1lab raises on bad input derives from :class:`S1labError`, so the command line can
turn any of them into one line and a non-zero exit::

    S1labError
     +-- ProfileError            a profile file is missing, unparsable or fails its schema
     +-- ScenarioError           a test-case file that cannot be read, parsed or validated
     +-- PkiError                a PKI folder, certificate or key is missing or unusable
     +-- WireError               bytes that do not parse as the declared format
     |    +-- MalformedFrame     a WAN or HAN frame that cannot be decoded
     |    +-- MalformedImage     a ZigBee OTA upgrade file that cannot be decoded
     +-- SecurityError           authentication failed
     |    +-- BadMac             a MAC/MIC did not verify
     |    +-- ReplayedCounter    a counter not above the last one accepted
     |    +-- CertificateError   a peer certificate not trusted or not valid at the run's time
     +-- ProtocolError           a peer or a caller broke the protocol (h11's split)
     |    +-- LocalProtocolError   we (the script or harness) asked for something illegal
     |    |    +-- IllegalTransition  an event a transition table does not allow in a state
     |    +-- RemoteProtocolError  the peer sent something illegal; ``code`` is the wire code
     +-- ClockError              misuse of a clock
     |    +-- WaitingOnNothing   a virtual-time run has nothing ready, no timer and no I/O
     +-- TransportError          a link or TLS session failed or closed
     +-- DeclarationError        s1lab's own tables disagree (a message without a handler...)
     +-- FaultSpecError          a fault spec (``--fault``, a scenario) that does not parse
     +-- ReportError             results that cannot make a report, or a report not written
     +-- CampaignError           a campaign file is bad, or its run cannot go on
          +-- CampaignMismatch   a results folder belongs to another campaign file or seed
     +-- OutputError             an output file or folder that cannot be written (full disk...)
     +-- DeviceCallbackError     a device's timer callback raised: the run stops (a bug)
     +-- CaptureError            a capture or key-log file cannot be written, a capture tool failed
     +-- MigrationFileError      an MGF or SCF that is not well-formed or fails its schema
     +-- MigrationSpecError      a bad --fault or --group for a migration run
     +-- ReleaseRefused          the DCO will not release an installation's secrets
"""

from __future__ import annotations


class S1labError(Exception):
    """Root of every error s1lab raises on bad input or a failed peer."""


class ProfileError(S1labError):
    """A profile file is missing, unparsable, or fails validation.

    ``file`` names the file, ``field`` the dotted path of the bad field (empty when the file
    as a whole is bad), and ``reason`` says why.
    """

    def __init__(self, file: str, field: str, reason: str) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {reason}")


class ScenarioError(S1labError):
    """A scenario (test case) file that cannot be read, parsed or validated, or a case id
    not found. One line: ``file:line: field: reason`` (``line`` None when it has none)."""

    def __init__(self, file: str, line: int | None, reason: str, field: str = "") -> None:
        self.file, self.line, self.reason, self.field = file, line, reason, field
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field + ': ' if field else ''}{reason}")


class PkiError(S1labError):
    """A PKI folder, certificate, key or keystore is missing or unusable."""


class WireError(S1labError):
    """Bytes that do not parse as the declared wire format."""


class MalformedFrame(WireError):
    """A frame that cannot be decoded; ``path`` names the field where decoding stopped."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{message} (at {path})" if path else message)


class MalformedImage(WireError):
    """A ZigBee OTA upgrade file that does not parse; the message names what is wrong."""


class SecurityError(S1labError):
    """Authentication failed."""


class BadMac(SecurityError):
    """A MAC or MIC did not verify under the expected key."""


class ReplayedCounter(SecurityError):
    """A counter that is not strictly above the last one accepted from that sender."""


class CertificateError(SecurityError):
    """A certificate that is not trusted, or not valid at the run's wall time."""


class ProtocolError(S1labError):
    """A protocol rule was broken. Do not raise this directly; raise a subclass."""

    def __init__(self, message: str, code: int = 0) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError")
        self.code = code
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """We (a script, the harness) asked for something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow; ``code`` is its wire error code."""


class ClockError(S1labError):
    """Misuse of a clock."""


class WaitingOnNothing(ClockError):
    """A virtual-time run has nothing ready, no timer armed and no I/O: it would wait forever."""


class TransportError(S1labError):
    """A link or TLS session failed, or closed while a caller was waiting on it."""


class DeclarationError(S1labError):
    """s1lab's own declarations disagree (a WAN message type without exactly one handler, a
    transition table that names an unknown state): a programming error, raised at import."""


class IllegalTransition(LocalProtocolError):
    """An event that a state machine's transition table does not allow in the current state
    (the security lifecycle, emergency credit, supply). ``table``, ``state`` and ``event`` name
    the table and the refused pair."""

    def __init__(self, table: str, state: object, event: object) -> None:
        self.table = table
        self.state = state
        self.event = event
        super().__init__(f"{table}: {_name(event)} is not allowed in {_name(state)}")


def _name(member: object) -> str:
    return str(getattr(member, "name", member))


class FaultSpecError(S1labError):
    """A fault spec (a ``--fault`` value, a scenario's fault) that does not parse."""


class CampaignError(S1labError):
    """A campaign file is missing, unparsable or fails its schema, or its run cannot go on.

    ``file`` names the file or folder, ``line`` the 1-based line of the problem (0 when the
    file as a whole is bad).
    """

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")


class CampaignMismatch(CampaignError):
    """``--resume``/``--rerun-failed`` on a results folder of another campaign file or seed."""


class ReportError(S1labError):
    """Results that cannot make a report (e.g. two results for one cell), or a report file that
    cannot be written."""


class FleetError(S1labError):
    """A fleet that cannot be laid out (a bad shard, too few addresses, a bad broker URL), or a
    control-plane command that failed or got no reply; ``code`` names it in an error reply."""

    def __init__(self, message: str, code: str = "failed") -> None:
        super().__init__(message)
        self.code = code


class OutputError(S1labError):
    """An output file or folder that cannot be written or replaced (a full disk, no permission);
    the message names the file."""


class DeviceCallbackError(S1labError):
    """A device's timer callback raised something that is not an s1lab error: a bug in the
    emulator. The run stops (every timer with it) and the command line exits non-zero."""


class CaptureError(S1labError):
    """A capture or key-log file cannot be written, or a capture tool failed."""


# --- declared here, raised by one module each (HAN crypto, the migration roles) ---


class InstallCodeError(SecurityError):
    """An install code of the wrong length, or whose CRC does not match."""


class UnknownKeySequence(SecurityError):
    """A frame under a network key sequence number we do not hold (or no longer hold)."""


class MigrationFileError(S1labError):
    """A migration file (MGF or SCF) that is not well-formed or does not match its schema.

    ``file`` names the file, ``path`` the element (``/MigrationGroupFile/Installation[2]/CHFEUI``,
    empty when the file as a whole is bad), and ``reason`` says what is wrong.
    """

    def __init__(self, file: str, path: str, reason: str) -> None:
        self.file = file
        self.path = path
        self.reason = reason
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {reason}")


class MigrationSpecError(S1labError):
    """A bad ``--fault`` or ``--group`` for a migration run."""


class ReleaseRefused(S1labError):
    """The DCO will not release secrets for this installation (unknown, or it failed)."""

    def __init__(self, installation_id: str, reason: str) -> None:
        self.installation_id = installation_id
        self.reason = reason
        super().__init__(f"DCO refuses release for {installation_id}: {reason}")
