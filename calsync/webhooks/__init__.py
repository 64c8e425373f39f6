"""Outbound customer webhooks: payloads, signatures, SSRF vetting, one-attempt delivery and retry timing.

Everything here is storage-independent; the outbox worker (calsync.worker) drives it.
"""
