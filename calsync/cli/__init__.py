"""The `calsync` command (`calsync.cli:app`): each module registers its commands on the app of `common`, in the
order of `calsync --help` (the long-running commands first)."""

# The import order is the order of the commands in `calsync --help`.
from calsync.cli import serve  # noqa: I001
from calsync.cli import admin, calendars, connect, projects, webhooks
from calsync.cli.common import app

__all__ = ["admin", "app", "calendars", "connect", "projects", "serve", "webhooks"]
