"""Keyset (seek) pagination over (sort column, unique id): one index range per page, at any depth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, DateTime, Select, TypeDecorator, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.util.typing import TupleAny

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S", bound="Select[*TupleAny]")
OrderKey = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class SeekKey:
    value: datetime
    row_id: int


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    rows: list[T]
    next_key: SeekKey | None  # continue forward after this row
    previous_key: SeekKey | None  # page backwards before this row


class Unindexed(ColumnElement[Any]):
    """The same value as `column`, written so that no index can serve a term or an ordering on it: how a query
    tells the database which index *not* to choose. Neither database has index hints SQLAlchemy renders
    (SQLite's `INDEXED BY` would also fail outright if the index were ever renamed).

    SQLite: `+column` (unary plus is a no-op on any type). PostgreSQL: `column + interval '0'` for a time,
    `column + 0` otherwise (a function call the planner does not fold away, unlike a cast to the same type)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> None:
        self.column = column.expression if isinstance(column, InstrumentedAttribute) else column
        self.type = self.column.type


@compiles(Unindexed, "sqlite")
def _unindexed_sqlite(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(+ {compiler.process(element.column, **kw)})"


@compiles(Unindexed)
def _unindexed_default(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    type_ = element.type.impl_instance if isinstance(element.type, TypeDecorator) else element.type
    zero = "interval '0'" if isinstance(type_, DateTime) else "0"
    return f"({compiler.process(element.column, **kw)} + {zero})"


def unindexed(column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    return Unindexed(column)


@dataclass(frozen=True)
class Keyset:
    """How one page is cut from an ordering by (sort column, unique id): direction, the seek key to continue
    from, and the page size. `lower_bound` is the filter's own lower bound on the sort column, if any.
    `unindexed_sort`: seek and order by `unindexed(sort_column)`, so that no index on the sort column serves the
    page; the caller has picked a filter's index to read the rows through, and they are sorted."""

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
        sort_key = unindexed(self.sort_column) if self.unindexed_sort else self.sort_column
        return self.ordered(self.seek(stmt), sort_key, self.id_column)

    def seek(self, stmt: S) -> S:
        """`stmt` restricted to the rows after the seek key, in the walk's direction."""
        after, lower_bound = self.after, self.lower_bound
        if after is None:
            return stmt
        # A seek key behind the filter's own lower bound on the sort column (an old cursor with a newer filter)
        # excludes nothing the filter admits; left in, PostgreSQL starts its index scan at the looser key.
        if lower_bound is not None and not self.walk_descending and after.value < lower_bound:
            return stmt
        sort_key = unindexed(self.sort_column) if self.unindexed_sort else self.sort_column
        key = tuple_(sort_key, self.id_column)
        bound = tuple_(after.value, after.row_id)
        return stmt.where(key < bound if self.walk_descending else key > bound)

    def ordered(self, stmt: S, sort_key: OrderKey, id_key: OrderKey) -> S:
        """`stmt` in the walk's order of (`sort_key`, `id_key`), limit + 1 rows: the page and whether one follows."""
        if self.walk_descending:
            return stmt.order_by(sort_key.desc(), id_key.desc()).limit(self.limit + 1)
        return stmt.order_by(sort_key.asc(), id_key.asc()).limit(self.limit + 1)

    def page(self, rows: list[R], key_of: Callable[[R], SeekKey] | None = None) -> KeysetPage[R]:
        """The page of a walk's rows; `key_of` reads a row's seek key (default: by the columns' names)."""
        has_more = len(rows) > self.limit
        rows = rows[: self.limit]
        if self.backwards:
            rows.reverse()
        if not rows:
            return KeysetPage(rows=[], next_key=None, previous_key=None)

        key = key_of if key_of is not None else self._key_by_name
        if self.backwards:
            return KeysetPage(rows, next_key=key(rows[-1]), previous_key=key(rows[0]) if has_more else None)
        return KeysetPage(
            rows,
            next_key=key(rows[-1]) if has_more else None,
            previous_key=key(rows[0]) if self.after is not None else None,
        )

    def _key_by_name(self, row: Any) -> SeekKey:
        return SeekKey(getattr(row, self.sort_column.key), getattr(row, self.id_column.key))


async def fetch_keyset_page(session: AsyncSession, stmt: Select[T], keyset: Keyset) -> KeysetPage[T]:
    """A page of one selected entity (or column)."""
    rows = list((await session.execute(keyset.statement(stmt))).scalars().all())
    return keyset.page(rows)
