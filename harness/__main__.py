"""``python -m harness`` is ``s1lab``."""

from harness.cli import main

main()
