"""A scratch SQLite file an import reads its file into before storing anything.

Formats list threads and comments in any order (Disqus: every thread, then every post;
Remark42: comments naming their page). Spooled here, an import can store one thread at
a time, parents before replies, with memory bounded by the largest thread instead of
the whole file; and a file that turns out to be broken half-way has written nothing.
The file lives in a temporary directory and is deleted when the import ends.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE threads (
  seq INTEGER PRIMARY KEY, source_id TEXT NOT NULL UNIQUE, url TEXT, key TEXT, title TEXT,
  closed INTEGER NOT NULL, line INTEGER, extra BLOB
);
CREATE TABLE comments (
  seq INTEGER PRIMARY KEY, source_id TEXT NOT NULL UNIQUE, thread TEXT NOT NULL, parent TEXT,
  body TEXT NOT NULL, html TEXT NOT NULL, created_at INTEGER NOT NULL, author_name TEXT,
  author_email TEXT, state TEXT NOT NULL, hearts INTEGER NOT NULL, is_writer INTEGER NOT NULL,
  edited_at INTEGER, pinned INTEGER NOT NULL, body_hash TEXT NOT NULL, author_key TEXT NOT NULL,
  line INTEGER, extra BLOB
);
CREATE INDEX comments_by_thread ON comments (thread, seq);
CREATE TABLE extras (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL, line INTEGER);
"""

THREAD_FIELDS = ("source_id", "url", "key", "title", "closed", "line", "extra")
COMMENT_FIELDS = (
    "source_id", "thread", "parent", "body", "html", "created_at", "author_name", "author_email",
    "state", "hearts", "is_writer", "edited_at", "pinned", "body_hash", "author_key", "line", "extra",
)  # fmt: skip


StagedComment = sqlite3.Row  # a comment as `Staging.comments` reads it back: row["field"]


def _blob(value: dict[str, object] | None) -> bytes | None:
    return orjson.dumps(value) if value else None


def _unblob(value: bytes | None) -> dict[str, Any]:
    return orjson.loads(value) if value else {}


def _comments(conn: sqlite3.Connection, thread: str) -> list[StagedComment]:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row  # made in C: a dict a row cost a third of storing's Python
    return cursor.execute(
        f"SELECT {', '.join(COMMENT_FIELDS)} FROM comments WHERE thread = ? ORDER BY seq", (thread,)
    ).fetchall()


class Staging:
    """The spool: add records in batches, then read threads and their comments back."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="parlour-import-")
        self.path = Path(self._dir.name) / "staging.db"
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;"
            "PRAGMA cache_size=-8000;" + _SCHEMA
        )
        self._conn.execute("BEGIN")

    def add_threads(self, rows: list[tuple[Any, ...]]) -> int:
        """Rows in THREAD_FIELDS order; a thread named twice keeps its first. Returns how many were new."""
        before = self._conn.total_changes
        self._conn.executemany(
            f"INSERT OR IGNORE INTO threads ({', '.join(THREAD_FIELDS)}) VALUES ({', '.join('?' * len(THREAD_FIELDS))})",
            [(*r[:-1], _blob(r[-1])) for r in rows],
        )
        return self._conn.total_changes - before

    def add_comments(self, rows: list[tuple[Any, ...]]) -> int:
        """Rows in COMMENT_FIELDS order; a comment named twice keeps its first. Returns how many were new."""
        before = self._conn.total_changes
        self._conn.executemany(
            f"INSERT OR IGNORE INTO comments ({', '.join(COMMENT_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(COMMENT_FIELDS))})",
            [(*r[:-1], _blob(r[-1])) for r in rows],
        )
        return self._conn.total_changes - before

    def add_extras(self, rows: list[tuple[str, dict[str, object], int | None]]) -> None:
        self._conn.executemany(
            "INSERT INTO extras (kind, data, line) VALUES (?, ?, ?)",
            [(kind, orjson.dumps(data), line) for kind, data, line in rows],
        )

    def done_adding(self) -> None:
        self._conn.execute("COMMIT")

    def threads(self) -> Iterator[dict[str, Any]]:
        """Threads in the order the file named them, with the number of their comments."""
        cursor = self._conn.execute(
            f"SELECT {', '.join('t.' + f for f in THREAD_FIELDS)}, "
            "(SELECT count(*) FROM comments c WHERE c.thread = t.source_id) FROM threads t ORDER BY t.seq"
        )
        for row in cursor:
            thread = dict(zip(THREAD_FIELDS, row[:-1], strict=True))
            thread["extra"] = _unblob(thread["extra"])
            thread["comments"] = row[-1]
            yield thread

    def unknown_threads(self) -> list[tuple[str, int]]:
        """Threads comments name that the file never described: (source id, comments)."""
        return [
            (r[0], r[1])
            for r in self._conn.execute(
                "SELECT thread, count(*) FROM comments WHERE thread NOT IN (SELECT source_id FROM threads) "
                "GROUP BY thread ORDER BY min(seq)"
            )
        ]

    def comments(self, thread: str) -> list[StagedComment]:
        """A thread's comments in the file's order, by field name (COMMENT_FIELDS); `extra`
        is left encoded (`decoded_extra` reads it): most formats have none."""
        return _comments(self._conn, thread)

    @staticmethod
    def decoded_extra(extra: bytes | None) -> dict[str, Any]:
        """A staged comment's `extra`, as `comments` left it encoded."""
        return _unblob(extra)

    def extras(self) -> Iterator[tuple[str, dict[str, Any], int | None]]:
        for kind, data, line in self._conn.execute("SELECT kind, data, line FROM extras ORDER BY seq"):
            yield kind, orjson.loads(data), line

    def close(self) -> None:
        self._conn.close()
        self._dir.cleanup()


class StagingReader:
    """A finished spool opened read-only by another process, which plans its threads
    (services/import_plans.py) while the one that made it stores them."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)

    def comments(self, thread: str) -> list[StagedComment]:
        """As `Staging.comments`."""
        return _comments(self._conn, thread)

    def close(self) -> None:
        self._conn.close()
