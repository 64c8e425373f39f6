"""UTCDateTime writes exactly the text SQLAlchemy's own SQLite DATETIME writes, so stored rows, filters and
orderings agree whichever path produced a value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from calsync.store.types import UTCDateTime

SQLITE = sqlite.dialect()
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
aware = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 30), timezones=offsets)


@given(aware)
def test_sqlite_text_is_sqlalchemys_datetime_text_of_the_utc_instant(value: datetime) -> None:
    ours = UTCDateTime().bind_processor(SQLITE)
    theirs = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert ours is not None and theirs is not None
    assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))


@given(aware, aware)
def test_sqlite_text_sorts_like_the_instants(a: datetime, b: datetime) -> None:
    process = UTCDateTime().bind_processor(SQLITE)
    assert process is not None
    assert (process(a) < process(b)) == (a < b)


@pytest.mark.parametrize("dialect", [SQLITE, postgresql.asyncpg.dialect()])
def test_naive_datetimes_are_refused_and_none_passes(dialect) -> None:
    process = UTCDateTime().bind_processor(dialect)
    assert process is not None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 1, 1))
    assert process(None) is None
