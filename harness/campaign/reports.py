"""A campaign's reports (JUnit, HTML, JSON in its results folder), rebuilt from its store.

Never from memory: the store holds every finished cell, so a resumed campaign's reports are
those of an uninterrupted run with the same seed (wall times and the start time aside).
"""

from __future__ import annotations

import socket
from pathlib import Path

from harness.campaign.store import Store
from harness.report import CampaignInfo, write_reports


def campaign_info(store: Store) -> CampaignInfo:
    """The campaign as the reports describe it: matrix order from the plan in the store."""
    meta = store.meta()
    cells = store.cells()
    return CampaignInfo(
        name=meta["name"], seed=int(meta["seed"]), started=meta["created"],
        hostname=socket.gethostname() or "localhost",
        dmcs=tuple(dict.fromkeys(c.dmc for c in cells)),
        cases=tuple(dict.fromkeys(c.case_id for c in cells)),
    )


def rebuild_reports(store: Store, out: Path) -> dict[str, Path]:
    """Write the reports of every stored result into ``out``; kind -> path."""
    return write_reports(store.results(), out, campaign_info(store))
