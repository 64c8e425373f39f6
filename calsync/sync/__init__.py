"""Per-calendar sync: run a provider, diff against stored events, apply in batches, record the outcome."""
