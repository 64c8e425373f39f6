"""The loops that claim due work from the database: syncs, channel renewals, webhook deliveries."""
