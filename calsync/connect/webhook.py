"""`connect_session.completed` and `connect_session.failed`: the application's server learns how a session ended
even when the browser never comes back. Queued through the outbox in the transaction that ends the session."""

from __future__ import annotations

from calsync.connect.sessions import session_json
from calsync.store.models import Calendar, ConnectSession
from calsync.webhooks.outbox import Outgoing
from calsync.webhooks.payloads import CONNECT_COMPLETED, CONNECT_FAILED


def completed(row: ConnectSession, calendar: Calendar) -> Outgoing:
    return Outgoing(
        trigger=CONNECT_COMPLETED,
        data={"connect_session": session_json(row)},
        calendar_id=calendar.id,
        calendar_object_id=calendar.object_id,
    )


def failed(row: ConnectSession) -> Outgoing:
    return Outgoing(trigger=CONNECT_FAILED, data={"connect_session": session_json(row)})
