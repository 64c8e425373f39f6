"""All tables. Importing this package registers every model on `Base.metadata` (Alembic needs that)."""

from calsync.store.models.api_key import ApiKey
from calsync.store.models.base import Base
from calsync.store.models.bot import Bot, BotState
from calsync.store.models.calendar import Calendar, CalendarState
from calsync.store.models.channel import PushChannel
from calsync.store.models.connect import ConnectSession, ConnectSettings
from calsync.store.models.event import CalendarEvent
from calsync.store.models.meeting import BotRule, Meeting, MeetingEvaluation, MeetingScanCursor, SeriesOverride
from calsync.store.models.project import Project
from calsync.store.models.throttle import OAuthClientThrottle
from calsync.store.models.webhook import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookSecret,
    WebhookSubscription,
)

__all__ = [
    "ApiKey",
    "Base",
    "Bot",
    "BotRule",
    "BotState",
    "Calendar",
    "CalendarEvent",
    "CalendarState",
    "ConnectSession",
    "ConnectSettings",
    "Meeting",
    "MeetingEvaluation",
    "MeetingScanCursor",
    "OAuthClientThrottle",
    "Project",
    "PushChannel",
    "SeriesOverride",
]
__all__ += ["DeliveryStatus", "WebhookDelivery", "WebhookDeliveryAttempt", "WebhookSecret", "WebhookSubscription"]
