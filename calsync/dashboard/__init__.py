"""The operators' web dashboard, served by calsync itself at /dashboard (docs/dashboard.md)."""
