"""Finding comments in the desk: full-text search (FTS5 on SQLite, tsvector on
PostgreSQL, see migration 0005), filters, a reader's comments, and posts with counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select

from parlour.domain.model import Status
from parlour.store.comments import with_thread
from parlour.store.database import Tx, driver_rows
from parlour.store.inbox import waiting_for_writer
from parlour.store.schema import comments, threads


@dataclass(frozen=True, slots=True)
class Found:
    id: int
    site_id: str
    thread_key: str
    thread_title: str | None
    author_name: str | None
    author_key: str
    is_writer: bool
    html: str
    status: str
    created_at: int


def _fts_query(words: str) -> str:
    """The reader's words as an FTS5 query: every word must appear (quoted: no operators)."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words.split())


def search_comments(
    tx: Tx,
    site_ids: Sequence[str],
    words: str,
    *,
    thread_key: str | None = None,
    author_key: str | None = None,
    status: Status | None = None,
    limit: int = 100,
) -> list[Found]:
    """Comments on these sites matching all `words`, or all comments without words, newest
    first (by id: comments are stored in the order they were written).

    With words, the full-text index leads: on SQLite the FTS5 table drives the join (a
    CROSS JOIN fixes the order: otherwise SQLite starts from the site's threads and tests
    every comment, 170 ms against 1 ms at a million comments), and results come by id so
    that no sort of every match is needed; on PostgreSQL by id too, as ranking recomputes
    each matching row's vector (2.7 s for a common word at a million comments), and
    without a join (`_search_postgresql`)."""
    if not site_ids:
        return []
    conditions: list[ColumnElement[bool]] = [threads.c.site_id.in_(site_ids)]
    if thread_key:
        conditions.append(threads.c.key == thread_key)
    if author_key:
        conditions.append(comments.c.author_key == author_key)
    if status:
        conditions.append(comments.c.status == status.value)
    query = (
        with_thread(
            comments.c.author_name,
            comments.c.author_key,
            comments.c.is_writer,
            comments.c.html,
            comments.c.status,
            comments.c.created_at,
        )
        .where(*conditions)
        .limit(limit)
    )
    words = words.strip()
    if not words:
        query = query.order_by(comments.c.id.desc())
    elif tx.dialect.name == "sqlite":
        return _search_sqlite(tx, site_ids, _fts_query(words), thread_key, author_key, status, limit)
    else:
        return _search_postgresql(tx, site_ids, words, thread_key, author_key, status, limit)
    return [Found(*list(row)) for row in tx.execute(query)]


def _search_postgresql(
    tx: Tx,
    site_ids: Sequence[str],
    words: str,
    thread_key: str | None,
    author_key: str | None,
    status: Status | None,
    limit: int,
) -> list[Found]:
    """The text index first, newest match first, with no join to the threads.

    The planner cannot tell a rare word from a common one in the index's statistics, so
    a join let it hash every thread of the site before looking at a dozen matches (2.4 ms
    at 10,000 threads, growing with them). The thread's fields come from a lookup per
    result row instead, and the sites filter the comments by their threads only when
    the user does not see every site (an instance's one owner does)."""
    # The stored vector (migration 0012), outside schema.py like the index on it.
    vector: ColumnElement[Any] = literal_column("comments.search_vector")
    tsquery = func.plainto_tsquery(literal_column("'simple'"), words)
    conditions: list[ColumnElement[bool]] = [vector.op("@@")(tsquery)]
    every_site = {row[0] for row in driver_rows(tx, "SELECT id FROM sites", ())} <= set(site_ids)
    if thread_key or not every_site:
        in_sites = select(threads.c.id).where(threads.c.site_id.in_(site_ids))
        if thread_key:
            in_sites = in_sites.where(threads.c.key == thread_key)
        conditions.append(comments.c.thread_id.in_(in_sites))
    if author_key:
        conditions.append(comments.c.author_key == author_key)
    if status:
        conditions.append(comments.c.status == status.value)
    thread = threads.alias("t")

    def of_thread(column: Any) -> Any:
        return select(column).where(thread.c.id == comments.c.thread_id).scalar_subquery()

    query = (
        select(
            comments.c.id,
            of_thread(thread.c.site_id),
            of_thread(thread.c.key),
            of_thread(thread.c.title),
            comments.c.author_name,
            comments.c.author_key,
            comments.c.is_writer,
            comments.c.html,
            comments.c.status,
            comments.c.created_at,
        )
        .where(*conditions)
        .order_by(comments.c.id.desc())
        .limit(limit)
    )
    if _all_common(tx, words):
        return [Found(*list(row)) for row in tx.execute(query)]
    # A rare word: its few matches straight from the index, then sorted. Left to itself
    # the planner may walk every comment newest first, looking for matches that are not
    # there (580 ms at a million comments, where this takes under 3).
    tx.exec_driver_sql("SET LOCAL enable_indexscan = off")
    found = [Found(*list(row)) for row in tx.execute(query)]
    tx.exec_driver_sql("SET LOCAL enable_indexscan TO DEFAULT")  # for the rest of the transaction
    return found


_ALL_COMMON = (
    "SELECT coalesce(bool_and(word = ANY(s.most_common_elems::text::text[])), false) "
    "FROM unnest(tsvector_to_array(to_tsvector('simple', %s))) AS word "
    "LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'comments' "
    "AND s.attname = 'search_vector'"
)


def _all_common(tx: Tx, words: str) -> bool:
    """Is every word among the most common in the comments, by PostgreSQL's own
    statistics (ANALYZE)? Then matches are dense, and walking the newest comments finds
    a page of them soonest. Without statistics (a new database), no."""
    return bool(tx.exec_driver_sql(_ALL_COMMON, (words,)).scalar())


def _search_sqlite(
    tx: Tx,
    site_ids: Sequence[str],
    fts: str,
    thread_key: str | None,
    author_key: str | None,
    status: Status | None,
    limit: int,
) -> list[Found]:
    """The FTS5 table first (CROSS JOIN keeps SQLite to that order), newest match first."""
    params: list[Any] = [fts, *site_ids]
    extra = ""
    for clause, value in (("t.key = ?", thread_key), ("c.author_key = ?", author_key)):
        if value:
            extra += f" AND {clause}"
            params.append(value)
    if status:
        extra += " AND c.status = ?"
        params.append(status.value)
    sql = (
        "SELECT c.id, t.site_id, t.key, t.title, c.author_name, c.author_key, c.is_writer, c.html, "
        "c.status, c.created_at FROM comments_fts CROSS JOIN comments c ON c.id = comments_fts.rowid "
        "JOIN threads t ON t.id = c.thread_id "
        f"WHERE comments_fts MATCH ? AND t.site_id IN ({', '.join('?' for _ in site_ids)}){extra} "
        "ORDER BY comments_fts.rowid DESC LIMIT ?"
    )
    rows = driver_rows(tx, sql, (*params, limit))
    return [Found(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9]) for r in rows]


@dataclass(frozen=True, slots=True)
class Post:
    site_id: str
    key: str
    title: str | None
    url: str | None
    comment_count: int
    unanswered: int
    locked: bool
    last_comment_at: int | None


def list_posts(tx: Tx, site_ids: Sequence[str], limit: int = 500) -> list[Post]:
    """Threads of these sites, latest conversation first, with unanswered reader comments."""
    if not site_ids:
        return []
    waiting = (
        select(comments.c.thread_id, func.count().label("n"))
        .where(*waiting_for_writer())
        .group_by(comments.c.thread_id)
        .subquery()
    )
    latest = comments.alias()
    last = select(func.max(latest.c.created_at)).where(latest.c.thread_id == threads.c.id).scalar_subquery()
    query = (
        select(
            threads.c.site_id,
            threads.c.key,
            threads.c.title,
            threads.c.url,
            threads.c.comment_count,
            func.coalesce(waiting.c.n, 0),
            threads.c.locked,
            last.label("last_at"),
        )
        .outerjoin(waiting, waiting.c.thread_id == threads.c.id)
        .where(threads.c.site_id.in_(site_ids))
        .order_by(literal_column("last_at").desc(), threads.c.id.desc())
        .limit(limit)
    )
    return [Post(r[0], r[1], r[2], r[3], r[4], int(r[5]), bool(r[6]), r[7]) for r in tx.execute(query)]
