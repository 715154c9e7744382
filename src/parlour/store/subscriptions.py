"""Readers' mail addresses per site and what each asked to hear of (reply mail)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, exists, func, insert, or_, select, update

from parlour.domain.model import MailReader
from parlour.store.database import Tx, driver_rows
from parlour.store.schema import comments, mail_readers, subscriptions, threads

_READER = (
    mail_readers.c.id,
    mail_readers.c.site_id,
    mail_readers.c.email,
    mail_readers.c.created_at,
    mail_readers.c.confirm_sent_at,
    mail_readers.c.confirmed_at,
    mail_readers.c.unsubscribed_at,
)


def reader_for(tx: Tx, site_id: str, email: str, now: int) -> MailReader:
    """The site's row for this (lower-cased) address, made if new. Two posts with one new
    address at once both end with the same row (the insert of the second does nothing)."""
    sql = (
        "INSERT INTO mail_readers (site_id, email, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (site_id, email) DO NOTHING"
    )
    driver_rows(tx, sql, (site_id, email, now))
    row = tx.execute(
        select(*_READER).where(mail_readers.c.site_id == site_id, mail_readers.c.email == email)
    ).one()
    return MailReader(*row)


def get_reader(tx: Tx, reader_id: int) -> MailReader | None:
    row = tx.execute(select(*_READER).where(mail_readers.c.id == reader_id)).one_or_none()
    return MailReader(*row) if row is not None else None


def ask_again(tx: Tx, reader_id: int) -> None:
    """A reader who had asked for no more mail opted in again: confirmed afresh."""
    tx.execute(
        update(mail_readers)
        .where(mail_readers.c.id == reader_id)
        .values(confirmed_at=None, unsubscribed_at=None, confirm_sent_at=None)
    )


def note_confirmation_sent(tx: Tx, reader_id: int, now: int) -> None:
    tx.execute(update(mail_readers).where(mail_readers.c.id == reader_id).values(confirm_sent_at=now))


def confirm(tx: Tx, reader_id: int, now: int) -> None:
    tx.execute(
        update(mail_readers)
        .where(mail_readers.c.id == reader_id, mail_readers.c.confirmed_at.is_(None))
        .values(confirmed_at=now)
    )


def unsubscribe_site(tx: Tx, reader_id: int, now: int) -> None:
    """No more mail from the site: every subscription ends (asking again later starts
    afresh, with a new confirmation, and brings none of them back)."""
    tx.execute(
        update(mail_readers)
        .where(mail_readers.c.id == reader_id, mail_readers.c.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now)
    )
    tx.execute(
        update(subscriptions)
        .where(subscriptions.c.reader_id == reader_id, subscriptions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


def subscribe(tx: Tx, reader_id: int, thread_id: int, comment_id: int | None, kind: str, now: int) -> None:
    """Add what the reader asked to hear of; asking for a conversation again after
    leaving it starts a new subscription."""
    tx.execute(
        insert(subscriptions).values(
            reader_id=reader_id, thread_id=thread_id, comment_id=comment_id, kind=kind, created_at=now
        )
    )


def end_thread(tx: Tx, reader_id: int, thread_id: int, now: int) -> None:
    """No more mail for this conversation: every subscription of the reader there ends."""
    tx.execute(
        update(subscriptions)
        .where(
            subscriptions.c.reader_id == reader_id,
            subscriptions.c.thread_id == thread_id,
            subscriptions.c.ended_at.is_(None),
        )
        .values(ended_at=now)
    )


def active(tx: Tx, reader_id: int) -> list[tuple[int, int | None, str]]:
    """The reader's subscriptions still running: (thread id, comment id, kind)."""
    rows = tx.execute(
        select(subscriptions.c.thread_id, subscriptions.c.comment_id, subscriptions.c.kind)
        .where(subscriptions.c.reader_id == reader_id, subscriptions.c.ended_at.is_(None))
        .order_by(subscriptions.c.id)
    )
    return [(int(r[0]), r[1], str(r[2])) for r in rows]


def recipients(tx: Tx, thread_id: int, parent_id: int | None, shown_at: int) -> list[tuple[MailReader, str]]:
    """Who hears of a comment shown at `shown_at` in this thread, answering `parent_id`:
    readers still receiving mail from the site who had confirmed their address and asked
    for replies to that comment, or for every comment of the thread, by then (a consumer
    running late mails no one about what was shown before they asked); (reader, kind),
    each reader once (`replies` before `thread`)."""
    wanted = and_(subscriptions.c.thread_id == thread_id, subscriptions.c.kind == "thread")
    if parent_id is not None:
        wanted = or_(wanted, and_(subscriptions.c.comment_id == parent_id, subscriptions.c.kind == "replies"))
    rows = tx.execute(
        select(*_READER, subscriptions.c.kind)
        .join(mail_readers, mail_readers.c.id == subscriptions.c.reader_id)
        .where(
            wanted,
            subscriptions.c.ended_at.is_(None),
            subscriptions.c.created_at <= shown_at,
            mail_readers.c.confirmed_at <= shown_at,
            mail_readers.c.unsubscribed_at.is_(None),
        )
        .order_by(subscriptions.c.kind, mail_readers.c.id)
    )
    found: dict[int, tuple[MailReader, str]] = {}
    for row in rows:
        found.setdefault(int(row[0]), (MailReader(*row[:7]), str(row[7])))
    return list(found.values())


def mentioned_readers(tx: Tx, thread_id: int, comment_ids: Sequence[int], shown_at: int) -> list[MailReader]:
    """The authors of these comments (of this thread) who hear of the comment mentioning
    them, shown at `shown_at`: readers still receiving mail from the site, confirmed by
    then, who had asked for mail in this conversation by then (and not left it)."""
    if not comment_ids:
        return []
    asked = exists().where(
        subscriptions.c.reader_id == mail_readers.c.id,
        subscriptions.c.thread_id == thread_id,
        subscriptions.c.ended_at.is_(None),
        subscriptions.c.created_at <= shown_at,
    )
    rows = tx.execute(
        select(*_READER)
        .distinct()
        .join(comments, func.lower(comments.c.author_email) == mail_readers.c.email)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(
            comments.c.id.in_(sorted(set(comment_ids))),
            comments.c.thread_id == thread_id,
            threads.c.site_id == mail_readers.c.site_id,
            asked,
            mail_readers.c.confirmed_at <= shown_at,
            mail_readers.c.unsubscribed_at.is_(None),
        )
        .order_by(mail_readers.c.id)
    )
    return [MailReader(*row) for row in rows]


def watched_threads(tx: Tx, thread_ids: set[int]) -> set[int]:
    """Which of these threads has anyone waiting for mail: one indexed look per batch of
    events, so a site where nobody asked for mail pays nothing more."""
    if not thread_ids:
        return set()
    rows = tx.execute(
        select(subscriptions.c.thread_id)
        .where(subscriptions.c.thread_id.in_(sorted(thread_ids)), subscriptions.c.ended_at.is_(None))
        .distinct()
    )
    return {int(r[0]) for r in rows}


def restore_reader(
    tx: Tx, site_id: str, email: str, created_at: int, confirm_sent_at: int | None, confirmed_at: int | None,
    unsubscribed_at: int | None,
) -> int:  # fmt: skip
    """The id of the site's row for this address, made as a site's export says if new
    (one already here is kept as it is)."""
    sql = (
        "INSERT INTO mail_readers (site_id, email, created_at, confirm_sent_at, confirmed_at, unsubscribed_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site_id, email) DO NOTHING"
    )
    driver_rows(tx, sql, (site_id, email, created_at, confirm_sent_at, confirmed_at, unsubscribed_at))
    found = tx.execute(
        select(mail_readers.c.id).where(mail_readers.c.site_id == site_id, mail_readers.c.email == email)
    ).scalar_one()
    return int(found)


def restore_subscription(
    tx: Tx, reader_id: int, thread_id: int, comment_id: int | None, kind: str, created_at: int,
    ended_at: int | None,
) -> None:  # fmt: skip
    """A subscription as a site's export says, unless the same one is here already."""
    same = select(subscriptions.c.id).where(
        subscriptions.c.reader_id == reader_id,
        subscriptions.c.thread_id == thread_id,
        subscriptions.c.kind == kind,
        subscriptions.c.created_at == created_at,
        subscriptions.c.comment_id.is_(None)
        if comment_id is None
        else subscriptions.c.comment_id == comment_id,
    )
    if tx.execute(same.limit(1)).first() is None:
        tx.execute(
            insert(subscriptions).values(
                reader_id=reader_id, thread_id=thread_id, comment_id=comment_id, kind=kind,
                created_at=created_at, ended_at=ended_at,
            )
        )  # fmt: skip
