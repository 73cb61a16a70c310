"""Emulated SMETS1 installations: wire formats, sans-IO device cores and drivers."""
