"""The batched reads of a site's export: everything, a bounded batch at a time, in an
order that depends only on the data (never on row ids), so two databases holding the
same site export the same bytes.

Strings are ordered by their bytes (`BINARY` on SQLite, `COLLATE "C"` on PostgreSQL,
whatever the database's own collation), which is also Python's order of `str`.
Comments are named by their export id (see `export_id`), never by their row id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, or_, select, true

from parlour.store.database import Database, Tx
from parlour.store.schema import (
    blocks,
    comments,
    hearts,
    imported_comments,
    mail_readers,
    reader_accounts,
    site_readers,
    subscriptions,
    threads,
)

SOURCE_PREFIX = "parlour:"  # what the importer puts before a Parlour export's own ids


@contextmanager
def snapshot(db: Database) -> Iterator[Tx]:
    """A read transaction that sees one moment of the database from its first query to
    its end (PostgreSQL: REPEATABLE READ; SQLite: a read transaction in WAL mode is one)."""
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _bytes(tx: Tx, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`column` compared and sorted by its bytes on either database."""
    return column.collate("BINARY" if tx.dialect.name == "sqlite" else "C")


def export_id(prefix: str, comment_id: ColumnElement[Any], source: ColumnElement[Any]) -> ColumnElement[Any]:
    """A comment's stable name: its source when it was imported (without the `parlour:`
    the importer adds to a Parlour export's ids, so that an export imported and exported
    again names it the same), else this database's prefix, a dash and its row id."""
    return case(
        (source.like(SOURCE_PREFIX + "%"), func.substr(source, len(SOURCE_PREFIX) + 1)),
        (source.is_not(None), source),
        else_=literal(prefix + "-") + cast(comment_id, String),
    )


def _after(keys: Sequence[ColumnElement[Any]], last: Sequence[Any] | None) -> ColumnElement[bool]:
    """The keyset condition "(keys) > last", spelled out (no row-value comparison: the
    collations of string keys must apply)."""
    if last is None:
        return true()
    terms: list[ColumnElement[bool]] = []
    for i, key in enumerate(keys):
        terms.append(and_(*[k == v for k, v in zip(keys[:i], last[:i], strict=True)], key > last[i]))
    return or_(*terms)


def threads_after(tx: Tx, site_id: str, last_key: str | None, limit: int) -> list[Any]:
    """The site's next threads by key (bytes): key, title, url, locked, who_may_comment,
    created_at, id."""
    key = _bytes(tx, threads.c.key)
    query = (
        select(
            threads.c.key, threads.c.title, threads.c.url, threads.c.locked, threads.c.who_may_comment,
            threads.c.created_at, threads.c.id,
        )
        .where(threads.c.site_id == site_id, _after([key], None if last_key is None else [last_key]))
        .order_by(key)
        .limit(limit)
    )  # fmt: skip
    return list(tx.execute(query))


def comments_after(
    tx: Tx, thread_id: int, prefix: str, last: tuple[int, str] | None, limit: int
) -> list[Any]:
    """A thread's next comments by (created_at, export id): every column of the comment,
    plus `export_id` and `parent_export_id`."""
    own = imported_comments.alias("own")
    parents = imported_comments.alias("parents")
    eid = export_id(prefix, comments.c.id, own.c.source)
    peid = case(
        (comments.c.parent_id.is_(None), None),
        else_=export_id(prefix, comments.c.parent_id, parents.c.source),
    )
    ordered = [comments.c.created_at, _bytes(tx, eid)]
    query = (
        select(comments, eid.label("export_id"), peid.label("parent_export_id"))
        .select_from(
            comments.outerjoin(own, own.c.comment_id == comments.c.id).outerjoin(
                parents, parents.c.comment_id == comments.c.parent_id
            )
        )
        .where(comments.c.thread_id == thread_id, _after(ordered, last))
        .order_by(*ordered)
        .limit(limit)
    )
    return list(tx.execute(query))


def hearts_of(tx: Tx, comment_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    """Each comment's hearts by readers: (reader id, created_at), by reader id (bytes)."""
    found: dict[int, list[tuple[str, int]]] = {}
    if not comment_ids:
        return found
    query = (
        select(hearts.c.comment_id, hearts.c.reader_id, hearts.c.created_at)
        .where(hearts.c.comment_id.in_(sorted(comment_ids)))
        .order_by(hearts.c.comment_id, _bytes(tx, hearts.c.reader_id))
    )
    for comment_id, reader_id, created_at in tx.execute(query):
        found.setdefault(comment_id, []).append((reader_id, created_at))
    return found


def accounts_after(tx: Tx, site_id: str, last_email: str | None, limit: int) -> list[Any]:
    """Readers' accounts (email sign-in) the site knows, by email: those kept among its
    signed-in readers and those who wrote a comment there. id, email, name, created_at."""
    kept = select(site_readers.c.subject).where(
        site_readers.c.site_id == site_id, site_readers.c.subject.like("account:%")
    )
    wrote = (
        select(comments.c.author_key)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(threads.c.site_id == site_id, comments.c.author_key.like("u:%"))
    )
    known = or_(
        (literal("account:") + cast(reader_accounts.c.id, String)).in_(kept),
        (literal("u:") + cast(reader_accounts.c.id, String)).in_(wrote),
    )
    email = _bytes(tx, reader_accounts.c.email)
    query = (
        select(reader_accounts.c.id, reader_accounts.c.email, reader_accounts.c.name, reader_accounts.c.created_at)
        .where(
            known,
            _after([email], None if last_email is None else [last_email]),
        )
        .order_by(email)
        .limit(limit)
    )  # fmt: skip
    return list(tx.execute(query))


def account_emails(tx: Tx, account_ids: Sequence[int]) -> dict[int, str]:
    """The email of each of these readers' accounts (those that exist)."""
    if not account_ids:
        return {}
    query = select(reader_accounts.c.id, reader_accounts.c.email).where(
        reader_accounts.c.id.in_(sorted(set(account_ids)))
    )
    return {int(r[0]): str(r[1]) for r in tx.execute(query)}


def site_readers_after(tx: Tx, site_id: str, last_subject: str | None, limit: int) -> list[Any]:
    """The site's signed-in readers by subject (bytes): subject, name, email, picture,
    tier, created_at, seen_at."""
    subject = _bytes(tx, site_readers.c.subject)
    query = (
        select(
            site_readers.c.subject, site_readers.c.name, site_readers.c.email, site_readers.c.picture,
            site_readers.c.tier, site_readers.c.created_at, site_readers.c.seen_at,
        )
        .where(site_readers.c.site_id == site_id, _after([subject], None if last_subject is None else [last_subject]))
        .order_by(subject)
        .limit(limit)
    )  # fmt: skip
    return list(tx.execute(query))


def mail_readers_after(tx: Tx, site_id: str, last_email: str | None, limit: int) -> list[Any]:
    """The site's mail readers by email (bytes): id, email, created_at, confirm_sent_at,
    confirmed_at, unsubscribed_at."""
    email = _bytes(tx, mail_readers.c.email)
    query = (
        select(
            mail_readers.c.id, mail_readers.c.email, mail_readers.c.created_at, mail_readers.c.confirm_sent_at,
            mail_readers.c.confirmed_at, mail_readers.c.unsubscribed_at,
        )
        .where(mail_readers.c.site_id == site_id, _after([email], None if last_email is None else [last_email]))
        .order_by(email)
        .limit(limit)
    )  # fmt: skip
    return list(tx.execute(query))


def subscriptions_of(tx: Tx, reader_ids: Sequence[int], prefix: str) -> dict[int, list[Any]]:
    """Each mail reader's subscriptions: thread key, comment export id (None for a whole
    thread), kind, created_at, ended_at; in no particular order (callers sort them)."""
    found: dict[int, list[Any]] = {}
    if not reader_ids:
        return found
    source = imported_comments.c.source
    eid = case(
        (subscriptions.c.comment_id.is_(None), None),
        else_=export_id(prefix, subscriptions.c.comment_id, source),
    )
    query = (
        select(
            subscriptions.c.reader_id, threads.c.key, eid.label("comment"), subscriptions.c.kind,
            subscriptions.c.created_at, subscriptions.c.ended_at,
        )
        .select_from(
            subscriptions.join(threads, threads.c.id == subscriptions.c.thread_id).outerjoin(
                imported_comments, imported_comments.c.comment_id == subscriptions.c.comment_id
            )
        )
        .where(subscriptions.c.reader_id.in_(sorted(reader_ids)))
    )  # fmt: skip
    for row in tx.execute(query):
        found.setdefault(int(row[0]), []).append(row[1:])
    return found


def site_blocks(tx: Tx, site_id: str) -> list[Any]:
    """The site's blocks (a site has few): kind, value, reason, expires_at, created_at."""
    query = select(blocks.c.kind, blocks.c.value, blocks.c.reason, blocks.c.expires_at, blocks.c.created_at).where(
        blocks.c.site_id == site_id
    )  # fmt: skip
    return list(tx.execute(query))


def comments_of_site(tx: Tx, site_id: str, comment_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(comment id, thread id) of those of these comments that belong to the site."""
    found: list[tuple[int, int]] = []
    for start in range(0, len(comment_ids), 500):
        chunk = comment_ids[start : start + 500]
        query = (
            select(comments.c.id, comments.c.thread_id)
            .join(threads, threads.c.id == comments.c.thread_id)
            .where(threads.c.site_id == site_id, comments.c.id.in_(chunk))
        )
        found.extend((row.id, row.thread_id) for row in tx.execute(query))
    return found
