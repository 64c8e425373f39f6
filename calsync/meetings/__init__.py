"""Meetings: one real meeting as seen on a project's calendars, the rules that give it a bot, and why (docs/bots.md)."""
