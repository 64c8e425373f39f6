"""Every setting of calsync, read from `CALSYNC_*` environment variables (documented in the README)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GOOGLE_OAUTH_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_OAUTH_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_API_URL = "https://www.googleapis.com/calendar/v3"
MICROSOFT_LOGIN_URL = "https://login.microsoftonline.com"
MICROSOFT_GRAPH_URL = "https://graph.microsoft.com/v1.0"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALSYNC_", extra="ignore")

    # Storage
    data_dir: Path = Field(default=Path(".calsync"), description="Where the embedded database and keys live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default is SQLite in the data directory."
    )
    # A pooler between calsync and PostgreSQL (docs/deployment.md, "A connection pooler"): "pgbouncer" in transaction
    # pooling mode, where a server connection serves another client after each transaction, so nothing may outlive
    # one (prepared statements are named uniquely and not cached). LISTEN and migrations need a session of their own:
    # they use `database_direct_url`, the server itself, which this mode requires.
    database_pooler: Literal["none", "pgbouncer"] = "none"
    database_direct_url: str | None = Field(
        default=None, description="PostgreSQL itself, for LISTEN and migrations when database_url is a pooler."
    )
    # PostgreSQL connections per process: kept open, extra under load, and how long to wait for a free one.
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=5, ge=0)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    # serve/api/worker started while the database is unreachable wait this long for it before giving up.
    startup_database_wait_seconds: float = Field(default=300.0, ge=0)

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        default=None, description="Public base URL of this service; enables platform push channels."
    )
    max_body_bytes: int = 1_048_576

    # Secrets: comma-separated Fernet keys, the first encrypts, all decrypt (rotation).
    encryption_keys: str | None = None

    # Logs
    log_level: str = "INFO"
    log_format: str = Field(default="console", description="console or json")
    access_log: bool = Field(default=False, description="Log every HTTP request (method, path, status).")
    # Metrics: `GET /metrics` asks for `Authorization: Bearer <token>` when set; a worker serves its own metrics
    # on this port (127.0.0.1 by default: CALSYNC_HOST) when set.
    metrics_token: str | None = None
    worker_metrics_port: int | None = None
    # A worker's CPU per loop (calsync.worker.loop_cpu): a clock read per task step, so off unless asked for.
    worker_loop_cpu_metrics: bool = False

    # Rate limits
    calendar_create_rate_per_minute: int = 3000
    # Failed dashboard sign-ins per minute, per client address and per key prefix (docs/dashboard.md).
    dashboard_sign_in_failures_per_minute: int = Field(default=10, ge=1)
    disable_rate_limiting: bool = False
    # Hosted connect (docs/connect.md): how long a session's link lives, sessions created per project per minute,
    # and platform callbacks per client address per minute.
    connect_session_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    connect_session_rate_per_minute: int = Field(default=600, ge=1)
    connect_callback_rate_per_minute: int = Field(default=60, ge=1)

    # Platform endpoints (point these at `calsync emulator` for offline work)
    google_oauth_token_url: str = GOOGLE_OAUTH_TOKEN_URL
    google_oauth_authorize_url: str = GOOGLE_OAUTH_AUTHORIZE_URL
    google_api_url: str = GOOGLE_API_URL
    microsoft_login_url: str = MICROSOFT_LOGIN_URL
    microsoft_graph_url: str = MICROSOFT_GRAPH_URL
    provider_timeout_seconds: float = 25.0
    # User-named servers (CalDAV, iCloud, ICS feeds) pass the SSRF guard: private addresses and plain http are
    # refused unless allowed here (a self-hosted Radicale or Nextcloud on a LAN, local tests).
    provider_allow_private_targets: bool = False
    provider_allow_http: bool = False
    ics_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    caldav_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Syncs of one CalDAV account (or of feeds on one ICS host) that may run at once: politeness per server.
    caldav_account_concurrency: int = Field(default=2, ge=1)

    # Sync
    sync_window_past_days: int = 1
    sync_window_future_days: int = 28
    sync_debounce_seconds: float = 1.0
    sync_fallback_interval_seconds: float = 900.0
    full_reconcile_interval_hours: float = 24.0
    worker_concurrency: int = 16
    worker_poll_interval_seconds: float = 5.0
    lease_seconds: float = 120.0
    # With a healthy push channel and no meeting coming up, a calendar is still checked this often: the bound on
    # staleness when every notification is lost (docs/sync.md, "Checks by need"). At most 12 h, so that every
    # channel (renewed when less than a day is left) is renewed by a check in time.
    push_safety_net_seconds: float = Field(default=21600.0, gt=0, le=43200.0)
    # A calendar with an upcoming meeting (an event with a meeting URL) is checked, with a fresh access token,
    # between these two lead times before the meeting's dispatch (its start less `bot_dispatch_lead_seconds`): a
    # grant revoked before the window opens disconnects the calendar, and so pauses its bots, before dispatch.
    meeting_check_window_seconds: float = Field(default=600.0, gt=0, le=3600.0)
    meeting_check_slack_seconds: float = Field(default=120.0, ge=0, le=1800.0)
    # A push receiver (api/serve process) checks the database this often; when it could not for longer than
    # the gap, notifications may have been refused meanwhile and calendars with channels get a catch-up sync.
    push_heartbeat_seconds: float = Field(default=5.0, gt=0)
    push_catchup_gap_seconds: float = Field(default=15.0, gt=0)

    # Customer webhooks
    webhook_allow_http: bool = False
    webhook_allow_private_targets: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_retry_horizon_hours: float = 24.0

    # Bots (docs/bots.md): how long before its join time the runner is told to launch a bot (a bot may set its
    # own), and how far a dispatched bot's meeting must move into the future for the bot to stand down (back to
    # scheduled, dispatched again in time) rather than wait in the meeting's place with the new join time.
    bot_dispatch_lead_seconds: int = Field(default=120, ge=0, le=3600)
    bot_stand_down_seconds: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _meeting_check_window_is_open(self) -> Settings:
        if self.meeting_check_slack_seconds >= self.meeting_check_window_seconds:
            raise ValueError("meeting_check_slack_seconds must be less than meeting_check_window_seconds")
        return self

    @model_validator(mode="after")
    def _pooler_has_a_direct_url(self) -> Settings:
        if self.database_pooler != "none" and not self.database_direct_url:
            raise ValueError(
                "database_pooler needs database_direct_url (PostgreSQL itself): LISTEN and migrations cannot run "
                "through a transaction-pooling pooler"
            )
        return self

    @property
    def direct_database_url(self) -> str:
        """The server itself: for LISTEN and migrations, which a transaction-pooling pooler cannot carry."""
        return self.database_direct_url or self.resolved_database_url

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'calsync.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
