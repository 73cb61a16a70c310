"""The short names of the testable behaviours, by their number in ../shared/domain.md §8.

Reports show coverage against this list, so a behaviour no case checks shows as a gap.
"""

from __future__ import annotations

BEHAVIOURS: dict[int, str] = {
    1: "SMSO lock-out",
    2: "Rollback restores the SMSO",
    3: "PreviousAPN is mandatory in practice",
    4: "Master Key dependency",
    5: "GT01",
    6: "GT01 partial migration",
    7: "MA112",
    8: "S1SP timeout by GroupID",
    9: "CoS window",
    10: "Five-retry exclusion",
    11: "Dormant pre-work schedule",
    12: "MOC (MDS) partial migration",
    13: "Duplicate MPxN",
    14: "Duplicate GUID / missing prepay key / unknown supplier",
    15: "Ceased-trading / non-live supplier",
    16: "Split supply on CoS",
    17: "EPCL gate",
    18: "Clause versioning",
    19: "HAN whitelist join",
    20: "Sleepy GSME",
    21: "NWK security",
    22: "OTA",
    23: "Time",
    24: "DUIS hygiene at the DCC edge",
    25: "Prepayment",
    26: "Post-migration gas meter swap",
    27: "Observability",
    28: "Fleet scale",
}


def behaviour_name(number: int) -> str:
    return BEHAVIOURS.get(number, "(not in domain.md §8)")
