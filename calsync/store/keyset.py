"""Keyset (seek) pagination over (sort column, unique id): one index range per page, at any depth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.util.typing import TupleAny

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S", bound="Select[*TupleAny]")


@dataclass(frozen=True)
class SeekKey:
    value: datetime
    row_id: int


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    rows: list[T]
    next_key: SeekKey | None  # continue forward after this row
    previous_key: SeekKey | None  # page backwards before this row


def sqlite_unindexed(column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """`+column`: the same value (SQLite's unary plus is a no-op on any type), but a term written with it can
    use no index. It is how a query tells SQLite which index *not* to choose (SQLite has no index hints that
    SQLAlchemy renders, and `INDEXED BY` would fail outright if the index were ever renamed)."""
    return UnaryExpression(column.expression, operator=operators.custom_op("+"), type_=column.type)


@dataclass(frozen=True)
class Keyset:
    """How one page is cut from an ordering by (sort column, unique id): direction, the seek key to continue
    from, and the page size. `lower_bound` is the filter's own lower bound on the sort column, if any.
    `unindexed_sort` (SQLite only): seek and order by `+sort_column`, so that no index on the sort column serves
    the page; the caller has picked a filter's index to read the rows through, and they are sorted."""

    sort_column: InstrumentedAttribute[Any]
    id_column: InstrumentedAttribute[Any]
    descending: bool
    after: SeekKey | None
    backwards: bool
    limit: int
    lower_bound: datetime | None = None
    unindexed_sort: bool = False

    @property
    def walk_descending(self) -> bool:
        # Walking backwards is walking the opposite order forwards, then flipping the rows.
        return self.descending != self.backwards

    def statement(self, stmt: S) -> S:
        """`stmt` seeking and ordered as a page's query is (limit + 1 rows)."""
        walk_descending = self.walk_descending
        after, lower_bound, id_column = self.after, self.lower_bound, self.id_column
        # A seek key behind the filter's own lower bound on the sort column (an old cursor with a newer filter)
        # excludes nothing the filter admits; left in, PostgreSQL starts its index scan at the looser key.
        redundant = lower_bound is not None and not walk_descending and after is not None and after.value < lower_bound
        sort_key = sqlite_unindexed(self.sort_column) if self.unindexed_sort else self.sort_column
        if after is not None and not redundant:
            key = tuple_(sort_key, id_column)
            bound = tuple_(after.value, after.row_id)
            stmt = stmt.where(key < bound if walk_descending else key > bound)
        if walk_descending:
            stmt = stmt.order_by(sort_key.desc(), id_column.desc())
        else:
            stmt = stmt.order_by(sort_key.asc(), id_column.asc())
        return stmt.limit(self.limit + 1)

    def page(self, rows: list[R]) -> KeysetPage[R]:
        has_more = len(rows) > self.limit
        rows = rows[: self.limit]
        if self.backwards:
            rows.reverse()
        if not rows:
            return KeysetPage(rows=[], next_key=None, previous_key=None)

        def key_of(row: R) -> SeekKey:
            return SeekKey(getattr(row, self.sort_column.key), getattr(row, self.id_column.key))

        if self.backwards:
            return KeysetPage(rows, next_key=key_of(rows[-1]), previous_key=key_of(rows[0]) if has_more else None)
        return KeysetPage(
            rows,
            next_key=key_of(rows[-1]) if has_more else None,
            previous_key=key_of(rows[0]) if self.after is not None else None,
        )


async def fetch_keyset_page(session: AsyncSession, stmt: Select[T], keyset: Keyset) -> KeysetPage[T]:
    """A page of one selected entity (or column)."""
    rows = list((await session.execute(keyset.statement(stmt))).scalars().all())
    return keyset.page(rows)


async def fetch_keyset_rows(
    session: AsyncSession, stmt: Select[*TupleAny], keyset: Keyset
) -> KeysetPage[Row[*TupleAny]]:
    """A page of Core rows (named columns, which must include the sort and id columns under their own names):
    no ORM instances to build where a page is only serialized."""
    rows = list((await session.execute(keyset.statement(stmt))).all())
    return keyset.page(rows)


async def fetch_keyset_rows_until(
    session: AsyncSession, stmt: Select[*TupleAny], keyset: Keyset, *, until: SeekKey
) -> KeysetPage[Row[*TupleAny]] | None:
    """As `fetch_keyset_rows` (sort column indexed), but the walk stops at `until`, a key in the walk's own
    direction (inclusive): it is bounded by the index rows up to there. None when fewer than `limit + 1` rows
    before `until` matched, so that the page (or whether another follows) is not decided by them."""
    key = tuple_(keyset.sort_column, keyset.id_column)
    bound = tuple_(until.value, until.row_id)
    stmt = stmt.where(key >= bound if keyset.walk_descending else key <= bound)
    rows = list((await session.execute(keyset.statement(stmt))).all())
    return keyset.page(rows) if len(rows) > keyset.limit else None
