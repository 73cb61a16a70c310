"""The other side and the test machinery: head-end roles, CLI, scenarios."""
