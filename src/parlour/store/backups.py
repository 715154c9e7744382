"""The database's side of backups: SQLite's own consistent copy, and PostgreSQL's pg_dump
and pg_restore, run with the connection taken from the database URL.

Everything here reads or writes a whole database; services/backups.py decides where the
files go and what is refused.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from psycopg.conninfo import make_conninfo
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from parlour.domain.errors import BackupFailed, InvalidBackupFile, RestoreFailed
from parlour.store import schema
from parlour.store.database import Database, normalise_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"

COUNTED = ("sites", "threads", "comments")
"""What a restore reports: the tables a person recognises."""

_PARLOUR_TABLES = {"alembic_version", "sites", "threads", "comments"}
_HOLDS_DATA = ("sites", "comments", "users")
"""A database with a row in one of these holds what someone made: a restore would replace it."""


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def describe(url: str) -> str:
    """The database a URL names, as a person reads it: the file, or the URL without its password."""
    if is_sqlite(url):
        return str(sqlite_file(url))
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path:
    """The file a sqlite:/// URL names (settings refuse in-memory databases)."""
    database = make_url(normalise_url(url)).database
    assert database, "settings refuse a SQLite URL without a file"
    return Path(database).expanduser()


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that can neither create `path` nor change it."""
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30)


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the live database `source` to the empty file `target` with `VACUUM INTO`.

    It reads one snapshot (a read transaction, which in WAL mode never stops the server's
    writers), so the copy is consistent, and writes a compact file in rollback-journal
    mode: one file, with no -wal beside it.
    """
    if not source.is_file():
        raise BackupFailed(f"There is no SQLite database at {source}.")
    conn = sqlite3.connect(source, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("VACUUM INTO ?", (str(target),))
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite could not copy {source}: {exc}. Nothing was written.") from None
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class SqliteBackup:
    """What a SQLite backup file holds, once it passed SQLite's integrity check."""

    revision: str | None
    comments: int


def read_sqlite_backup(path: Path) -> SqliteBackup:
    """Check a SQLite file as a backup of Parlour: readable, whole (`PRAGMA
    integrity_check`), and with Parlour's tables; its schema revision and comment count."""
    try:
        conn = _read_only(path)
    except sqlite3.Error as exc:
        raise InvalidBackupFile(f"{path} cannot be opened as a SQLite database: {exc}.") from None
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
        if problems != ["ok"]:
            raise InvalidBackupFile(
                f"{path} is a damaged or truncated SQLite file; SQLite's integrity check says: "
                + "; ".join(problems)
            )
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables >= _PARLOUR_TABLES:
            raise InvalidBackupFile(f"{path} is a SQLite database, but not Parlour's.")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        comments = conn.execute("SELECT count(*) FROM comments").fetchone()[0]
    except sqlite3.Error as exc:
        raise InvalidBackupFile(f"{path} is a damaged or truncated SQLite file: {exc}.") from None
    finally:
        conn.close()
    return SqliteBackup(revision=row[0] if row else None, comments=int(comments))


def sqlite_holds_data(path: Path) -> bool:
    """Does the file at `path` hold a site, comment or account, or something that is not
    Parlour's at all? A missing or empty file, or Parlour's empty tables, hold nothing."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        conn = _read_only(path)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "alembic_version" not in tables:
                return True  # another program's database
            return any(
                conn.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone()  # names from _HOLDS_DATA
                for name in _HOLDS_DATA
                if name in tables
            )
        finally:
            conn.close()
    except sqlite3.Error:
        return True  # a file SQLite cannot read: not ours to overwrite unasked


def restore_sqlite(source: Path, target: Path) -> None:
    """Copy the backup `source` into the database at `target` with SQLite's backup API.

    The copy goes through SQLite's own locking and journal: it replaces the target's
    content in one transaction (an interrupted restore leaves the database as it was), and
    a target in WAL mode, with its -wal and -shm, stays consistent.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = _read_only(source)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise RestoreFailed(f"SQLite could not restore into {target}: {exc}.") from None


def pg_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """libpq's connection string for a postgresql:// URL, without the password, and the
    environment that carries the password (PGPASSWORD): never on a command line, where
    `ps` would show it."""
    parsed = make_url(normalise_url(url))
    params: dict[str, str | int | None] = {
        "host": parsed.host, "port": parsed.port, "user": parsed.username, "dbname": parsed.database,
    }  # fmt: skip
    for key, value in parsed.query.items():  # sslmode, connect_timeout, ... as the server takes them
        params[key] = ",".join(value) if isinstance(value, tuple) else value
    conninfo = make_conninfo("", **{k: v for k, v in params.items() if v is not None})
    return conninfo, ({"PGPASSWORD": parsed.password} if parsed.password else {})


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool: an argument list (no shell), never asking for a password."""
    return subprocess.run(
        command, env={**os.environ, **env}, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


def _said(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return " ".join(lines[-3:]) or f"exit status {result.returncode}"


def dump_postgres(db: Database, pg_dump: str, target: Path) -> int:
    """Write a pg_dump custom-format archive of the database to `target`; the number of
    comments it holds.

    pg_dump reads the snapshot of a transaction held open here (`--snapshot`), so the
    count printed is exactly what the archive holds.
    """
    conninfo, env = pg_conninfo(db.url)
    try:
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                comments = conn.execute(select(func.count()).select_from(schema.comments)).scalar_one()
                options = [f"--snapshot={snapshot}", f"--file={target}", f"--dbname={conninfo}"]
                result = _run([pg_dump, "--format=custom", "--no-password", *options], env)
    except SQLAlchemyError as exc:
        raise BackupFailed(f"PostgreSQL could not be read: {_reason(exc)}. Nothing was written.") from None
    if result.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {_said(result)}. Nothing was written.")
    return int(comments)


_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", re.MULTILINE)


def check_pg_archive(pg_restore: str, path: Path) -> None:
    """Check that `path` is a pg_dump archive of a Parlour database (its table of contents)."""
    result = _run([pg_restore, "--list", str(path)], {})
    if result.returncode != 0:
        raise InvalidBackupFile(f"{path} is a damaged or truncated pg_dump archive: {_said(result)}.")
    if not set(_TOC_TABLE.findall(result.stdout)) >= _PARLOUR_TABLES:
        raise InvalidBackupFile(f"{path} is a pg_dump archive, but not of a Parlour database.")


def restore_postgres(pg_restore: str, path: Path, url: str) -> None:
    """Restore a pg_dump archive into the (empty) database `url`, in one transaction: a
    failure restores nothing. Objects are owned by the user the URL names."""
    conninfo, env = pg_conninfo(url)
    whole = ["--single-transaction", "--exit-on-error", "--no-password"]
    as_url_user = ["--no-owner", "--no-privileges"]
    result = _run([pg_restore, *whole, *as_url_user, f"--dbname={conninfo}", str(path)], env)
    if result.returncode != 0 and "end of file" in result.stderr:
        raise InvalidBackupFile(
            f"{path} is a truncated pg_dump archive: nothing was restored ({_said(result)})."
        )
    if result.returncode != 0:
        raise RestoreFailed(f"pg_restore failed, and restored nothing: {_said(result)}.")


def parlour_tables(db: Database) -> list[str]:
    """Parlour's tables that exist in the database already."""
    ours = set(schema.metadata.tables) | {"alembic_version"}
    try:
        with db.engine.connect() as conn:
            return sorted(ours & set(inspect(conn).get_table_names()))
    except SQLAlchemyError as exc:
        raise RestoreFailed(
            f"The database cannot be reached: {_reason(exc)}. A PostgreSQL backup restores into an "
            f"existing, empty database (`createdb NAME` makes one)."
        ) from None


def counts(db: Database) -> dict[str, int]:
    """Rows in the tables a restore reports on."""
    with db.read() as tx:
        return {
            name: int(tx.execute(select(func.count()).select_from(schema.metadata.tables[name])).scalar_one())
            for name in COUNTED
        }


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's own words, without SQLAlchemy's statement and link."""
    said = str(getattr(exc, "orig", None) or exc).strip()
    return said.splitlines()[0] if said else type(exc).__name__
