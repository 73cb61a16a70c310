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

#: What a hand-written fast path (before the construct path) may raise on input it does not
#: handle: the codec errors, and AttributeError for a value of the wrong type. The construct
#: path then decides and words the error; nothing else is swallowed.
FAST_PATH_ERRORS: tuple[type[Exception], ...] = (*CODEC_ERRORS, AttributeError)
