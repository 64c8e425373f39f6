"""The user's specification (shared/seed/create-calendar.txt), verbatim."""

SEED_REQUEST = {
    "client_id": "123456789-abcdefghijklmnopqrstuvwxyz.apps.googleusercontent.com",
    "client_secret": "GOCSPX-abcdefghijklmnopqrstuvwxyz",
    "refresh_token": "1//04abcdefghijklmnopqrstuvwxyz",
    "platform": "google",
    "metadata": {"tenant_id": "1234567890"},
    "deduplication_key": "user-abcd",
}

SEED_RESPONSE_KEYS = [
    "id",
    "platform",
    "state",
    "metadata",
    "deduplication_key",
    "connection_failure_data",
    "created_at",
    "updated_at",
]
