"""Imports: the runs and their reports, where each imported comment came from, and the
batched writes an import makes (many comments of one thread at a time)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import insert, select, update

from parlour.store.database import Tx, driver_rows
from parlour.store.schema import comments, imported_comments, imports

_IN_CHUNK = 500  # values in one IN (...) list

# Columns of a comment an import writes, in this order (see `insert_comments`).
COMMENT_COLUMNS = (
    "id", "thread_id", "parent_id", "root_id", "depth", "author_name", "author_email", "author_key",
    "ip_hash", "is_writer", "body", "body_hash", "html", "status", "pinned", "hearts", "liked_by_writer",
    "reply_count", "created_at", "published_at", "edited_at", "author_verified", "for_writer",
)  # fmt: skip
SOURCE_COLUMNS = ("comment_id", "site_id", "source", "import_id")


def _executemany(tx: Tx, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Many rows of one statement straight on the driver (psycopg pipelines them)."""
    if not rows:
        return
    if tx.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cursor = tx.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def reserve_comment_ids(tx: Tx, n: int) -> list[int]:
    """`n` new comment ids, so an import can name parents before inserting children.

    PostgreSQL: from the column's sequence. SQLite: past the largest id, which is safe
    because the caller holds SQLite's one write lock until its transaction ends.
    """
    if n <= 0:
        return []
    if tx.dialect.name == "sqlite":
        top = int(driver_rows(tx, "SELECT coalesce(max(id), 0) FROM comments", ())[0][0])
        return list(range(top + 1, top + 1 + n))
    rows = driver_rows(
        tx, "SELECT nextval(pg_get_serial_sequence('comments', 'id')) FROM generate_series(1, ?)", (n,)
    )
    return [int(r[0]) for r in rows]


def insert_comments(tx: Tx, rows: Sequence[Sequence[Any]]) -> None:
    """Insert comments given in COMMENT_COLUMNS order, parents before their replies."""
    _insert_many(tx, "comments", COMMENT_COLUMNS, rows)


def insert_sources(tx: Tx, site_id: str, import_id: int | None, pairs: Iterable[tuple[int, str]]) -> None:
    """Remember where each comment came from: (comment id, "FORMAT:ID")."""
    _insert_many(
        tx, "imported_comments", SOURCE_COLUMNS, [(cid, site_id, source, import_id) for cid, source in pairs]
    )


def _insert_many(tx: Tx, table: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
    """Rows of `columns` into `table`. On SQLite, many rows to a statement: the search
    index's trigger then works a statement at a time, and SQLite parses one statement
    for hundreds of rows (measured: half the time of one INSERT a row). PostgreSQL
    pipelines one statement a row."""
    if tx.dialect.name != "sqlite":
        _executemany(
            tx, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
        )
        return
    per_statement = _SQLITE_PARAMETERS // len(columns)
    cursor = tx.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                _insert_rows(table, columns, len(chunk)), [value for row in chunk for value in row]
            )
    finally:
        cursor.close()


_SQLITE_PARAMETERS = 9_200  # to a statement: 400 comments, 2,300 sources (SQLite allows 32,766)


@lru_cache(maxsize=16)
def _insert_rows(table: str, columns: tuple[str, ...], n: int) -> str:
    one = f"({', '.join('?' for _ in columns)})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * n)}"


def has_sources(tx: Tx, site_id: str, prefix: str) -> bool:
    """Did an earlier import bring comments to this site from sources starting `prefix`?"""
    query = (
        select(imported_comments.c.comment_id)
        .where(
            imported_comments.c.site_id == site_id,
            imported_comments.c.source.startswith(prefix, autoescape=True),
        )
        .limit(1)
    )
    return tx.execute(query).first() is not None


def find_sources(tx: Tx, site_id: str, sources: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Which of these sources are stored already: source -> (comment id, thread id).

    Two look-ups by unique index (no join: on a table an import is still filling,
    PostgreSQL's statistics are stale and a join was planned as a scan per call)."""
    ids: dict[int, str] = {}
    for start in range(0, len(sources), _IN_CHUNK):
        chunk = sources[start : start + _IN_CHUNK]
        query = select(imported_comments.c.source, imported_comments.c.comment_id).where(
            imported_comments.c.site_id == site_id, imported_comments.c.source.in_(chunk)
        )
        ids.update((row.comment_id, row.source) for row in tx.execute(query))
    found: dict[str, tuple[int, int]] = {}
    comment_ids = sorted(ids)
    for start in range(0, len(comment_ids), _IN_CHUNK):
        chunk_ids = comment_ids[start : start + _IN_CHUNK]
        for row in tx.execute(
            select(comments.c.id, comments.c.thread_id).where(comments.c.id.in_(chunk_ids))
        ):
            found[ids[row.id]] = (row.id, row.thread_id)
    return found


def depths(tx: Tx, comment_ids: Sequence[int]) -> dict[int, tuple[int | None, int]]:
    """Stored comments' (root id, depth), for replies to comments an earlier import stored."""
    found: dict[int, tuple[int | None, int]] = {}
    for start in range(0, len(comment_ids), _IN_CHUNK):
        chunk = comment_ids[start : start + _IN_CHUNK]
        for row in tx.execute(
            select(comments.c.id, comments.c.root_id, comments.c.depth).where(comments.c.id.in_(chunk))
        ):
            found[row.id] = (row.root_id, row.depth)
    return found


def record_import(
    tx: Tx,
    site_id: str,
    format: str,
    file_name: str | None,
    thread_key: str | None,
    review: str | None,
    now: int,
) -> int:
    """A new import run; its report is written when it ends (`finish_import`)."""
    return int(
        tx.execute(
            insert(imports)
            .values(
                site_id=site_id, format=format, file_name=file_name, thread_key=thread_key, report="{}",
                review=review, created_at=now,
            )
            .returning(imports.c.id)
        ).scalar_one()
    )  # fmt: skip


def finish_import(tx: Tx, import_id: int, report: str) -> None:
    tx.execute(update(imports).where(imports.c.id == import_id).values(report=report))
