"""Meeting bots tied to calendar events (docs/bots.md).

calsync does not join meetings: it decides when and whether, and tells the application's bot runner by signed
webhook. `rules` is the state machine (pure functions); `lifecycle` applies it to stored bots inside the
transactions that change their events and calendars, writing the `bot.*` webhooks to the outbox; `dispatch` is
the work loop that dispatches due bots; `queries` and `payloads` serve the API (calsync/api/routes/bots.py).
"""
