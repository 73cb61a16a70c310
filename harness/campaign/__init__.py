"""Campaigns: a matrix of DMCs x test cases, run in parallel on this machine or a Dask cluster,
each result stored as it completes so a killed campaign resumes where it stopped."""

from harness.campaign.diff import CampaignDiff, diff_campaigns
from harness.campaign.matrix import Cell, Plan, expand
from harness.campaign.run import CampaignSummary, run_campaign
from harness.campaign.spec import Campaign, list_campaigns, load_campaign, parse_campaign
from harness.campaign.store import STORE_NAME, Store

__all__ = [
    "STORE_NAME",
    "Campaign",
    "CampaignDiff",
    "CampaignSummary",
    "Cell",
    "Plan",
    "Store",
    "diff_campaigns",
    "expand",
    "list_campaigns",
    "load_campaign",
    "parse_campaign",
    "run_campaign",
]
