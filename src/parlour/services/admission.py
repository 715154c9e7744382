"""Admission: may this text by this author go on this thread, and shown at once or held?

A reader's comment, and a reader's edit of one, pass through here, in this order: the
thread must be open (not locked, not past the site's `close_after_days`); its author
must not be blocked; words the site rejects refuse it; then it is held for review when
the site holds everything, when it has a word the site holds or more links than the
site allows, or when it is the reader's first comment on a `first_comment` site. The
writer's own comments skip all this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from parlour.domain import errors
from parlour.domain.model import Actor, Moderation, Site, Status, Thread
from parlour.services.folding import fold, rendered_text
from parlour.store import Tx
from parlour.store import moderation as store

_LINK = re.compile(r"<a\s", re.IGNORECASE)


def has_word(text: str, words: Sequence[str], html: str | None = None) -> str | None:
    """The first of `words` that `text` (or, given, the `html` it renders to, as a
    reader reads it) contains as a whole word, compared folded: any case or width,
    invisible characters ignored, look-alike letters as the letters they look like."""
    if not words:
        return None
    seen = [fold(text)]
    if html is not None:
        seen.append(fold(rendered_text(html)))
    for word in words:
        pattern = re.compile(r"(?<!\w)" + re.escape(fold(word)) + r"(?!\w)")
        if any(pattern.search(s) for s in seen):
            return word
    return None


def check_name(site: Site, name: str | None) -> None:
    """A reader's name may not look like the writer's: her name is the mark readers trust."""
    if name and fold(" ".join(name.split())) == fold(" ".join(site.writer_name.split())):
        raise errors.NameTaken(field="author_name")


def check_open(site: Site, thread: Thread, now: int) -> None:
    """Refuse comments on a locked thread, or one older than the site keeps threads open."""
    if thread.locked:
        raise errors.ThreadLocked()
    if site.close_after_days is not None and now - thread.created_at > site.close_after_days * 86_400_000:
        raise errors.ThreadLocked(
            "This conversation is closed to new comments.", closed_after_days=site.close_after_days
        )


def check_author(
    tx: Tx, site: Site, actor: Actor, email: str | None, now: int, signed_key: str | None = None
) -> None:
    """Refuse a blocked reader: by identity (`signed_key` for a signed-in reader), email,
    or address."""
    reader = signed_key or actor.reader_id
    if store.is_blocked(tx, site.id, actor.ip_hash, reader, email.lower() if email else None, now):
        raise errors.ReaderBlocked()


def status_for(tx: Tx, site: Site, body: str, html: str, author_key: str) -> Status:
    """Published or held, for a reader's text; refused (an error) for a rejected word."""
    if has_word(body, site.rejected_words, html):
        raise errors.CommentRejected(field="body")
    if site.moderation is Moderation.HOLD_ALL:
        return Status.PENDING
    if has_word(body, site.held_words, html):
        return Status.PENDING
    if site.max_links is not None and len(_LINK.findall(html)) > site.max_links:
        return Status.PENDING
    if site.moderation is Moderation.FIRST_COMMENT and not store.has_published(tx, site.id, author_key):
        return Status.PENDING
    return Status.PUBLISHED
