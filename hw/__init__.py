"""Bridges to real hardware (serial ports, network adapters)."""
