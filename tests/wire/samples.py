"""Payload samples shared by the HAN tests (wire, crypto, capture)."""

from __future__ import annotations

# An SE 1.1 Publish Price (Price cluster 0x0700), fields as se_clusters declares them.
PUBLISH_PRICE = {
    "provider_id": 0x00000001,
    "rate_label": b"Standard",
    "issuer_event_id": 0x10,
    "current_time": 820_454_400,
    "unit_of_measure": 0,
    "currency": 826,
    "trailing_digit_and_price_tier": 0x21,
    "number_of_price_tiers_and_register_tier": 0x11,
    "start_time": 0,
    "duration_in_minutes": 0xFFFF,
    "price": 2873,
    "price_ratio": 0xFF,
    "generation_price": 0xFFFFFFFF,
    "generation_price_ratio": 0xFF,
    "alternate_cost_delivered": 0xFFFFFFFF,
    "alternate_cost_unit": 0xFF,
    "alternate_cost_trailing_digit": 0xFF,
    "number_of_block_thresholds": 0,
    "price_control": 0,
}
