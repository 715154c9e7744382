"""The public shape of a comment: what every reader may see, and nothing more.

The author's email, address hash and identity key never leave the server; a removed
comment keeps only its place in the tree.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from parlour.domain.model import Comment, Site, Status, Thread, WhoMayComment
from parlour.services.clock import iso


def public_comment(
    comment: Comment, writer_name: str, writer_heart: bool = True, writer_avatar: str | None = None
) -> dict[str, Any]:
    """`writer_heart`: whether the site shows the writer's heart ("liked by the author");
    `writer_avatar`: her picture, on her comments."""
    removed = comment.status is Status.REMOVED
    if removed:
        author_name = None
    elif comment.is_writer:
        author_name = writer_name
    else:
        author_name = comment.author_name
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "author": {
            "name": author_name,
            "is_writer": comment.is_writer and not removed,
            "avatar_url": writer_avatar if comment.is_writer and not removed else None,
            "verified": comment.author_verified and not removed,
        },
        "body": "" if removed else comment.body,
        "html": "" if removed else comment.html,
        "created_at": iso(comment.created_at),
        "edited_at": None if removed else iso(comment.edited_at),
        "hearts": 0 if removed else comment.hearts,
        "liked_by_writer": comment.liked_by_writer and writer_heart and not removed,
        "pinned": comment.pinned and not removed,
        "removed": removed,
        "held": comment.status is Status.PENDING,
        "reply_count": comment.reply_count,
        "replies": [],
    }


def comment_on(comment: Comment, site: Site) -> dict[str, Any]:
    """The public shape of a comment of this site, with its writer's name, heart and picture."""
    return public_comment(comment, site.writer_name, site.writer_heart, site.writer_avatar)


def on_site(site: Site | None, url: str | None) -> str | None:
    """`url` if it is on one of the site's own origins, else None.

    A thread's address is sent by its first commenter, so nothing links to it unless it
    points at the writer's own pages (checked again on the way out: origins change)."""
    if not url or site is None:
        return None
    return url if "://".join(urlsplit(url)[:2]) in site.origins else None


def public_thread(site_id: str, key: str, thread: Thread | None, site: Site | None = None) -> dict[str, Any]:
    return {
        "site": site_id,
        "key": key,
        "title": thread.title if thread else None,
        "url": on_site(site, thread.url) if thread else None,
        "comment_count": thread.comment_count if thread else 0,
        "locked": thread.locked if thread else False,
        "closes_at": closes_at(site, thread),
        "who_may_comment": who_may_comment(site, thread).value,
    }


def closes_at(site: Site | None, thread: Thread | None) -> str | None:
    """When the site's `close_after_days` closes this thread (a time, so that a cached page
    stays right as the day passes), or None."""
    if site is None or thread is None or site.close_after_days is None:
        return None
    return iso(thread.created_at + site.close_after_days * 86_400_000)


def who_may_comment(site: Site | None, thread: Thread | None) -> WhoMayComment:
    """Who may comment on this thread: its own choice, or its site's."""
    if thread is not None and thread.who_may_comment is not None:
        return thread.who_may_comment
    return site.who_may_comment if site is not None else WhoMayComment.EVERYONE
