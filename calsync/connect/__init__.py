"""Hosted connect (docs/connect.md): calsync runs the platform's OAuth consent flow for an application's end user
and creates (or reconnects) the calendar itself. `settings_store` (the project's OAuth apps and return URLs),
`sessions` (connect sessions), `oauth` (the authorization-code flow, through authlib), `browser` (the signed cookie
binding a session to one browser, CSRF), `finish` (the calendar and the session's end), `pages` + `app` (the hosted
pages at /connect), `schemas` (the API's bodies)."""
