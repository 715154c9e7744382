"""Parlour's own export (docs/export-format.md): JSON Lines, read a line at a time.

Threads and comments become the generic records, with what only Parlour knows (the
exact status, pins, hearts by reader, the author's key, ...) in their `extra`; the site,
readers' accounts, signed-in readers, mail readers and blocks become `ExtraRecord`s,
which services/restoring.py stores. Every field is checked here, so a bad file stops at
its line before anything is stored.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import (
    MAX_COUNT,
    CommentRecord,
    ExtraRecord,
    Record,
    State,
    ThreadRecord,
    bad_file,
)
from parlour.domain.model import Moderation, WhoMayComment, WriterMail

FORMAT = "parlour"
VERSION = 1
MAX_LINE = 64 * 1024 * 1024  # bytes: a comment with every heart of a busy site fits many times

_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z")
STATUSES = ("published", "pending", "removed", "rejected", "spam")
_STATE = {
    "published": State.PUBLISHED,
    "pending": State.PENDING,
    "removed": State.REMOVED,
    "rejected": State.REJECTED,
    "spam": State.SPAM,
}
EXTRA_KINDS = ("site", "reader_account", "site_reader", "mail_reader", "block")
WHO = tuple(w.value for w in WhoMayComment)


class _Line:
    """One line's object, with checked getters that name the line when a field is wrong."""

    def __init__(self, data: dict[str, Any], number: int) -> None:
        self.data = data
        self.number = number

    def fail(self, reason: str) -> InvalidImportFile:
        return bad_file(reason, line=self.number)

    def text(self, name: str, *, optional: bool = False) -> Any:
        value = self.data.get(name)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(f"`{name}` must be a string{' or null' if optional else ''}")
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        if not isinstance(value, bool):
            raise self.fail(f"`{name}` must be true or false")
        return value

    def number_(self, name: str, *, optional: bool = False) -> Any:
        value = self.data.get(name)
        if value is None and optional:
            return None
        if type(value) is not int or not 0 <= value <= MAX_COUNT:
            raise self.fail(f"`{name}` must be a whole number{' or null' if optional else ''}")
        return value

    def time(self, name: str, *, optional: bool = False) -> Any:
        value = self.data.get(name)
        if value is None and optional:
            return None
        return parse_time(value, name, self)

    def choice(self, name: str, choices: tuple[str, ...], *, optional: bool = False) -> Any:
        value = self.text(name, optional=optional)
        if value is not None and value not in choices:
            raise self.fail(f"`{name}` must be one of {', '.join(choices)}")
        return value

    def words(self, name: str) -> list[str]:
        value = self.data.get(name)
        if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
            raise self.fail(f"`{name}` must be a list of strings")
        return value


def parse_time(value: object, name: str, line: _Line) -> int:
    """RFC 3339 in UTC with milliseconds (as the export writes it) to integer ms, exactly."""
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise line.fail(f"`{name}` must be a time like 2026-11-27T09:30:00.125Z")
    try:
        seconds = calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise line.fail(f"`{name}` is not a real time") from None
    return seconds * 1000 + int(match[2])


def read(path: Path) -> Iterator[Record]:
    """The file's records, one line at a time."""
    count = 0
    header = ended = False
    number = 0
    with path.open("rb") as file:
        while raw := file.readline(MAX_LINE + 1):
            number += 1
            if len(raw) > MAX_LINE:
                raise bad_file("the line is longer than 64 MiB", line=number)
            if not raw.strip():
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise bad_file(f"not JSON ({exc})", line=number) from None
            if not isinstance(data, dict):
                raise bad_file("each line must be a JSON object", line=number)
            line = _Line(data, number)
            if not header:
                _check_header(line)
                header = True
                continue
            if ended:
                raise line.fail("nothing may follow the `end` line")
            kind = data.get("type")
            if kind == "end":
                if line.number_("records") != count:
                    raise line.fail(f"the file should hold {data['records']} records and holds {count}")
                ended = True
                continue
            count += 1
            yield _record(line, kind)
    if not header:
        raise bad_file("the file is empty: it is not a Parlour export")
    if not ended:
        raise bad_file("the file ends before its `end` line: it was cut short", line=number + 1)


def _check_header(line: _Line) -> None:
    if line.data.get("format") != FORMAT:
        raise line.fail('not a Parlour export: its first line must say "format": "parlour"')
    version = line.data.get("version")
    if type(version) is not int:
        raise line.fail("`version` must be a whole number")
    if version > VERSION:
        raise line.fail(
            f"this is a version {version} export; this Parlour reads version {VERSION}: upgrade it"
        )
    if version < 1:
        raise line.fail(f"there is no version {version} of the format")


def _record(line: _Line, kind: object) -> Record:
    if kind == "thread":
        return _thread(line)
    if kind == "comment":
        return _comment(line)
    if kind in EXTRA_KINDS:
        return ExtraRecord(str(kind), _extra(line, str(kind)), line=line.number)
    raise line.fail(f"unknown record type {kind!r}")


def _thread(line: _Line) -> ThreadRecord:
    key = line.text("key")
    return ThreadRecord(
        source_id=key,
        key=key,
        url=line.text("url", optional=True),
        title=line.text("title", optional=True),
        closed=line.flag("locked"),
        line=line.number,
        extra={
            "who_may_comment": line.choice("who_may_comment", WHO, optional=True),
            "created_at": line.time("created_at"),
        },
    )


def _comment(line: _Line) -> CommentRecord:
    status = line.text("status")
    if status not in STATUSES:
        raise line.fail(f"`status` must be one of {', '.join(STATUSES)}")
    hearted = line.data.get("hearted_by")
    if not isinstance(hearted, list):
        raise line.fail("`hearted_by` must be a list")
    hearts: list[tuple[str, int]] = []
    for h in hearted:
        if not isinstance(h, dict) or not isinstance(h.get("reader"), str) or not h["reader"]:
            raise line.fail('each of `hearted_by` must be {"reader": ..., "at": ...}')
        hearts.append((h["reader"], parse_time(h.get("at"), "hearted_by[].at", line)))
    author_key = line.text("author_key")
    ip_hash = line.text("ip_hash")
    if not author_key or not ip_hash:
        raise line.fail("`author_key` and `ip_hash` must not be empty")
    return CommentRecord(
        source_id=line.text("id"),
        thread=line.text("thread"),
        body=line.text("body"),
        created_at=line.time("created_at"),
        parent=line.text("parent", optional=True),
        author_name=line.text("author_name", optional=True),
        author_email=line.text("author_email", optional=True),
        state=_STATE[status],
        hearts=line.number_("hearts"),
        is_writer=line.flag("is_writer"),
        pinned=line.flag("pinned"),
        edited_at=line.time("edited_at", optional=True),
        line=line.number,
        extra={
            "status": status,
            "pinned": line.flag("pinned"),
            "liked_by_writer": line.flag("liked_by_writer"),
            "inbox_done": line.flag("inbox_done"),
            "published_at": line.time("published_at", optional=True),
            "edited_at": line.time("edited_at", optional=True),
            "hearts": line.number_("hearts"),
            "hearted_by": hearts,
            "author_key": author_key,
            "author_verified": line.flag("author_verified"),
            "ip_hash": ip_hash,
        },
    )


def _extra(line: _Line, kind: str) -> dict[str, object]:
    """The record's fields, checked, with times as integer ms."""
    if kind == "site":
        return {
            "name": line.text("name"), "writer_name": line.text("writer_name"), "origins": line.words("origins"),
            "created_at": line.time("created_at"), "moderation": line.choice("moderation", tuple(m.value for m in Moderation)),
            "held_words": line.words("held_words"), "rejected_words": line.words("rejected_words"),
            "max_links": line.number_("max_links", optional=True),
            "close_after_days": line.number_("close_after_days", optional=True),
            "edit_window": line.number_("edit_window", optional=True), "writer_heart": line.flag("writer_heart"),
            "writer_avatar": line.text("writer_avatar", optional=True), "writer_mail": line.choice("writer_mail", tuple(m.value for m in WriterMail)),
            "unanswered_mail": line.flag("unanswered_mail"), "who_may_comment": line.choice("who_may_comment", WHO),
        }  # fmt: skip
    if kind == "reader_account":
        return {
            "email": line.text("email"), "name": line.text("name", optional=True),
            "created_at": line.time("created_at"),
        }  # fmt: skip
    if kind == "site_reader":
        return {
            "subject": line.text("subject"), "name": line.text("name"), "email": line.text("email", optional=True),
            "picture": line.text("picture", optional=True), "tier": line.choice("tier", ("free", "paid")),
            "created_at": line.time("created_at"), "seen_at": line.time("seen_at"),
        }  # fmt: skip
    if kind == "mail_reader":
        asked = line.data.get("subscriptions")
        if not isinstance(asked, list) or not all(isinstance(s, dict) for s in asked):
            raise line.fail("`subscriptions` must be a list of objects")
        return {
            "email": line.text("email"), "created_at": line.time("created_at"),
            "confirm_sent_at": line.time("confirm_sent_at", optional=True),
            "confirmed_at": line.time("confirmed_at", optional=True),
            "unsubscribed_at": line.time("unsubscribed_at", optional=True),
            "subscriptions": [_subscription(_Line(s, line.number)) for s in asked],
        }  # fmt: skip
    return {  # block
        "kind": line.choice("kind", ("reader", "email", "address")), "value": line.text("value"), "reason": line.text("reason"),
        "expires_at": line.time("expires_at", optional=True), "created_at": line.time("created_at"),
    }  # fmt: skip


def _subscription(line: _Line) -> dict[str, object]:
    kind = line.text("kind")
    if kind not in ("replies", "thread"):
        raise line.fail("a subscription's `kind` must be replies or thread")
    comment = line.text("comment", optional=True)
    if (kind == "replies") != (comment is not None):
        raise line.fail("a `replies` subscription names its comment; a `thread` one does not")
    return {
        "thread": line.text("thread"), "comment": comment, "kind": kind, "created_at": line.time("created_at"),
        "ended_at": line.time("ended_at", optional=True),
    }  # fmt: skip
