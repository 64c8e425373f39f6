"""The meetings and bot-rules pages of the dashboard (calsync.meetings on screen), added through the extension point.

`extension` is what the dashboard sees (navigation, routes, an event's meeting on the event page, a calendar's
meetings link); `pages` are the meetings list, a meeting's page with its override buttons, the rules list and a
rule's page; `views` turns stored meetings and rules into words; `queries` are the few reads the API has no use for.
Other reads go through calsync.meetings.queries and rule_store, the one action through
calsync.meetings.overrides, exactly as the API's routes do: calsync.meetings never imports the dashboard.
"""
