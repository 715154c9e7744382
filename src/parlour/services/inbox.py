"""The writer's reply inbox: no reader goes unanswered.

Every published reader comment on the user's sites that is for the writer (it starts a
conversation, answers her, or names her or asks a question: domain/addressing.py), has
no reply from her and was not marked "no reply needed" is waiting, oldest first. Answering it (as the
writer, with the author mark), or marking it, takes it out; a heart alone does not.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from parlour.domain import errors
from parlour.domain.model import Actor, Event, User
from parlour.services import accounts, lifecycle, posting
from parlour.services.context import Context
from parlour.services.views import on_site
from parlour.store import Tx, events
from parlour.store import comments as comment_store
from parlour.store import inbox as store
from parlour.store.inbox import InboxItem

INBOX_LIMIT = 200


class InboxConsumer:
    """Keeps the `inbox` table from the event record.

    Whatever happened to a comment (posted, approved, removed, restored, marked "no
    reply needed", answered by a reply of the writer's), the comment and its parent are
    checked again: in the inbox if waiting for the writer, out of it if not. Acting the
    same way on every kind keeps this correct for kinds added later.
    """

    name = "inbox"

    def handle(self, tx: Tx, batch: Sequence[Event]) -> None:
        store.refresh(tx, [event.comment_id for event in batch if event.comment_id is not None])


CONSUMER = InboxConsumer()
# A question to the writer: a question mark, or a question word opening a sentence.
_QUESTION = re.compile(
    r"\?|(?:^|[.!]\s+)(?:how|what|why|when|where|which|who|do you|did you|could you|would you|can you|"
    r"have you|are you|is there)\b",
    re.IGNORECASE,
)


def asks_something(body: str) -> bool:
    """Does the comment ask the writer something? (Marked in the inbox.)"""
    return bool(_QUESTION.search(body))


def waiting(ctx: Context, user: User, site_id: str | None = None) -> list[InboxItem]:
    """Unanswered reader comments on the sites this user works on (or on one of them)."""
    sites = list(accounts.roles(ctx, user))
    if site_id is not None:
        accounts.require_site(ctx, user, site_id)
        sites = [site_id]
    with ctx.db.read() as tx:  # true at once, even while the consumer catches up
        items = store.list_unanswered(tx, sites, INBOX_LIMIT, events.cursor(tx, CONSUMER.name))
    return [_safe_link(ctx, item) for item in items]


def _safe_link(ctx: Context, item: InboxItem) -> InboxItem:
    """Keep the post's address only when it is on one of the site's origins: the first
    commenter sends it, and the desk should not link the writer to just any page."""
    url = on_site(ctx.sites.get(item.site_id), item.thread_url)
    return item if url == item.thread_url else replace(item, thread_url=url)


def _thread_for(ctx: Context, user: User, comment_id: int) -> tuple[str, str]:
    """The comment's (site, thread key), once the user is known to work on that site."""
    with ctx.db.read() as tx:
        found = store.thread_of_comment(tx, comment_id)
    if found is None:
        raise errors.UnknownComment()
    accounts.require_site(ctx, user, found[0])
    return found


def _as_writer(site_id: str, ip_hash: str) -> Actor:
    return Actor(ip_hash=ip_hash, writer_site=site_id)


def reply(ctx: Context, user: User, comment_id: int, body: object, ip_hash: str) -> dict[str, Any]:
    """Answer a comment as the writer; it leaves the inbox."""
    site_id, thread_key = _thread_for(ctx, user, comment_id)
    posted = posting.post_comment(
        ctx,
        _as_writer(site_id, ip_hash),
        posting.NewComment(site_id, thread_key, body, parent_id=comment_id),
        who=lifecycle.Audit(user.id, "reply"),
    )
    return posted.comment


def heart(ctx: Context, user: User, comment_id: int, on: bool, ip_hash: str) -> dict[str, Any]:
    """The writer's heart (shown as "liked by the author")."""
    site_id, _ = _thread_for(ctx, user, comment_id)
    who = lifecycle.Audit(user.id, "heart" if on else "unheart")
    return posting.set_heart(ctx, _as_writer(site_id, ip_hash), comment_id, on, who)


def mark_done(ctx: Context, user: User, comment_id: int, done: bool = True) -> None:
    """ "No reply needed": the comment leaves the inbox (or comes back)."""
    _thread_for(ctx, user, comment_id)
    with ctx.db.write() as tx:
        found = comment_store.get_comment_and_site(tx, comment_id)
        if found is None:
            raise errors.UnknownComment()
        comment, site_id = found
        who = lifecycle.Audit(user.id, "no_reply_needed" if done else "reply_needed")
        lifecycle.mark_answered(tx, comment, site_id, done, ctx.now(), who)


@dataclass(frozen=True, slots=True)
class Week:
    start: str  # ISO date of the week's Monday
    comments: int  # by readers
    replies: int  # by the writer
    reply_rate: float | None  # readers' comments of that week answered by now
    median_reply_hours: float | None  # from a reader's comment to the writer's reply


def weekly(ctx: Context, user: User, weeks: int = 8) -> list[Week]:
    """Figures for the last `weeks` weeks (Monday to Sunday, UTC), oldest first."""
    sites = list(accounts.roles(ctx, user))
    today = datetime.fromtimestamp(ctx.now() / 1000, UTC).date()
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    since = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000)
    with ctx.db.read() as tx:
        rows = store.conversation_times(tx, sites, since)
        answered = store.answered_since(tx, sites, since)

    def week_of(ms: int) -> int:
        day = datetime.fromtimestamp(ms / 1000, UTC).date()
        return (day - first).days // 7

    counts = [[0, 0, 0, 0] for _ in range(weeks)]  # comments, replies, answered, asked
    delays: list[list[float]] = [[] for _ in range(weeks)]
    for created, is_writer, parent_created, parent_is_writer in rows:
        index = week_of(created)
        if not 0 <= index < weeks:
            continue
        if is_writer:
            counts[index][1] += 1
            if parent_created is not None and not parent_is_writer:
                delays[index].append((created - parent_created) / 3_600_000)
        else:
            counts[index][0] += 1
    for created, was_answered in answered:
        index = week_of(created)
        if 0 <= index < weeks:
            counts[index][3] += 1
            counts[index][2] += int(was_answered)
    return [
        Week(
            start=(first + timedelta(days=7 * i)).isoformat(),
            comments=c[0],
            replies=c[1],
            reply_rate=c[2] / c[3] if c[3] else None,
            median_reply_hours=statistics.median(delays[i]) if delays[i] else None,
        )
        for i, c in enumerate(counts)
    ]
