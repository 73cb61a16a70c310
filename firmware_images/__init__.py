"""Synthetic OTA firmware images and their manifest."""
