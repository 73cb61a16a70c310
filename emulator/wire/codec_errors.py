"""What decoding or encoding with a construct declaration may raise on bad input.

Each wire module catches these once and turns them into ``MalformedFrame`` with a path.
Compiled construct raises ``struct.error`` (and ``ValueError``, ``KeyError``...) on short or
out-of-range input, not only ``ConstructError``.
"""

from __future__ import annotations

import struct

from construct import ConstructError

CODEC_ERRORS: tuple[type[Exception], ...] = (
    ConstructError, struct.error, ValueError, TypeError, KeyError, IndexError, OverflowError,
)
