"""Commento's and Comentario's JSON exports as import records.

Two shapes, told apart by each comment's fields (and the file's `version`):

- Commento's `exportDomain` (api/domain_export.go), which Comentario's version 1 keeps:
  `{"version": 1, "comments": [{commentHex, domain | host, url | path, commenterHex,
  markdown, html, parentHex ("root" for none), score, state ("approved", "unapproved",
  "flagged"), creationDate, deleted}], "commenters": [{commenterHex, email, name, link |
  websiteUrl, photo | avatarUrl, provider, joinDate, isModerator}]}`. Commento files its
  page path under "url", Comentario's version 1 under "path".
- Comentario's version 3 (internal/svc/import_comentario.go, gzipped):
  `{"version": 3, "pages": [{id, path, title, isReadonly}], "comments": [{id, parentId,
  pageId, markdown, html, score, isApproved, isPending, isDeleted, isSticky, createdTime,
  editedTime, userCreated, authorName}], "commenters": [{id, email, name, isModerator}]}`.

Comments name their authors by id, and the commenters come after the comments (Go writes
the fields in that order), so the file is read twice: once for the commenters and pages
(kept in memory, one small entry each), once for the comments, streamed. `isModerator`
marks the writer's replies; a positive score (up votes less down votes) becomes hearts.
"unapproved" and "flagged" (held by the spam check) go to the queue for the writer to
decide; a comment Comentario's moderators rejected (neither approved nor pending) comes in
rejected (kept, never shown). The anonymous commenter ("anonymous", or the all-zero id) has no name here.

Commento renders Markdown with blackfriday without hard line breaks: a single line break
joins the lines, as CommonMark does, so its text comes as it is. Comentario's version 3
renders with goldmark's `WithHardWraps` (internal/util/util.go, MarkdownToHTML): a line
breaks wherever the reader broke it, and so does its imported text (`hard_wrapped`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson  # type: ignore[import-untyped]  # no stubs; used through its documented calls only

from parlour.domain.imports import CommentRecord, Record, State, ThreadRecord
from parlour.importers.fields import (
    Place,
    count,
    flag,
    hard_wrapped,
    html_to_markdown,
    ident,
    json_error,
    json_items,
    millis,
    obj,
    open_maybe_gzip,
    opt_millis,
    opt_text,
)

_COLLECTED = {"commenters.item": "commenter", "pages.item": "page"}
_ANONYMOUS = {"anonymous", "0" * 64, "00000000-0000-0000-0000-000000000000"}
_STATES = {"approved": State.PUBLISHED, "unapproved": State.PENDING, "flagged": State.PENDING}


@dataclass(slots=True, frozen=True)
class _Commenter:
    name: str | None
    email: str | None
    moderator: bool


@dataclass(slots=True, frozen=True)
class _Page:
    path: str
    title: str | None
    closed: bool


def read(path: Path) -> Iterator[Record]:
    """Each page the first time a comment on it comes, then the comment."""
    commenters, pages = _people_and_pages(path)
    seen: set[str] = set()
    place = Place()
    with open_maybe_gzip(path) as stream:
        for item in json_items(stream, "comments", place, "comment"):
            record = obj(item, "a comment", place)
            if "commentHex" in record:
                comment, page = _comment_v1(record, commenters, place)
            else:
                comment, page = _comment_v3(record, commenters, pages, place)
            if comment.thread not in seen:
                seen.add(comment.thread)
                yield ThreadRecord(
                    source_id=comment.thread, url=page.path, title=page.title, closed=page.closed
                )
            yield comment


def _people_and_pages(path: Path) -> tuple[dict[str, _Commenter], dict[str, _Page]]:
    """The first pass: the file's version, its commenters and (version 3) its pages."""
    commenters: dict[str, _Commenter] = {}
    pages: dict[str, _Page] = {}
    place = Place()
    building: tuple[str, ijson.ObjectBuilder] | None = None
    comments = 0  # counted, so that an error among them names one
    with open_maybe_gzip(path) as stream:
        try:
            events = ijson.parse(stream, use_float=True)  # big integers refused, not crashed on
            first = next(events, None)
            if first is None or first[1] != "start_map":
                raise place.bad("this is not a Commento or Comentario export (no JSON object)")
            for prefix, event, value in events:
                if prefix == "comments.item" and event not in ("map_key", "end_map", "end_array"):
                    comments += 1
                    place.where = f"comment {comments}"
                if prefix == "version" and event != "map_key":
                    if event != "number" or value not in (1, 3):
                        raise place.bad(f"version {value!r} of the export is not known here")
                    continue
                if building is None:
                    if prefix in _COLLECTED:
                        done = len(commenters) if prefix == "commenters.item" else len(pages)
                        place.where = f"{_COLLECTED[prefix]} {done + 1}"
                        if event != "start_map":
                            raise place.bad(f"each of {_COLLECTED[prefix]}s should be a JSON object")
                        building = (prefix, ijson.ObjectBuilder())
                    else:
                        continue
                key, builder = building
                builder.event(event, value)
                if prefix == key and event == "end_map":
                    building = None
                    if key == "commenters.item":
                        place.where = f"commenter {len(commenters) + 1}"
                        _add_commenter(commenters, builder.value, place)
                    else:
                        place.where = f"page {len(pages) + 1}"
                        _add_page(pages, builder.value, place)
        except ijson.JSONError as exc:
            raise place.bad(json_error(exc)) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise place.bad(f"the file cannot be read ({exc})") from None
    return commenters, pages


def _add_commenter(commenters: dict[str, _Commenter], record: Mapping[str, Any], place: Place) -> None:
    key = ident(record, "commenterHex" if "commenterHex" in record else "id", place)
    commenters[key] = _Commenter(
        name=opt_text(record, "name", place),
        email=opt_text(record, "email", place),
        moderator=flag(record, "isModerator", place),
    )


def _add_page(pages: dict[str, _Page], record: Mapping[str, Any], place: Place) -> None:
    pages[ident(record, "id", place)] = _Page(
        path=_path(opt_text(record, "path", place), place),
        title=opt_text(record, "title", place),
        closed=flag(record, "isReadonly", place),
    )


def _path(value: str | None, place: Place) -> str:
    if value is None:
        raise place.bad("the page has no path")
    return value if value.startswith(("/", "http://", "https://")) else f"/{value}"


def _author(commenters: Mapping[str, _Commenter], key: str, place: Place) -> _Commenter:
    if key in _ANONYMOUS:
        return _Commenter(name=None, email=None, moderator=False)
    found = commenters.get(key)
    if found is None:
        raise place.bad(f"the commenter {key[:80]} is not among the file's commenters")
    return found


def _body(record: Mapping[str, Any], place: Place, *, hard_wraps: bool = False) -> str:
    markdown = opt_text(record, "markdown", place)
    if markdown is not None:
        return hard_wrapped(markdown) if hard_wraps else markdown
    html = opt_text(record, "html", place)
    return html_to_markdown(html) if html else ""


def _deleted_as_exported(record: Mapping[str, Any]) -> bool:
    """Commento deletes a comment by writing "[deleted]" over its markdown and html and
    "anonymous" over its author, but its export (api/domain_export.go) selects neither
    `deleted` nor `html`: every comment says false, and its html "". A comment with html
    rendered from the text ("<p>…", Comentario's exports) is a reader's own words."""
    return (
        record.get("markdown") == "[deleted]"
        and record.get("commenterHex") == "anonymous"
        and record.get("html") in ("", "[deleted]", None)
    )


def _comment_v1(
    record: Mapping[str, Any], commenters: Mapping[str, _Commenter], place: Place
) -> tuple[CommentRecord, _Page]:
    comment_id = ident(record, "commentHex", place)
    page_path = _path(opt_text(record, "path", place) or opt_text(record, "url", place), place)
    domain = opt_text(record, "domain", place) or opt_text(record, "host", place)
    url = f"https://{domain}{page_path}" if domain and page_path.startswith("/") else page_path
    author = _author(commenters, ident(record, "commenterHex", place), place)
    parent = opt_text(record, "parentHex", place)
    deleted = flag(record, "deleted", place) or _deleted_as_exported(record)
    state_name = opt_text(record, "state", place) or "approved"
    state = _STATES.get(state_name)
    if state is None:
        raise place.bad(f"state {state_name[:40]!r} is not one of Commento's")
    comment = CommentRecord(
        source_id=comment_id,
        thread=url,
        body="" if deleted else _body(record, place),
        created_at=millis(record.get("creationDate"), "creationDate", place),
        parent=None if parent in (None, "root") else parent,
        author_name=author.name,
        author_email=author.email,
        state=State.REMOVED if deleted else state,
        hearts=max(count(record.get("score"), "score", place), 0),
        is_writer=author.moderator,
    )
    return comment, _Page(path=url, title=None, closed=False)


def _comment_v3(
    record: Mapping[str, Any],
    commenters: Mapping[str, _Commenter],
    pages: Mapping[str, _Page],
    place: Place,
) -> tuple[CommentRecord, _Page]:
    comment_id = ident(record, "id", place)
    page_id = ident(record, "pageId", place)
    page = pages.get(page_id)
    if page is None:
        raise place.bad(f"the page {page_id[:80]} is not among the file's pages")
    author_id = opt_text(record, "userCreated", place)
    author = _author(commenters, author_id, place) if author_id else _author(commenters, "anonymous", place)
    deleted = flag(record, "isDeleted", place)
    if deleted:
        state = State.REMOVED
    elif flag(record, "isApproved", place):
        state = State.PUBLISHED
    elif flag(record, "isPending", place):
        state = State.PENDING
    else:
        state = State.REJECTED  # rejected by a moderator there
    comment = CommentRecord(
        source_id=comment_id,
        thread=page_id,
        body="" if deleted else _body(record, place, hard_wraps=True),
        created_at=millis(record.get("createdTime"), "createdTime", place),
        parent=opt_text(record, "parentId", place),
        author_name=author.name or opt_text(record, "authorName", place),
        author_email=author.email,
        state=state,
        hearts=max(count(record.get("score"), "score", place), 0),
        is_writer=author.moderator,
        pinned=flag(record, "isSticky", place),  # Comentario's sticky comment: pinned on top
        edited_at=opt_millis(record.get("editedTime"), "editedTime", place),
    )
    return comment, page
