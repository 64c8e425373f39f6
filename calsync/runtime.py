"""The composition root: the one place calsync is assembled from its core and its features.

`serve`, `api` and `worker` (calsync.cli), the tests and the benchmarks build the context, the HTTP app (with the
dashboard mounted) and the worker loops here. A feature is one entry of `FEATURES`: what it subscribes to in the
core (calsync.sync.hooks), its work loops, its API routers and its dashboard extensions. The order of `FEATURES` is
the order in which subscribers run inside the core's transactions (docs/architecture.md, "Lock order"): webhooks,
then bots, then meetings; hosted connect subscribes to nothing and adds its pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from calsync.api.app import create_app
from calsync.api.routes import bot_rule_settings, bot_rules
from calsync.api.routes import bots as bot_routes
from calsync.api.routes import meetings as meeting_routes
from calsync.api.routes import webhooks as webhook_routes
from calsync.api.routes.health import ScrapeGauges
from calsync.bots import feature as bots
from calsync.clock import Clock, system_clock
from calsync.connect import routes as connect_routes
from calsync.connect.app import mount_connect
from calsync.connect.dashboard import ConnectExtension
from calsync.context import AppContext
from calsync.dashboard.app import mount_dashboard
from calsync.dashboard.bots.extension import BotsExtension
from calsync.dashboard.extensions import DashboardExtension
from calsync.dashboard.meetings.extension import MeetingsExtension
from calsync.hooks import Hooks
from calsync.meetings import feature as meetings
from calsync.meetings import metrics as meeting_metrics
from calsync.settings import Settings
from calsync.webhooks import feature as webhooks
from calsync.worker.listener import PostgresListener
from calsync.worker.runner import WorkLoop
from calsync.worker.sync_loop import SyncLoop


def _no_extensions() -> list[DashboardExtension]:
    return []


@dataclass(frozen=True)
class Feature:
    name: str
    subscribe: Callable[[Hooks, Settings], None]
    # Its work loops; the sync loop is given for loops that give way to syncs.
    loops: Callable[[AppContext, SyncLoop], list[WorkLoop]]
    routers: tuple[APIRouter, ...] = ()
    # Made per app: an extension may hold per-app state.
    dashboard_extensions: Callable[[], list[DashboardExtension]] = _no_extensions
    # Pages of its own, mounted on the HTTP app beside the API (hosted connect's /connect).
    mount: Callable[[FastAPI, AppContext], None] | None = None
    # Gauges of its own that the api's /metrics refreshes from the database at each scrape.
    scrape_gauges: tuple[ScrapeGauges, ...] = ()


def _subscribes_to_nothing(_hooks: Hooks, _settings: Settings) -> None:
    return None


def _no_loops(_context: AppContext, _sync: SyncLoop) -> list[WorkLoop]:
    return []


FEATURES: tuple[Feature, ...] = (
    Feature("webhooks", webhooks.subscribe, webhooks.loops, routers=(webhook_routes.router,)),
    Feature(
        "bots", bots.subscribe, bots.loops, routers=(bot_routes.router,), dashboard_extensions=lambda: [BotsExtension()]
    ),
    Feature(
        "meetings",
        meetings.subscribe,
        meetings.loops,
        routers=(meeting_routes.router, bot_rules.router, bot_rule_settings.router),
        dashboard_extensions=lambda: [MeetingsExtension()],
        scrape_gauges=(meeting_metrics.refresh_gauges,),
    ),
    Feature(
        "connect",
        _subscribes_to_nothing,
        _no_loops,
        routers=(connect_routes.router,),
        dashboard_extensions=lambda: [ConnectExtension()],
        mount=mount_connect,
    ),
)


def build_context(
    settings: Settings, *, clock: Clock = system_clock, features: Sequence[Feature] = FEATURES
) -> AppContext:
    """The process's shared services, with the features subscribed to the core's hooks."""
    context = AppContext.from_settings(settings, clock=clock)
    for feature in features:
        feature.subscribe(context.hooks, settings)
    return context


def build_app(context: AppContext, features: Sequence[Feature] = FEATURES) -> FastAPI:
    """The HTTP API with the features' routers, and the operators' dashboard at /dashboard (docs/dashboard.md)."""
    app = create_app(
        context,
        [router for feature in features for router in feature.routers],
        scrape_gauges=[gauges for feature in features for gauges in feature.scrape_gauges],
    )
    mount_dashboard(app, context, [extension for feature in features for extension in feature.dashboard_extensions()])
    for feature in features:
        if feature.mount is not None:
            feature.mount(app, context)
    return app


def build_loops(context: AppContext, features: Sequence[Feature] = FEATURES) -> list[WorkLoop]:
    """The work loops of a worker process: syncs (and PostgreSQL's wake-ups), then each feature's."""
    sync = SyncLoop(context)
    loops: list[WorkLoop] = [sync]
    if not context.db.is_sqlite:
        # LISTEN needs a session of its own: the server itself, never a transaction-pooling pooler.
        loops.append(PostgresListener(context.settings.direct_database_url, context.work_signal))
    for feature in features:
        loops.extend(feature.loops(context, sync))
    return loops
