"""Threads: one per page of a site, created on its first comment."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select, update

from parlour.domain.model import Thread, WhoMayComment
from parlour.store.database import Tx, driver_rows
from parlour.store.schema import threads


def _thread(row: Any) -> Thread:
    """The one mapper from a stored thread row (by column name) to a Thread."""
    return Thread(
        id=row.id,
        site_id=row.site_id,
        key=row.key,
        title=row.title,
        url=row.url,
        comment_count=row.comment_count,
        version=row.version,
        created_at=row.created_at,
        locked=bool(row.locked),
        who_may_comment=WhoMayComment(row.who_may_comment) if row.who_may_comment else None,
    )


# Run by every post, so straight on the driver (database.driver_rows).
_GET_THREAD = (
    "SELECT id, site_id, key, title, url, comment_count, version, created_at, locked, who_may_comment "
    "FROM threads "
    "WHERE site_id = ? AND key = ?"
)
_BUMP_THREAD = "UPDATE threads SET version = version + 1, comment_count = comment_count + ? WHERE id = ?"


def get_thread(tx: Tx, site_id: str, key: str) -> Thread | None:
    rows = driver_rows(tx, _GET_THREAD, (site_id, key))
    return thread_from_values(rows[0]) if rows else None


_Row = namedtuple("_Row", "id site_id key title url comment_count version created_at locked who_may_comment")


def thread_from_values(v: Sequence[Any]) -> Thread:
    """A Thread from the columns `id, site_id, key, title, url, comment_count, version,
    created_at, locked, who_may_comment`, in that order (the raw driver queries select
    them so)."""
    return _thread(_Row(*v))


def get_thread_by_id(tx: Tx, thread_id: int) -> Thread | None:
    row = tx.execute(select(threads).where(threads.c.id == thread_id)).one_or_none()
    return None if row is None else _thread(row)


def get_threads_by_id(tx: Tx, thread_ids: Collection[int]) -> dict[int, Thread]:
    """These threads, by id (those that exist)."""
    if not thread_ids:
        return {}
    rows = tx.execute(select(threads).where(threads.c.id.in_(sorted(thread_ids))))
    return {row.id: _thread(row) for row in rows}


def get_or_create_thread(
    tx: Tx, site_id: str, key: str, title: str | None, url: str | None, now: int
) -> Thread:
    """The thread for a page, created (with this title and url) if it has none yet.

    If another process creates it between our look and our insert, `ON CONFLICT DO
    NOTHING` (SQLite and PostgreSQL alike) keeps that one, without a savepoint."""
    found = get_thread(tx, site_id, key)
    if found is not None:
        return found
    driver_rows(tx, _CREATE_THREAD, (site_id, key, title, url, now))
    created = get_thread(tx, site_id, key)
    assert created is not None
    return created


_CREATE_THREAD = (
    "INSERT INTO threads (site_id, key, title, url, comment_count, version, created_at, locked) "
    "VALUES (?, ?, ?, ?, 0, 0, ?, false) ON CONFLICT (site_id, key) DO NOTHING"
)


def fill_details(tx: Tx, thread: Thread, title: str | None, url: str | None) -> None:
    """Keep a title and url the thread lacks. Callers bump the thread in the same transaction."""
    if (title and not thread.title) or (url and not thread.url):
        tx.execute(
            update(threads)
            .where(threads.c.id == thread.id)
            .values(title=thread.title or title, url=thread.url or url)
        )


def bump_thread(tx: Tx, thread_id: int, count_delta: int = 0) -> None:
    """Record a change to the thread's comments, invalidating every cached page of it."""
    driver_rows(tx, _BUMP_THREAD, (count_delta, thread_id))


def bump_site_threads(tx: Tx, site_id: str) -> None:
    """Invalidate every cached page of a site (after a change shown on all of them)."""
    tx.execute(update(threads).where(threads.c.site_id == site_id).values(version=threads.c.version + 1))


def set_created_at(tx: Tx, thread_id: int, created_at: int) -> None:
    """When the thread began, as the site's export says (services/restoring.py)."""
    tx.execute(update(threads).where(threads.c.id == thread_id).values(created_at=created_at))
