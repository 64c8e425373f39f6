"""Receiving platform push notifications: authenticate, mark the calendar due, answer fast (`receiver`); keep
what could not be recorded while the database was unreachable (`missed`); and catch up after any time in which
notifications may have been refused (`catchup`, driven by `upkeep` in every process that serves the API)."""
