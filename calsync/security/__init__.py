"""Secrets at rest, API key hashing and constant-time comparisons."""
