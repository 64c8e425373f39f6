"""The core's hooks (calsync.hooks) and the composition root's registration of the features (calsync.runtime)."""

from __future__ import annotations

from typing import Any

from calsync.hooks import Hooks
from calsync.runtime import FEATURES, build_context
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.sync.hooks import CalendarDeleted, CalendarDeleting, PageWritten


class _Happened:
    pass


async def test_subscribers_run_in_order_and_all_of_them_whatever_one_returns() -> None:
    hooks = Hooks()
    calls: list[str] = []

    def subscriber(name: str, wake: bool) -> Any:
        async def hear(session: object, event: _Happened) -> bool:
            calls.append(name)
            return wake

        return hear

    hooks.subscribe(_Happened, subscriber("first", True))
    hooks.subscribe(_Happened, subscriber("second", False))
    assert await hooks.publish(None, _Happened()) is True  # type: ignore[arg-type]
    assert calls == ["first", "second"]
    assert await Hooks().publish(None, _Happened()) is False, "no subscriber: nothing to wake"  # type: ignore[arg-type]


async def test_the_root_subscribes_the_features_in_its_order() -> None:
    # Hosted connect comes last: it subscribes to nothing and adds pages of its own.
    assert [feature.name for feature in FEATURES] == ["webhooks", "bots", "meetings", "connect"]
    settings = Settings(encryption_keys=generate_key(), database_url="sqlite+aiosqlite:///:memory:")
    context = build_context(settings)
    try:
        owners = {
            event: [subscriber.__module__ for subscriber in context.hooks.subscribers(event)]
            for event in (PageWritten, CalendarDeleting, CalendarDeleted)
        }
    finally:
        await context.aclose()
    # A page's webhook, then its bots, then its meetings: the lock order of docs/architecture.md.
    assert owners[PageWritten] == ["calsync.webhooks.feature", "calsync.bots.feature", "calsync.meetings.feature"]
    # The meetings say which bots another copy takes over before the bots are cancelled.
    assert owners[CalendarDeleting] == ["calsync.meetings.feature"]
    assert owners[CalendarDeleted] == ["calsync.bots.feature", "calsync.meetings.feature"]
