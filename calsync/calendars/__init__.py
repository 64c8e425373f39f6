"""A calendar's lifecycle outside its syncs (deleting it), announced to the features through calsync.sync.hooks."""
