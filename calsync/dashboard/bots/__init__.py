"""The bots pages of the dashboard (calsync.bots on screen), added through the extension point.

`extension` is what the dashboard sees (navigation, routes, the overview's "bots due in the next hour", the bots
of a calendar and of its events); `pages` are the bots list with its timeline, a bot's page and the Cancel action;
`views` turns stored bots into what the templates show. Reads go through calsync.bots.queries, the one action
through calsync.bots.lifecycle, exactly as the API's routes do: the dashboard never writes a bot itself.
"""
