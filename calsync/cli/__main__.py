"""`python -m calsync.cli`."""

from calsync.cli import app

app()
