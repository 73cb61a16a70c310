"""Option types the command-line modules share."""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloat(click.FloatRange):
    """A float option in a range that refuses NaN and infinities (NaN compares false with every
    bound, so a plain FloatRange lets it through)."""

    name = "finite number"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        number = float(super().convert(value, param, ctx))
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


TIMEOUT = FiniteFloat(0, 86_400, min_open=True)  # seconds
WAIT = FiniteFloat(0, 86_400)  # seconds
