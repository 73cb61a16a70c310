"""The shipped test-case catalogue (YAML data files; see docs/scenarios.md)."""
