"""Where calsync finds each platform when it talks to an emulator at `base_url`."""

from __future__ import annotations


def calsync_settings_env(base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "CALSYNC_GOOGLE_OAUTH_TOKEN_URL": f"{base}/google/token",
        "CALSYNC_GOOGLE_OAUTH_AUTHORIZE_URL": f"{base}/google/auth",
        "CALSYNC_GOOGLE_API_URL": f"{base}/google/calendar/v3",
        "CALSYNC_MICROSOFT_LOGIN_URL": f"{base}/microsoft/login",
        "CALSYNC_MICROSOFT_GRAPH_URL": f"{base}/microsoft/graph/v1.0",
    }
