"""Requests to addresses customers give (webhook endpoints, CalDAV servers, ICS feeds): which targets are
allowed, checked again at connect time and on every redirect."""
