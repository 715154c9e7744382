"""Parlour's own import: what its export carries besides the generic records, stored.

services/importing.py stores threads and comments for every format, and calls these
for what only a Parlour export says (docs/export-format.md): `thread` and `comment`
right after storing each, in the thread's transaction; `extra` for each of the site's
other records (settings, readers' accounts, signed-in readers, mail readers and their
subscriptions, blocks), after every thread. The fields were checked by
importers/parlour.py; comment changes go through `lifecycle`.

Names that only mean something in one database are translated back here: the writer's
author key names this site, a reader account's key and subject name its row here
(made from its address when the export names one this database lacks).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any, cast

from parlour.domain import errors
from parlour.domain.imports import ExtraRecord, bad_file
from parlour.domain.model import Comment, Moderation, Site, Status, Thread, WhoMayComment, WriterMail, is_id
from parlour.services import lifecycle, rules
from parlour.services.exporting import PREFIX_META_KEY
from parlour.services.folding import fold
from parlour.store import Tx
from parlour.store import exports as export_store
from parlour.store import imports as import_store
from parlour.store import moderation as moderation_store
from parlour.store import reader_accounts as account_store
from parlour.store import readers as readers_store
from parlour.store import sites as site_store
from parlour.store import subscriptions as subscription_store
from parlour.store import threads as thread_store


def own_comments(tx: Tx, site_id: str, sources: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Which of these export ids name comments of this database, on this site: made here
    (PREFIX-ID) or imported here from another format (its source, FORMAT:ID). An export
    imported back where it came from finds them all and adds nothing."""
    found = import_store.find_sources(tx, site_id, [s for s in sources if ":" in s])
    prefix = site_store.get_meta(tx, PREFIX_META_KEY)
    if not prefix:
        return found
    wanted: dict[int, str] = {}
    for source in sources:
        head, dash, number = source.rpartition("-")
        if dash and head == prefix and number.isdigit() and is_id(int(number)):
            wanted[int(number)] = source
    made_here = export_store.comments_of_site(tx, site_id, sorted(wanted))
    return found | {wanted[comment_id]: (comment_id, thread_id) for comment_id, thread_id in made_here}


def thread(tx: Tx, thread: Thread, extra: dict[str, Any], now: int) -> None:
    """When the thread began and who may comment on it."""
    thread_store.set_created_at(tx, thread.id, cast(int, extra["created_at"]))
    who = extra.get("who_may_comment")
    choice = None if who is None else WhoMayComment(str(who))
    if choice != thread.who_may_comment:
        lifecycle.set_who_may_comment(tx, thread, choice, now)


def _account_key(tx: Tx, email: str, created_at: int) -> int:
    """This database's account for an address an export names (made if new)."""
    return account_store.restore_account(tx, email.lower(), None, created_at, secrets.randbelow(2**31))


def author_key_in(tx: Tx, site_id: str, key: str, created_at: int) -> str:
    """An exported author key as this database writes it (exporting.author_key_out, undone)."""
    if key == "writer":
        return f"w:{site_id}"
    if key.startswith("account:"):
        return f"u:{_account_key(tx, key[len('account:') :], created_at)}"
    return key


def comment(tx: Tx, comment: Comment, extra: dict[str, Any], now: int) -> None:
    """The comment's exact status, pin, hearts by reader, times and author's marks."""
    stored = thread_store.get_thread_by_id(tx, comment.thread_id)
    assert stored is not None
    hearted = cast(list[tuple[str, int]], extra["hearted_by"])
    lifecycle.restore_imported(
        tx,
        comment,
        lifecycle.Restored(
            status=Status(str(extra["status"])),
            pinned=bool(extra["pinned"]),
            liked_by_writer=bool(extra["liked_by_writer"]),
            inbox_done=bool(extra["inbox_done"]),
            published_at=cast(int | None, extra["published_at"]),
            author_key=author_key_in(tx, stored.site_id, str(extra["author_key"]), comment.created_at),
            ip_hash=str(extra["ip_hash"]),
            verified=bool(extra["author_verified"]),
            hearted_by=[(str(reader), int(at)) for reader, at in hearted],
        ),
    )


def extra(
    tx: Tx, site: Site, record: ExtraRecord, comment_id_of: Callable[[str], int | None], now: int
) -> None:
    """One of the site's records besides threads and comments."""
    d: dict[str, Any] = record.data
    if record.kind == "site":
        _site(tx, site, d, record.line, now)
    elif record.kind == "reader_account":
        account_store.restore_account(tx, d["email"], d["name"], d["created_at"], secrets.randbelow(2**31))
    elif record.kind == "site_reader":
        subject = d["subject"]
        if subject.startswith("account:") and "@" in subject:
            subject = f"account:{_account_key(tx, subject[len('account:') :], d['created_at'])}"
        readers_store.restore(
            tx, site.id, subject, d["name"], fold(d["name"]), d["email"], d["picture"], d["tier"],
            d["created_at"], d["seen_at"],
        )  # fmt: skip
    elif record.kind == "mail_reader":
        reader_id = subscription_store.restore_reader(
            tx,
            site.id,
            d["email"],
            d["created_at"],
            d["confirm_sent_at"],
            d["confirmed_at"],
            d["unsubscribed_at"],
        )
        for s in d["subscriptions"]:
            _subscription(tx, site, reader_id, s, comment_id_of)
    elif record.kind == "block":
        moderation_store.restore_block(
            tx, site.id, d["kind"], d["value"], d["reason"], d["expires_at"], d["created_at"]
        )
    else:
        raise bad_file(f"unknown record type {record.kind!r}", line=record.line)


def _subscription(
    tx: Tx, site: Site, reader_id: int, s: dict[str, Any], comment_id_of: Callable[[str], int | None]
) -> None:
    found = thread_store.get_thread(tx, site.id, s["thread"])
    comment_id = None if s["comment"] is None else comment_id_of(s["comment"])
    if found is None or (s["comment"] is not None and comment_id is None):
        return  # its thread or comment was not imported (skipped, or not in the file)
    subscription_store.restore_subscription(
        tx, reader_id, found.id, comment_id, s["kind"], s["created_at"], s["ended_at"]
    )


def _site(tx: Tx, site: Site, d: dict[str, Any], line: int | None, now: int) -> None:
    """The site's name, origins and settings as the export says."""
    try:
        origins = sorted({rules.origin(o) for o in d["origins"]})
    except errors.ParlourError as exc:
        raise bad_file(exc.message, line=line) from None
    site_store.update_site(tx, site.id, name=d["name"], writer_name=d["writer_name"])
    site_store.replace_origins(tx, site.id, origins)
    site_store.update_moderation(
        tx, site.id, moderation=Moderation(d["moderation"]), held_words=tuple(d["held_words"]),
        rejected_words=tuple(d["rejected_words"]), max_links=d["max_links"],
        close_after_days=d["close_after_days"], edit_window=d["edit_window"], writer_heart=d["writer_heart"],
        writer_avatar=d["writer_avatar"], writer_mail=WriterMail(d["writer_mail"]),
        unanswered_mail=d["unanswered_mail"],
    )  # fmt: skip
    readers_store.set_site_policy(tx, site.id, WhoMayComment(d["who_may_comment"]))
    site_store.set_created_at(tx, site.id, d["created_at"])
    lifecycle.site_changed(tx, site.id, now)
