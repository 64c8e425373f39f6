"""Web pieces the API and the dashboard share: error responses, cursor pagination, rate limits, and what any
request may contain (text, 64-bit ids, datetimes)."""
