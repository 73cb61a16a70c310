"""Evidence files: TLS key logs, synthesized TCP/IP for in-memory WAN links, and the one
pcapng per run (WAN and HAN, with the TLS secrets inside)."""
