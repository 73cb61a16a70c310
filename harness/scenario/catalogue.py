"""TEMPORARY STAND-IN (s9-campaign only): see harness/scenario/standin_s9campaign.py."""

from harness.scenario.standin_s9campaign import load_catalogue

__all__ = ["load_catalogue"]
