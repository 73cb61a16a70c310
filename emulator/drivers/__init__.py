"""The only asyncio in emulator/: clocks, scheduler, links, TLS, TCP."""
