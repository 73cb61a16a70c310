"""Why a migration attempt failed: reason codes in the style of the MEHRS.

The Migration Error Handling and Retry Strategy (MEHRS, a TMAD child document) gives every
failing sub-step an error code; DCC speaks of roughly 400 of them (domain.md §3.3 step 12, [S3]).
Only two are public: **MA112** (no WAN contact with the CHF in the previous 7 days, TMAD 5.12(c))
and **GT01** (no HAN contact between the CHF and the GSME in the previous 72 hours) [S3]. Every
other code string below is **our own invention**, stable within s1lab, and chosen so that it
cannot be mistaken for a real MEHRS code:

- ``V525`` - TMAD 5.25 validation (PreviousAPN);
- ``DV..`` - data validation, the Table 5.10-style checks and the data issues of TMAD 18.12 and
  18.13 (Various 2 numbering);
- ``S1..`` - S1SP Device Installation steps (key rotation, certificate swap, SIM move, HAN);
- ``MV..`` - the DCO's validation of a Migration Group File (steps 15.6.x and 15.7.x, see
  :mod:`harness.migration.dco`), whose SCF ``ReasonCode`` is the member name
  (``docs/migration-files.md`` §2);
- ``PW..`` - the 4.26 dormant pre-work (firmware upgrade and configuration) [S2][S3];
- ``EL..`` - eligibility (EPCL gate, exclusion).

``data_error`` marks the Table 5.10 *data* errors. They are logged but do **not** count towards
the five-retry exclusion (Five Retries Attempting Migration; "except for Table 5.10 errors")
[S3]. ``pre_work`` marks failures of the 4.26 firmware/configuration work that DCC instructs the
SMSO to do *before* a migration attempt: they are not migration attempts either.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class _Info(NamedTuple):
    description: str
    data_error: bool = False
    pre_work: bool = False
    dco_step: str = ""  # the DCO validation step (15.6.x / 15.7.x) that gives this reason


class Reason(Enum):
    """A failure reason. The value is the stable code string (``Reason("MA112")`` works)."""

    MA112 = "MA112"
    GT01 = "GT01"
    PREVIOUS_APN_MISSING = "V525"
    COS_IN_WINDOW = "DV01"
    DUPLICATE_GUID = "DV02"
    DUPLICATE_MPXN = "DV03"
    SUPPLIER_UNKNOWN = "DV04"
    NO_PREPAYMENT_KEY = "DV05"
    SPLIT_SUPPLY_ON_COS = "DV06"
    MASTER_KEY_WRONG = "S1MK01"
    MASTER_KEY_MISSING = "S1MK02"
    CERT_MISMATCH = "S1CM01"
    KEY_ROTATION_FAILED = "S1KR01"
    CERT_SWAP_FAILED = "S1CS01"
    SIM_MOVE_FAILED = "S1SM01"
    RECONNECT_TIMEOUT = "S1TO01"
    S1SP_TIMEOUT = "S1TO02"
    HAN_CHECK_FAILED = "S1HC01"
    FIRMWARE_FAILED = "PW01"
    CONFIGURATION_FAILED = "PW02"
    PRE_WORK_NO_WAN = "PW03"
    FIRMWARE_NOT_ATTEMPTABLE = "PW04"
    NOT_ON_EPCL = "EL01"
    EXCLUDED = "EL02"
    SCHEMA_INVALID = "MV01"
    GROUP_ID_UNKNOWN = "MV02"
    GROUP_MISMATCH = "MV03"
    CERT_UNPARSABLE = "MV04"
    CERT_UNTRUSTED = "MV05"
    CERT_NOT_CHF = "MV06"
    CERT_EUI_MISMATCH = "MV07"
    CERT_NOT_VALID_NOW = "MV08"
    MASTER_KEY_UNDECRYPTABLE = "MV09"
    MASTER_KEY_INVALID = "MV10"
    GROUP_INFO_UNDECRYPTABLE = "MV11"
    DUPLICATE_CHF_EUI = "MV12"
    DUPLICATE_INSTALLATION_ID = "MV13"
    PREPAYMENT_KEY_UNDECRYPTABLE = "MV14"

    @property
    def code(self) -> str:
        """The short stable code string (MA112 and GT01 are real MEHRS codes; others are ours)."""
        return str(self.value)

    @property
    def description(self) -> str:
        return _INFO[self].description

    @property
    def data_error(self) -> bool:
        """A Table 5.10-style data error: never counts towards Five Retries [S3]."""
        return _INFO[self].data_error

    @property
    def pre_work(self) -> bool:
        """A failure of the dormant 4.26 firmware/configuration work, not a migration attempt."""
        return _INFO[self].pre_work

    @property
    def dco_step(self) -> str:
        """The DCO validation step that gives this reason, or "" (not a DCO check)."""
        return _INFO[self].dco_step

    @property
    def check(self) -> tuple[str, str]:
        """Where a record check that gives this reason belongs, as (history step, label):
        the DCO step for an MGF validation (V525 is TMAD 5.25, step 15.6.4), else Table 5.10."""
        step = _INFO[self].dco_step
        return (step, f"DCO {step}") if step else ("5.10", "Table 5.10")

    @property
    def scf_code(self) -> str:
        """The SCF ``ReasonCode`` spelling: the member name for a DCO validation failure
        (``docs/migration-files.md`` §2), the code otherwise (``MA112``, ``S1KR01``, ...)."""
        return self.name if self.dco_step else self.code

    def __str__(self) -> str:
        return f"{self.code} ({self.description})"


_INFO: dict[Reason, _Info] = {
    Reason.MA112: _Info("no WAN communication with the CHF in the previous 7 days (TMAD 5.12(c))"),
    Reason.GT01: _Info("no HAN communication between the CHF and the GSME in the previous 72 h"),
    # TMAD 5.25 is MGF validation (Tables 15.6/15.7), not a Table 5.10 check [S1], so it is
    # not marked as a data error: repeated failures count towards Five Retries.
    Reason.PREVIOUS_APN_MISSING: _Info(
        "PreviousAPN missing: rollback would be impossible (TMAD 5.25)", dco_step="15.6.4"
    ),
    Reason.COS_IN_WINDOW: _Info(
        "change of supply inside the change-of-supply window (Table 5.10; 14 days for FOC)",
        data_error=True,
    ),
    Reason.DUPLICATE_GUID: _Info(
        "two devices carry the same GUID (EUI-64) (data issue, TMAD 18.12 in Various 2)",
        data_error=True,
    ),
    Reason.DUPLICATE_MPXN: _Info(
        "the MPAN/MPRN appears in more than one installation (TMAD 4.1C / 18.13 in Various 2)",
        data_error=True,
    ),
    Reason.SUPPLIER_UNKNOWN: _Info(
        "the Responsible Supplier cannot be identified (data issue, TMAD 18.12 in Various 2)",
        data_error=True,
    ),
    Reason.NO_PREPAYMENT_KEY: _Info(
        "prepayment meter without a prepayment key (data issue, TMAD 18.12 in Various 2)",
        data_error=True,
    ),
    # Our call: a change-of-supply check of the same family as the Table 5.10 CoS check, and a
    # refusal rather than a technical failure, so it is a data error (it never counts towards
    # Five Retries) [S1] [INF].
    Reason.SPLIT_SUPPLY_ON_COS: _Info(
        "split supply on a change of supplier, and not both fuels Recently Dormant",
        data_error=True,
    ),
    Reason.MASTER_KEY_WRONG: _Info("the CHF rejected the Master Key: key rotation impossible"),
    Reason.MASTER_KEY_MISSING: _Info("no Master Key in the MGF: key rotation impossible"),
    Reason.CERT_MISMATCH: _Info(
        "the CHF's TLS certificate is not the MGF's DeviceCertificate"
    ),
    Reason.KEY_ROTATION_FAILED: _Info("key rotation at the CHF failed"),
    Reason.CERT_SWAP_FAILED: _Info("replacing the SMSO certificates with the S1SP's failed"),
    Reason.SIM_MOVE_FAILED: _Info("moving the CHF SIM to the DCC APN failed"),
    Reason.RECONNECT_TIMEOUT: _Info(
        "the CHF did not reconnect after the SIM move within the Device Installation timeout"
    ),
    Reason.S1SP_TIMEOUT: _Info(
        "Device Installation took longer than the GroupID's timeout (profiles/cohorts.yaml)"
    ),
    Reason.HAN_CHECK_FAILED: _Info("establishing or verifying the HAN devices failed"),
    Reason.FIRMWARE_FAILED: _Info(
        "a 4.26 firmware-upgrade instruction failed (36 attempts over 6 days)", pre_work=True
    ),
    Reason.CONFIGURATION_FAILED: _Info(
        "a 4.26 configuration instruction failed (23 attempts over 3 days)", pre_work=True
    ),
    Reason.PRE_WORK_NO_WAN: _Info(
        "a 4.26 firmware/configuration instruction failed for lack of WAN", pre_work=True
    ),
    Reason.FIRMWARE_NOT_ATTEMPTABLE: _Info(
        "DCC is unable to attempt the firmware upgrade", pre_work=True
    ),
    Reason.NOT_ON_EPCL: _Info("the DMC matches no EPCL entry: never scheduled"),
    Reason.EXCLUDED: _Info("the installation is in an Excluded Category (TMAD clause 18)"),
    # The DCO's MGF validation (Tables 15.6/15.7 style). Not data errors: as before they had a
    # reason of their own, repeated failures count towards Five Retries.
    Reason.SCHEMA_INVALID: _Info(
        "the file is not well-formed XML or does not match the MGF schema", dco_step="15.6.1"
    ),
    Reason.GROUP_ID_UNKNOWN: _Info("the file's GroupID is not known", dco_step="15.6.2"),
    Reason.GROUP_MISMATCH: _Info(
        "the installation's GroupID differs from the file's", dco_step="15.6.2"
    ),
    Reason.CERT_UNPARSABLE: _Info(
        "the DeviceCertificate is not a DER X.509 certificate", dco_step="15.6.3"
    ),
    Reason.CERT_UNTRUSTED: _Info(
        "the DeviceCertificate was not issued by the device CA", dco_step="15.6.3"
    ),
    Reason.CERT_NOT_CHF: _Info(
        "the DeviceCertificate is not a CHF server certificate", dco_step="15.6.3"
    ),
    Reason.CERT_EUI_MISMATCH: _Info(
        "the DeviceCertificate is for another CHF", dco_step="15.6.3"
    ),
    Reason.CERT_NOT_VALID_NOW: _Info(
        "the DeviceCertificate is not valid now", dco_step="15.6.3"
    ),
    Reason.MASTER_KEY_UNDECRYPTABLE: _Info(
        "EncryptedMasterKey does not decrypt with the DCO key", dco_step="15.7.1"
    ),
    Reason.MASTER_KEY_INVALID: _Info(
        "the Master Key does not decrypt to 16 bytes", dco_step="15.7.1"
    ),
    Reason.GROUP_INFO_UNDECRYPTABLE: _Info(
        "EncryptedS1SPGroupInformation does not decrypt with the DCO key", dco_step="15.7.1"
    ),
    Reason.DUPLICATE_CHF_EUI: _Info("the CHF EUI appears twice in the file", dco_step="15.7.2"),
    Reason.DUPLICATE_INSTALLATION_ID: _Info(
        "the InstallationID appears twice in the file", dco_step="15.7.2"
    ),
    Reason.PREPAYMENT_KEY_UNDECRYPTABLE: _Info(
        "EncryptedPrepaymentKey does not decrypt with the DCO key to 16 bytes",
        dco_step="15.7.1"
    ),
}

