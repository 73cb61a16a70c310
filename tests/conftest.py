"""Suite-wide settings.

Hypothesis runs derandomized and without per-example deadlines: the same examples every run,
so CI on a slow or busy machine cannot fail by chance (explore with
``pytest --hypothesis-seed=random`` or ``HYPOTHESIS_PROFILE=explore``).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
