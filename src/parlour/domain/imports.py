"""What an importer reads from another system's file, in Parlour's terms.

Each format's module in `parlour/importers/` turns its file into a stream of these
records; `services/importing.py` stores them through the comment lifecycle. The records
say what the file says and nothing more: an importer never looks at the database, and
the runner never looks at a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any, TypeVar

from parlour.domain.errors import InvalidImportFile

MAX_COUNT = 2**31 - 1  # hearts and other counts: the database's integer
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the last time RFC 3339 can write
MAX_SOURCE = 280  # characters of a comment's id in its old home (stored as "FORMAT:ID", 300 at most)


_R = TypeVar("_R")


def _pickled_by_fields(cls: type[_R]) -> type[_R]:
    """Pickle a record as its class and its fields' values in order, not as a dict of
    them: an import reads the file in a second process (importers/ahead.py), which sends
    every record through a pipe, and this pickles a batch 2.7 times as fast."""
    values = attrgetter(*(f.name for f in fields(cls)))  # type: ignore[arg-type]

    def __reduce__(self: Any) -> tuple[type[_R], tuple[Any, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


class State(StrEnum):
    """Where an imported comment stands in its old home."""

    PUBLISHED = "published"
    PENDING = "pending"  # awaiting moderation there: goes to the queue, not the page
    REMOVED = "removed"  # deleted there: kept as "removed" so its replies keep their place
    SPAM = "spam"
    REJECTED = "rejected"  # refused by a moderator there: kept, never shown


@_pickled_by_fields
@dataclass(slots=True)
class ThreadRecord:
    """A post (or page) of the old system.

    `source_id` is how the file's comments name it. The thread's key is `key` when the
    format knows it (Parlour's own export), else the path of `url` after `--map-url`.
    """

    source_id: str
    url: str | None = None
    key: str | None = None
    title: str | None = None
    closed: bool = False  # closed for comments there: the thread is locked here
    line: int | None = None  # where the file says it, for messages
    extra: dict[str, object] = field(default_factory=dict)  # format-specific, e.g. Parlour's own


@_pickled_by_fields
@dataclass(slots=True)
class CommentRecord:
    """One comment. `body` is Markdown (importers convert HTML with importers/html.py).

    `source_id` is unique within the format (the runner prefixes the format's name), so
    importing the same file again finds the comment already there. `parent` is the
    parent's `source_id`; `thread` the thread's. Times are integer milliseconds, UTC.
    """

    source_id: str
    thread: str
    body: str
    created_at: int
    parent: str | None = None
    author_name: str | None = None
    author_email: str | None = None  # kept private, like every reader's address
    state: State = State.PUBLISHED
    hearts: int = 0
    is_writer: bool = False  # the format's own "this is the post's author" flag
    pinned: bool = False  # pinned to the top of its thread (top-level comments only)
    edited_at: int | None = None
    line: int | None = None
    extra: dict[str, object] = field(default_factory=dict)  # format-specific, e.g. Parlour's own


@_pickled_by_fields
@dataclass(slots=True)
class Skipped:
    """Something in the file that is not imported, and why (counted in the report)."""

    reason: str  # a short stable phrase: "trackback", "pingback", "empty comment", ...
    source_id: str | None = None
    line: int | None = None


@_pickled_by_fields
@dataclass(slots=True)
class ExtraRecord:
    """What only Parlour's own export carries besides threads and comments (the site's
    settings, hearts by reader, readers' mail and subscriptions, blocks, ...): `kind`
    names it, `data` is its JSON object. services/restoring.py stores these."""

    kind: str
    data: dict[str, object]
    line: int | None = None


Record = ThreadRecord | CommentRecord | ExtraRecord | Skipped


def bad_file(reason: str, *, line: int | None = None, where: str | None = None) -> InvalidImportFile:
    """The error an importer raises when its file cannot be read: nothing is imported.

    The message names the line (or the entry of an archive) where reading stopped.
    """
    parts = [p for p in (where, f"line {line}" if line else None) if p]
    message = f"{', '.join(parts)}: {reason}" if parts else reason
    return InvalidImportFile(message, line=line, where=where)
