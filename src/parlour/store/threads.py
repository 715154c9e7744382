"""Threads: one per page of a site, created on its first comment."""

from __future__ import annotations

from sqlalchemy import Row, bindparam, insert, select, update

from parlour.domain.model import Thread
from parlour.store.database import IntegrityError, Tx
from parlour.store.schema import threads


def _thread(row: Row[tuple[object, ...]]) -> Thread:
    return Thread(
        id=row.id,
        site_id=row.site_id,
        key=row.key,
        title=row.title,
        url=row.url,
        comment_count=row.comment_count,
        version=row.version,
        created_at=row.created_at,
    )


_get_thread = select(threads).where(
    threads.c.site_id == bindparam("site_id"), threads.c.key == bindparam("key")
)
_bump_thread = (
    update(threads)
    .where(threads.c.id == bindparam("thread_id"))
    .values(version=threads.c.version + 1, comment_count=threads.c.comment_count + bindparam("delta"))
)


def get_thread(tx: Tx, site_id: str, key: str) -> Thread | None:
    row = tx.execute(_get_thread, {"site_id": site_id, "key": key}).one_or_none()
    return None if row is None else _thread(row)


def get_thread_by_id(tx: Tx, thread_id: int) -> Thread | None:
    row = tx.execute(select(threads).where(threads.c.id == thread_id)).one_or_none()
    return None if row is None else _thread(row)


def get_or_create_thread(
    tx: Tx, site_id: str, key: str, title: str | None, url: str | None, now: int
) -> Thread:
    """The thread for a page, created if this is its first comment (title and url kept from then)."""
    found = get_thread(tx, site_id, key)
    if found is not None:
        if (title and not found.title) or (url and not found.url):
            tx.execute(
                update(threads)
                .where(threads.c.id == found.id)
                .values(title=found.title or title, url=found.url or url)
            )
            found = get_thread(tx, site_id, key)
            assert found is not None
        return found
    try:
        with tx.begin_nested():
            tx.execute(
                insert(threads).values(
                    site_id=site_id, key=key, title=title, url=url, comment_count=0, version=0, created_at=now
                )
            )
    except IntegrityError:
        pass  # another process created it between our look and our insert
    created = get_thread(tx, site_id, key)
    assert created is not None
    return created


def bump_thread(tx: Tx, thread_id: int, count_delta: int = 0) -> None:
    """Record a change to the thread's comments, invalidating every cached page of it."""
    tx.execute(_bump_thread, {"thread_id": thread_id, "delta": count_delta})


def bump_site_threads(tx: Tx, site_id: str) -> None:
    """Invalidate every cached page of a site (after a change shown on all of them)."""
    tx.execute(update(threads).where(threads.c.site_id == site_id).values(version=threads.c.version + 1))
