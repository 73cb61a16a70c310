"""Sans-IO device state machines: (input, now) -> (output, events, next deadline)."""
