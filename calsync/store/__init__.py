"""Storage: SQLAlchemy models, Alembic migrations and the queries the rest of calsync uses."""
