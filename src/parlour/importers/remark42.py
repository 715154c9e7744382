"""Remark42's backup file (its own export) as import records.

Remark42 writes (backend/app/migrator/native.go) one JSON object a line, gzipped in its
automatic backups and plain from `/api/v1/admin/export?mode=stream`, and reads back any
stream of JSON values (Go's json.Decoder), as `_lines` does: first a meta record,
`{"version": 1, "users": [...], "posts": [{"url", "read_only"}]}`, then every comment as
its `store.Comment`: `id`, `pid` (the parent's id, "" for none), `text` (HTML), `orig`
(the Markdown the reader typed, in newer versions), `user {name, id, picture, ip, admin,
block, verified}`, `locator {site, url}`, `score`, `votes {user id: up?}`, `time`
(RFC 3339), `edit {time, summary}`, `pin`, `delete`, `title`.

Threads are the comments' `locator.url`s, in the order first seen, closed when the meta
record marks the post read-only. The body is `orig` when there is one, else `text`
converted to Markdown. Remark42 stores `orig` and `user.name` HTML-escaped
(`store.Comment.Sanitize`: bluemonday on `orig`, `HTMLEscapeString` or
`escapeHTMLWithSome` on the name), so `&gt;` is a quote's `>` and `&amp;` an ampersand:
both are unescaped here. Remark42 renders with blackfriday's `HardLineBreak`
(store/formatter.go): a line break wherever the reader typed one, as the imported text
keeps (`hard_wrapped`). `user.admin` marks the writer's replies; `delete` keeps a removed
comment in its place. Hearts are the up votes in `votes` when it is there (Remark42 keeps
who voted which way), else `score` when above zero: score is up votes less down votes, so
it can only undercount, and a down vote has no counterpart here.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator, Mapping
from html import unescape
from pathlib import Path
from typing import Any

import orjson

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, Record, State, ThreadRecord, bad_file
from parlour.importers.fields import (
    MAX_COUNT,
    Place,
    count,
    flag,
    hard_wrapped,
    html_to_markdown,
    ident,
    millis,
    obj,
    open_maybe_gzip,
    opt_millis,
    opt_obj,
    opt_text,
    text,
)

# A line longer than this is not a comment: refused rather than read into memory.
_MAX_LINE = 16 * 1024 * 1024


def read(path: Path) -> Iterator[Record]:
    """A thread the first time its URL is seen, then its comments, line by line."""
    closed: set[str] = set()
    seen: set[str] = set()
    with open_maybe_gzip(path) as stream:
        for number, record in _lines(stream):
            place = Place(line=number)
            if number == 1 and "locator" not in record:
                closed = _meta(record, place)
                continue
            comment, url, title = _comment(record, place)
            if url not in seen:
                seen.add(url)
                yield ThreadRecord(source_id=url, url=url, title=title, closed=url in closed, line=number)
            yield comment


def _lines(stream: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Each record and the line it starts on. Remark42 writes one a line (read with
    orjson, the fast path); it reads any stream of JSON values (Go's json.Decoder), so a
    line holding more than one, or a record spread over several lines (a file edited by
    hand), is read as Remark42 would."""
    number = 0
    pending: _Pending | None = None
    while True:
        number += 1
        try:
            raw = stream.readline(_MAX_LINE + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise bad_file(f"the file cannot be read ({exc})", line=number) from None
        if not raw:
            if pending is not None:
                raise pending.failed()
            return
        if len(raw) > _MAX_LINE:
            raise bad_file("the line is too long to be a comment", line=number)
        if pending is None:
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                pending = _Pending(number, f"this line is not JSON ({str(exc).splitlines()[0]})")
            else:
                yield number, obj(value, "the line", Place(line=number))
                continue
        yield from pending.add(raw)
        if pending.empty():
            pending = None


class _Pending:
    """Text that is not one JSON value a line: the whole values in it as they complete,
    with the line each starts on; a clear error (the first line's) for anything else."""

    _DECODER = json.JSONDecoder(parse_constant=lambda name: _not_json(name))

    def __init__(self, line: int, message: str) -> None:
        self._line = line  # where the text held starts
        self._message = message
        self._chunks: list[str] = []  # the text from that line on
        self._size = 0
        self._depth = 0  # of objects and arrays open at the end of the text held

    def _may_end(self, line: str) -> bool:
        """Follow the nesting through `line` (linear in the text, however it comes): whether
        a value can have ended in it. A string the line does not close, or a bracket
        closing nothing, is no JSON at all."""
        ended = False
        for match in _TOKENS.finditer(line):  # one by one: a lone quote ends the look there
            token = match.group()
            if token == '"':
                raise self.failed()  # JSON strings hold no raw line break
            if token in ("{", "["):
                self._depth += 1
            elif token in ("}", "]"):
                self._depth -= 1
                if self._depth < 0:
                    raise self.failed()
                ended = ended or self._depth == 0
        return ended or self._depth == 0

    def failed(self) -> InvalidImportFile:
        return bad_file(self._message, line=self._line)

    def empty(self) -> bool:
        return not self._chunks  # what is left always starts a value

    def add(self, raw: bytes) -> Iterator[tuple[int, Mapping[str, Any]]]:
        try:
            chunk = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.failed() from None
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > _MAX_LINE:
            raise bad_file("the record is too long to be a comment", line=self._line)
        if not self._may_end(chunk):
            return  # inside a value still: no need to parse what came so far again
        text = "".join(self._chunks)
        at = counted = 0
        line = self._line
        while True:
            start = _SPACE.match(text, at).end()  # type: ignore[union-attr]  # \s* always matches
            line += text.count("\n", counted, start)
            counted = start
            if start == len(text):
                self._line, self._chunks, self._size = line, [], 0
                return
            try:
                value, at = self._DECODER.raw_decode(text, start)
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                rest = text[start:]
                self._line, self._chunks, self._size = line, [rest], len(rest)
                if not isinstance(exc, json.JSONDecodeError) or exc.pos < len(text.rstrip()):
                    # not merely cut off by the line's end: no JSON, whatever comes next
                    detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    self._message = f"this line is not JSON ({detail})"
                    raise self.failed() from None
                return
            yield line, obj(value, "the line", Place(line=line))


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
# A whole string (its brackets are text), a bracket, or a quote that opens a string the
# line does not close.
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{}\[\]]|"')


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _meta(record: Mapping[str, Any], place: Place) -> set[str]:
    """The URLs of read-only posts, from the meta record (versions 0 and 1 are Remark42's)."""
    version = record.get("version", 0)
    if version not in (0, 1) or isinstance(version, bool):
        raise place.bad(f"version {version!r} of Remark42's backup is not known here")
    posts = record.get("posts") or []
    if not isinstance(posts, list):
        raise place.bad("posts should be a list")
    closed = set()
    for post in posts:
        post = obj(post, "a post", place)
        if flag(post, "read_only", place):
            closed.add(text(post, "url", place))
    return closed


def _comment(record: Mapping[str, Any], place: Place) -> tuple[CommentRecord, str, str | None]:
    comment_id = ident(record, "id", place)
    place.where = f"comment {comment_id[:80]}"
    locator = obj(record.get("locator"), "locator", place)
    url = text(locator, "url", place)
    if not url:
        raise place.bad("locator.url is empty")
    user = opt_obj(record, "user", place)
    orig = opt_text(record, "orig", place)
    html = opt_text(record, "text", place)
    deleted = flag(record, "delete", place)
    edit = opt_obj(record, "edit", place)
    name = opt_text(user, "name", place)
    comment = CommentRecord(
        source_id=comment_id,
        thread=url,
        body=hard_wrapped(unescape(orig)) if orig is not None else html_to_markdown(html) if html else "",
        created_at=millis(record.get("time"), "time", place),
        parent=opt_text(record, "pid", place),
        author_name=None if name is None else unescape(name),
        author_email=opt_text(user, "email", place),
        state=State.REMOVED if deleted else State.PUBLISHED,
        hearts=_hearts(record, place),
        is_writer=flag(user, "admin", place),
        pinned=flag(record, "pin", place),
        edited_at=opt_millis(edit.get("time"), "edit.time", place),
        line=place.line,
    )
    return comment, url, opt_text(record, "title", place)


def _hearts(record: Mapping[str, Any], place: Place) -> int:
    votes = record.get("votes")
    if votes:
        votes = obj(votes, "votes", place)
        if len(votes) > MAX_COUNT:
            raise place.bad("votes is out of range")
        return sum(1 for up in votes.values() if up is True)
    return max(count(record.get("score"), "score", place), 0)
