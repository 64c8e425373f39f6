"""Outbound customer webhooks.

Storage-independent pieces: payloads, signing, SSRF vetting, one-attempt sender, retry timing. Over the store:
the outbox (`outbox.enqueue_calendar_webhook`, called by the sync engine), the delivery worker (`claims`,
`delivery_loop`), subscription health, signing secrets, and the queries behind the API and the CLI.
"""
