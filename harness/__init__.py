"""The other side and the test machinery: head-end roles, migration, demo, CLI.

    from harness import HeadEnd, connect, run_migration, MigrateConfig
"""

from harness.demo import DemoConfig, run_demo
from harness.headend import HeadEnd, HeadEndSession, Poller, connect
from harness.migration.run import MigrateConfig, run_migration
from harness.migration.s1sp import S1sp

__all__ = [
    "DemoConfig",
    "HeadEnd",
    "HeadEndSession",
    "MigrateConfig",
    "Poller",
    "S1sp",
    "connect",
    "run_demo",
    "run_migration",
]
