"""Microsoft Graph JSON for the user, calendars, events and subscriptions (reference C.1, C.4, C.5)."""

from __future__ import annotations

import hashlib
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from calsync_emulator.model import Account, Calendar, Event, EventKind, GraphSubscription, Instance
from calsync_emulator.timeutil import TimeValue, fmt_graph_datetime, fmt_graph_timestamp, to_datetime, zone
from calsync_emulator.views import Row

_RESPONSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentativelyAccepted", "needsAction": "none"}


def change_key(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()[:22]


def user(account: Account, context: str) -> dict[str, Any]:
    given, _, surname = account.display_name.partition(" ")
    return {
        "@odata.context": f"{context}/$metadata#users/$entity",
        "businessPhones": [],
        "displayName": account.display_name,
        "givenName": given,
        "jobTitle": None,
        "mail": account.email,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": surname or None,
        "userPrincipalName": account.email,
        "id": account.user_id,
    }


def calendar(cal: Calendar, account: Account) -> dict[str, Any]:
    return {
        "id": cal.id,
        "name": cal.name,
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": cal.primary,
        "changeKey": change_key(cal.id, cal.name),
        "canShare": True,
        "canViewPrivateItems": True,
        "canEdit": True,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": True,
        "isRemovable": not cal.primary,
        "owner": {"name": account.display_name, "address": account.email},
    }


def removed(event_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}


def _time(value: TimeValue, out_tz: tzinfo, out_tz_name: str, event_tz: tzinfo) -> dict[str, str]:
    if isinstance(value, datetime):
        return {"dateTime": fmt_graph_datetime(value, out_tz), "timeZone": out_tz_name}
    # all-day boundaries stay at midnight of their date whatever zone is asked for
    return {"dateTime": fmt_graph_datetime(to_datetime(value, event_tz), event_tz), "timeZone": out_tz_name}


def event(account: Account, cal: Calendar, row: Row, out_tz_name: str) -> dict[str, Any]:
    source = row.master if isinstance(row, Instance) else row
    out_tz = zone(out_tz_name)
    event_tz = zone(source.time_zone)
    master_id: str | None
    original: TimeValue | None
    if isinstance(row, Instance):
        kind, master_id, original = "occurrence", row.master.id, row.start
    elif row.kind is EventKind.OVERRIDE:
        kind, master_id, original = "exception", row.master_id, row.original_start
    elif row.kind is EventKind.MASTER:
        kind, master_id, original = "seriesMaster", None, None
    else:
        kind, master_id, original = "singleInstance", None, None
    key = change_key(row.id, source.seq)
    organizer = source.organizer_email or account.email
    url = source.meeting_url
    teams = url is not None and "teams." in url
    join = f'<p><a href="{url}">Join</a></p>' if url and not teams else ""
    body_html = f"<html><body>{source.description}{join}</body></html>"
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{key}"',
        "id": row.id,
        "createdDateTime": fmt_graph_timestamp(source.created),
        "lastModifiedDateTime": fmt_graph_timestamp(source.updated),
        "changeKey": key,
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": source.time_zone,
        "originalEndTimeZone": source.time_zone,
        "iCalUId": source.uid if kind == "singleInstance" else change_key(source.uid, row.id),
        "uid": source.uid,
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": source.summary,
        "bodyPreview": source.description[:255],
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": source.all_day,
        "isCancelled": source.ms_cancelled,
        "isOrganizer": organizer == account.email,
        "responseRequested": True,
        "seriesMasterId": master_id,
        "showAs": source.show_as,
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={quote(row.id, safe='')}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": url is not None,
        "onlineMeetingProvider": ("teamsForBusiness" if teams else "unknown") if url else "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {
            "response": "organizer" if organizer == account.email else "none",
            "time": "0001-01-01T00:00:00Z",
        },
        "body": {"contentType": "html", "content": body_html},
        "start": _time(row.start, out_tz, out_tz_name, event_tz),
        "end": _time(row.end, out_tz, out_tz_name, event_tz),
        "location": {
            "displayName": source.location,
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        },
        "locations": [{"displayName": source.location, "locationType": "default", "uniqueIdType": "unknown"}]
        if source.location
        else [],
        "recurrence": _recurrence(source) if kind == "seriesMaster" else None,
        "attendees": [
            {
                "type": "optional" if a.optional else "required",
                "status": {"response": _RESPONSES.get(a.response, "none"), "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": a.name or a.email, "address": a.email},
            }
            for a in source.attendees
        ],
        "organizer": {"emailAddress": {"name": source.organizer_name or organizer, "address": organizer}},
        "onlineMeeting": {"joinUrl": url} if url else None,
    }
    if original is not None:
        out["originalStart"] = fmt_graph_timestamp(to_datetime(original, event_tz))
    return out


def _recurrence(master: Event) -> dict[str, Any]:
    # Graph's patternedRecurrence is not an RRULE; the emulator keeps the RRULE text alongside
    return {"pattern": {"type": "custom", "rrule": list(master.recurrence)}, "range": {"type": "noEnd"}}


def subscription(sub: GraphSubscription, account: Account) -> dict[str, Any]:
    return {
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.client_id,
        "changeType": ",".join(sorted(sub.change_types)),
        "clientState": sub.client_state,
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": sub.lifecycle_url,
        "expirationDateTime": fmt_graph_timestamp(sub.expiration),
        "creatorId": account.user_id,
        "includeResourceData": False,
        "latestSupportedTlsVersion": sub.tls_version,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
        "notificationContentType": None,
    }
