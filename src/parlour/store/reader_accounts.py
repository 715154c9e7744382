"""Readers' accounts (email sign-in), sign-ins in progress, and what Parlour holds about
a reader: their comments, the names kept for them, their mail subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from parlour.domain.model import Comment
from parlour.store.database import Tx, driver_rows
from parlour.store.schema import (
    comments,
    mail_readers,
    outbox,
    reader_accounts,
    reader_sign_ins,
    site_readers,
    subscriptions,
    threads,
)


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    name: str | None
    epoch: int
    created_at: int


@dataclass(frozen=True, slots=True)
class SignIn:
    id: int
    email: str
    name: str | None
    site_id: str
    browser_hash: str
    expires_at: int
    used_at: int | None
    account_id: int | None


_ACCOUNT = (reader_accounts.c.id, reader_accounts.c.email, reader_accounts.c.name, reader_accounts.c.epoch,
            reader_accounts.c.created_at)  # fmt: skip
_SIGN_IN = (
    reader_sign_ins.c.id, reader_sign_ins.c.email, reader_sign_ins.c.name, reader_sign_ins.c.site_id,
    reader_sign_ins.c.browser_hash, reader_sign_ins.c.expires_at, reader_sign_ins.c.used_at,
    reader_sign_ins.c.account_id,
)  # fmt: skip


def get_account(tx: Tx, account_id: int) -> Account | None:
    row = tx.execute(select(*_ACCOUNT).where(reader_accounts.c.id == account_id)).one_or_none()
    return None if row is None else Account(*row)


def account_for(tx: Tx, email: str, name: str | None, now: int, epoch: int) -> Account:
    """The account of this (lower-cased) address, made if new (with `name`, and `epoch`:
    a random number its session tokens carry, so that an account made later under a
    reused id honours none of an old one's)."""
    row = tx.execute(select(*_ACCOUNT).where(reader_accounts.c.email == email)).one_or_none()
    if row is None:
        driver_rows(
            tx,
            "INSERT INTO reader_accounts (email, name, epoch, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (email) DO NOTHING",
            (email, name, epoch, now),
        )
        row = tx.execute(select(*_ACCOUNT).where(reader_accounts.c.email == email)).one()
    elif row.name is None and name:
        tx.execute(update(reader_accounts).where(reader_accounts.c.id == row.id).values(name=name))
        row = tx.execute(select(*_ACCOUNT).where(reader_accounts.c.id == row.id)).one()
    return Account(*row)


def set_name(tx: Tx, account_id: int, name: str, folded: str) -> None:
    """The account's name, and on every site where it is kept as theirs."""
    tx.execute(update(reader_accounts).where(reader_accounts.c.id == account_id).values(name=name))
    tx.execute(
        update(site_readers)
        .where(site_readers.c.subject == f"account:{account_id}")
        .values(name=name, folded_name=folded)
    )


def sites_of(tx: Tx, subject: str) -> list[str]:
    return list(tx.execute(select(site_readers.c.site_id).where(site_readers.c.subject == subject)).scalars())


def set_epoch(tx: Tx, account_id: int, epoch: int) -> None:
    tx.execute(update(reader_accounts).where(reader_accounts.c.id == account_id).values(epoch=epoch))


def start_sign_in(
    tx: Tx, email: str, name: str | None, site_id: str, browser_hash: str, token_hash: str, now: int,
    expires_at: int,
) -> None:  # fmt: skip
    tx.execute(delete(reader_sign_ins).where(reader_sign_ins.c.expires_at < now - 86_400_000))
    tx.execute(
        insert(reader_sign_ins).values(
            email=email, name=name, site_id=site_id, browser_hash=browser_hash, token_hash=token_hash,
            created_at=now, expires_at=expires_at,
        )
    )  # fmt: skip


def sign_in_by_token(tx: Tx, token_hash: str) -> SignIn | None:
    row = tx.execute(select(*_SIGN_IN).where(reader_sign_ins.c.token_hash == token_hash)).one_or_none()
    return None if row is None else SignIn(*row)


def finish_sign_in(tx: Tx, sign_in_id: int, account_id: int, now: int) -> bool:
    """Mark the sign-in used, once: False if it was already."""
    result = tx.execute(
        update(reader_sign_ins)
        .where(reader_sign_ins.c.id == sign_in_id, reader_sign_ins.c.used_at.is_(None))
        .values(used_at=now, account_id=account_id)
    )
    return bool(result.rowcount)


def latest_sign_in(tx: Tx, browser_hash: str) -> SignIn | None:
    """This browser's latest sign-in."""
    row = tx.execute(
        select(*_SIGN_IN)
        .where(reader_sign_ins.c.browser_hash == browser_hash)
        .order_by(reader_sign_ins.c.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else SignIn(*row)


def comments_of(
    tx: Tx, author_key: str, thread: tuple[str, str] | None = None
) -> list[tuple[Comment, str, str]]:
    """The account's comments (every status), oldest first, with site id and thread key;
    all of them, or (site, key) one thread's (ix_comments_dedupe: thread, author)."""
    from parlour.store.comments import _comment

    query = (
        select(comments, threads.c.site_id, threads.c.key.label("thread_key"))
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(comments.c.author_key == author_key)
        .order_by(comments.c.id)
    )
    if thread is not None:
        query = query.where(threads.c.site_id == thread[0], threads.c.key == thread[1])
    return [(_comment(r), r.site_id, r.thread_key) for r in tx.execute(query)]


def names_kept(tx: Tx, subject: str) -> list[dict[str, Any]]:
    rows = tx.execute(
        select(
            site_readers.c.site_id, site_readers.c.name, site_readers.c.email, site_readers.c.created_at,
            site_readers.c.seen_at,
        ).where(site_readers.c.subject == subject)
    )  # fmt: skip
    return [
        {"site": r.site_id, "name": r.name, "email": r.email, "since": r.created_at, "seen_at": r.seen_at}
        for r in rows
    ]


def mail_of(tx: Tx, email: str) -> list[dict[str, Any]]:
    """Reply mail this address asked for, per site."""
    found: list[dict[str, Any]] = []
    for reader in tx.execute(select(mail_readers).where(mail_readers.c.email == email)):
        subs = tx.execute(
            select(subscriptions.c.thread_id, subscriptions.c.comment_id, subscriptions.c.kind,
                   subscriptions.c.created_at, subscriptions.c.ended_at)
            .where(subscriptions.c.reader_id == reader.id)
        )  # fmt: skip
        found.append({
            "site": reader.site_id, "confirmed_at": reader.confirmed_at, "unsubscribed_at": reader.unsubscribed_at,
            "subscriptions": [
                {"thread_id": t, "comment_id": c, "kind": k, "created_at": at, "ended_at": end}
                for t, c, k, at, end in subs
            ],
        })  # fmt: skip
    return found


def comments_by_address(tx: Tx, email: str) -> list[tuple[Comment, str, str]]:
    """Comments posted with this address (before signing in, or with reply mail)."""
    from parlour.store.comments import _comment

    query = (
        select(comments, threads.c.site_id, threads.c.key.label("thread_key"))
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(func.lower(comments.c.author_email) == email)
        .order_by(comments.c.id)
    )
    return [(_comment(r), r.site_id, r.thread_key) for r in tx.execute(query)]


def forget(tx: Tx, account: Account, subject: str) -> None:
    """Delete the account, the names kept for it, its mail subscriptions and sign-ins, the
    mail sent to it, and its address on the comments it was given with."""
    tx.execute(delete(outbox).where(outbox.c.recipient == account.email))
    tx.execute(
        update(comments).where(func.lower(comments.c.author_email) == account.email).values(author_email=None)
    )
    tx.execute(delete(site_readers).where(site_readers.c.subject == subject))
    reader_ids = select(mail_readers.c.id).where(mail_readers.c.email == account.email)
    tx.execute(delete(subscriptions).where(subscriptions.c.reader_id.in_(reader_ids)))
    tx.execute(delete(mail_readers).where(mail_readers.c.email == account.email))
    tx.execute(delete(reader_sign_ins).where(reader_sign_ins.c.email == account.email))
    tx.execute(delete(reader_accounts).where(reader_accounts.c.id == account.id))


def keep_as_former_reader(tx: Tx, author_key: str, former_key: str) -> None:
    """Their comments stay, under no name, no address and no link to anyone."""
    tx.execute(
        update(comments)
        .where(comments.c.author_key == author_key)
        .values(
            author_name="A former reader", author_email=None, author_key=former_key, author_verified=False
        )
    )


def restore_account(tx: Tx, email: str, name: str | None, created_at: int, epoch: int) -> int:
    """The id of the account of this (lower-cased) address, made as a site's export
    says if new; one already here keeps its name if it has one, and the earlier time."""
    driver_rows(
        tx,
        "INSERT INTO reader_accounts (email, name, epoch, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (email) DO NOTHING",
        (email, name, epoch, created_at),
    )
    row = tx.execute(select(*_ACCOUNT).where(reader_accounts.c.email == email)).one()
    account = Account(*row)
    if (account.name is None and name) or created_at < account.created_at:
        tx.execute(
            update(reader_accounts)
            .where(reader_accounts.c.id == account.id)
            .values(name=account.name or name, created_at=min(created_at, account.created_at))
        )
    return account.id
