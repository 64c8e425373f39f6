"""The HTTP API: Attendee-compatible calendars and events, webhooks, platform push receivers, health."""
