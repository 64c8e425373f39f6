"""Platform clients (Google Calendar, Microsoft Graph) behind one small interface (`base.CalendarProvider`)."""
