"""Isso's SQLite database (`comments.db`) as import records.

The file is the writer's old Isso database, opened read-only here with the standard
library: it is an input file like any other format's, not Parlour's database, so this is
no concern of `store/` (which only ever opens Parlour's own).

Isso's schema (isso/db/threads.py, isso/db/comments.py): `threads(id, uri, title)` and
`comments(tid, id, parent, created, modified, mode, remote_addr, text, author, email,
website, likes, dislikes, voters, notification)`. `created` and `modified` are seconds
(floats); `mode` is 1 published, 2 awaiting moderation, 4 deleted (kept, emptied, because
it has replies); `text` is the Markdown the reader wrote, as written, while `author` and
`email` are stored HTML-escaped (isso/views/comments.py escapes them on the way in) and
are unescaped here. Isso shows a line break wherever the reader typed one (mistune's
`hard_wrap`, its default since 0.13): so does the imported text (`hard_wrapped`). A
`text` holding HTML (what `isso import` stores from a Disqus or WordPress export, or a
reader's inline tags) is rendered as Isso would and turned into Markdown. Isso
flattens replies: a reply's `parent` is always a top-level comment, which is kept as it
is. Likes become hearts (dislikes have no counterpart). A thread's `uri` is the page's
path.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from html import unescape
from pathlib import Path

from markdown_it import MarkdownIt

from parlour.domain.imports import CommentRecord, Record, Skipped, State, ThreadRecord, bad_file
from parlour.importers.fields import MAX_COUNT, Place, hard_wrapped, seconds_to_millis
from parlour.importers.html import to_markdown

_MODES = {1: State.PUBLISHED, 2: State.PENDING, 4: State.REMOVED}
_NO_TITLE = "Untitled."  # what Isso calls a page it found no <h1> on (isso/utils/parse.py): no title
_NEEDED = {
    "threads": {"id", "uri", "title"},
    "comments": {"tid", "id", "parent", "created", "modified", "mode", "text", "author", "email", "likes"},
}
_QUERY = """
    SELECT c.id, c.tid, t.id, t.uri, t.title, c.parent, c.created, c.modified, c.mode,
           c.text, c.author, c.email, c.likes
      FROM comments AS c LEFT JOIN threads AS t ON t.id = c.tid
     ORDER BY c.tid, c.id
"""


def read(path: Path) -> Iterator[Record]:
    """Every thread that has comments, each followed by its comments, oldest first."""
    with path.open("rb") as probe:
        if probe.read(16) != b"SQLite format 3\x00":
            raise bad_file("this is not an SQLite database (Isso keeps its comments in one)")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise bad_file(f"the database cannot be opened ({exc})") from None
    try:
        yield from _records(conn)
    finally:
        conn.close()


def _records(conn: sqlite3.Connection) -> Iterator[Record]:
    place = Place(where="comments")
    try:
        # A hostile file's schema runs no functions of ours, and nothing is written.
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA query_only = ON")
        conn.text_factory = bytes  # decoded field by field, so bad UTF-8 is named
        _check_schema(conn)
        cursor = conn.execute(_QUERY)
        thread_seen: object = None
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.Error as exc:
                raise place.bad(f"the database is damaged ({exc})") from None
            if row is None:
                return
            (
                comment_id,
                tid,
                thread_id,
                uri,
                title,
                parent,
                created,
                modified,
                mode,
                body,
                author,
                email,
                likes,
            ) = row
            place.where = f"comment id {comment_id}"
            if thread_id is None:
                yield Skipped("comment of no thread", source_id=str(comment_id))
                continue
            if tid != thread_seen:
                thread_seen = tid
                url = _opt_str(uri, "uri", Place(where=f"thread id {thread_id}"))
                if url is None:
                    raise bad_file("the thread has no uri", where=f"thread id {thread_id}")
                named = _opt_str(title, "title", place)
                yield ThreadRecord(
                    source_id=str(thread_id), url=url, title=None if named == _NO_TITLE else named
                )
            yield _comment(
                place, comment_id, thread_id, parent, created, modified, mode, body, author, email, likes
            )
    except sqlite3.Error as exc:
        raise place.bad(f"the database cannot be read ({exc})") from None


def _check_schema(conn: sqlite3.Connection) -> None:
    tables = {
        bytes(name).decode("utf-8", "replace")
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    for table, columns in _NEEDED.items():
        if table not in tables:
            raise bad_file(f"this is not an Isso database: it has no {table} table")
        have = {
            bytes(row[1]).decode("utf-8", "replace") for row in conn.execute(f"PRAGMA table_info({table})")
        }
        missing = sorted(columns - have)
        if missing:
            raise bad_file(f"this is not an Isso database: {table} has no {', '.join(missing)}")


def _comment(
    place: Place,
    comment_id: object,
    thread_id: object,
    parent: object,
    created: object,
    modified: object,
    mode: object,
    body: object,
    author: object,
    email: object,
    likes: object,
) -> CommentRecord:
    if not isinstance(comment_id, int):
        raise place.bad("the comment id is not a number")
    if parent is not None and not isinstance(parent, int):
        raise place.bad("parent is not a comment id")
    state = _MODES.get(mode) if isinstance(mode, int) else None
    if state is None:
        raise place.bad(f"mode {mode!r} is not one of Isso's (1, 2 or 4)")
    if likes is None:
        likes = 0
    if not isinstance(likes, int) or not 0 <= likes <= MAX_COUNT:
        raise place.bad("likes is not a count")
    return CommentRecord(
        source_id=str(comment_id),
        thread=str(thread_id),
        body=_body(_opt_str(body, "text", place) or ""),
        created_at=seconds_to_millis(created, "created", place),
        parent=None if parent is None else str(parent),
        author_name=_unescaped(_opt_str(author, "author", place)),
        author_email=_unescaped(_opt_str(email, "email", place)),
        state=state,
        hearts=likes,
        edited_at=None if modified is None else seconds_to_millis(modified, "modified", place),
    )


# Tags Isso shows (its sanitiser's list, isso/utils/html.py, and the common ones it
# strips): a text with one was stored as HTML, wholly (Isso's own `isso import` of a
# Disqus or WordPress export keeps their HTML) or in part (a reader's inline tags).
_TAG = re.compile(
    r"</?(?:p|br|hr|a|b|i|u|s|em|strong|del|ins|strike|sub|sup|code|pre|blockquote|ul|ol|li"
    r"|h[1-6]|table|thead|tbody|tr|th|td|div|span|img)(?=[\s/>])[^<>]*>",
    re.IGNORECASE,
)
_HTML_BLOCK = re.compile(r"\s*<(?:p|div|blockquote|ul|ol|pre|table|h[1-6])(?=[\s/>])", re.IGNORECASE)
# Isso's Markdown (mistune with hard_wrap and inline HTML), as HTML for html.to_markdown.
_ISSO_MARKDOWN = MarkdownIt("commonmark", {"html": True, "breaks": True}).enable("strikethrough")


def _body(text: str) -> str:
    """Parlour's Markdown for an Isso comment's `text`: Markdown a reader typed, where Isso
    shows a line break wherever one was typed, or HTML, which Isso shows as HTML (through
    its sanitiser) and Parlour would show as tags."""
    if _TAG.search(text) is None:
        return hard_wrapped(text)
    if _HTML_BLOCK.match(text):  # a whole comment in HTML, however indented: not a code block
        return to_markdown(text)
    return to_markdown(_ISSO_MARKDOWN.render(text))


def _unescaped(value: str | None) -> str | None:
    return None if value is None else unescape(value)


def _opt_str(value: object, field: str, place: Place) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise place.bad(f"{field} is not UTF-8 text") from None
    if not isinstance(value, str):
        raise place.bad(f"{field} is not text")
    return value
