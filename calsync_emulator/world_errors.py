"""What a change to the emulated world can be refused with; app.py turns them into the control API's 404 and 409."""

from __future__ import annotations


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass
