"""`parlour backup` and `parlour restore`: a whole database to one file and back.

A backup is written to a temporary file beside its target and renamed into place only
once it is complete and checked, so a failed or interrupted backup never leaves a file
under the target's name. A restore recognises the file by its first bytes, refuses to
overwrite data, and migrates what it restored (the backup may be older than Parlour).
"""

from __future__ import annotations

import codecs
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from parlour.domain.errors import (
    BackupFailed,
    BackupFileExists,
    DatabaseNotEmpty,
    InvalidBackupFile,
    PostgresToolMissing,
    RestoreFailed,
    WrongDatabaseForBackup,
)
from parlour.services import exporting
from parlour.store import Database, migrate
from parlour.store import backups as stored

Kind = Literal["sqlite", "pg_dump"]


@dataclass(frozen=True, slots=True)
class Written:
    """A backup in place: its size in bytes and the comments it holds."""

    path: Path
    size: int
    comments: int


@dataclass(frozen=True, slots=True)
class Restored:
    """A restored database: where, its counts after migrating, the migrations it needed."""

    database: str
    counts: dict[str, int]
    migrations: int


def backup(url: str, output: Path, *, force: bool = False) -> Written:
    """Copy the whole database `url` to `output`, consistent, while Parlour serves."""
    if stored.is_sqlite(url) and output.resolve() == stored.sqlite_file(url).resolve():
        raise BackupFailed(f"{output} is the database itself: name another file.")
    if output.exists() and not force:
        raise BackupFileExists(f"{output} exists already; give --force to replace it.")
    with _beside(output) as partial:
        if stored.is_sqlite(url):
            stored.copy_sqlite(stored.sqlite_file(url), partial)
            try:
                comments = stored.read_sqlite_backup(partial).comments
            except InvalidBackupFile as exc:
                raise BackupFailed(
                    f"The copy did not pass its check ({exc.message}); nothing was written."
                ) from None
        else:
            pg_dump = _tool("pg_dump", _dump_recipe(url, output))
            db = Database(url, pool=False)
            try:
                comments = stored.dump_postgres(db, pg_dump, partial)
            finally:
                db.dispose()
        _put_in_place(partial, output, force=force)
    return Written(path=output, size=output.stat().st_size, comments=comments)


def restore(source: Path, url: str, *, force: bool = False) -> Restored:
    """Restore the backup `source` into the database `url`, then migrate it."""
    kind = recognise(source)
    if (kind == "sqlite") != stored.is_sqlite(url):
        made, named = ("SQLite", "PostgreSQL") if kind == "sqlite" else ("PostgreSQL", "SQLite")
        raise WrongDatabaseForBackup(
            f"{source} is a {made} backup, and --database names a {named} database: a backup restores "
            f"into the kind of database it was made from. To move from one to the other, export each "
            f"site with `parlour export --site SITE --output SITE.jsonl` and bring it in with "
            f"`parlour import parlour SITE.jsonl --site SITE`."
        )
    if kind == "sqlite":
        _restore_sqlite(source, stored.sqlite_file(url), force=force)
    else:
        _restore_postgres(source, url)
    db = Database(url, pool=False)
    try:
        newer = migrate.unknown(db)
        if newer:
            raise RestoreFailed(
                f"The backup was restored, but a newer Parlour made it (schema revision "
                f"{', '.join(newer)}): run that version or a later one on it."
            )
        pending = migrate.pending(db)
        migrate.upgrade(db)
        counts = stored.counts(db)
    finally:
        db.dispose()
    return Restored(database=stored.describe(url), counts=counts, migrations=len(pending))


def recognise(path: Path) -> Kind:
    """What kind of backup `path` is, by its first bytes; a clear error for anything else."""
    try:
        with path.open("rb") as file:
            head = file.read(64)
    except OSError as exc:
        raise InvalidBackupFile(f"{path} cannot be read: {exc.strerror}.") from None
    if head.startswith(stored.SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(stored.PG_DUMP_MAGIC):
        return "pg_dump"
    if not head:
        raise InvalidBackupFile(f"{path} is empty: nothing was restored.")
    if b"PostgreSQL database dump" in head:
        raise InvalidBackupFile(
            f"{path} is a plain SQL dump (pg_dump without --format=custom): restore it with psql into "
            f"an empty database, then run `parlour migrate`."
        )
    opens_json = head.lstrip()[:1] in (b"{", b"[")
    first = _first_json_line(path) if opens_json else None
    if isinstance(first, dict) and first.get("format") == exporting.FORMAT:
        raise InvalidBackupFile(
            f"{path} is a `parlour export` file, not a backup: bring it in with "
            f"`parlour import parlour {path} --site SITE`."
        )
    if first is not None or (opens_json and _looks_like_text(head)):  # a JSON line, or JSON over many
        raise InvalidBackupFile(
            f"{path} is a JSON file, not a backup: to bring in another program's export, run "
            f"`parlour import FORMAT {path} --site SITE` (docs/importing.md names the formats)."
        )
    raise InvalidBackupFile(
        f"{path} is neither a SQLite database nor a pg_dump custom-format archive (`parlour backup` "
        f"writes one or the other): nothing was restored."
    )


def _looks_like_text(head: bytes) -> bool:
    """Whether `head` (a file's first bytes) reads as UTF-8 text: no control characters but
    spaces and line ends, and no bytes that are not UTF-8 (its last character may be cut)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text)


def _first_json_line(path: Path, limit: int = 1 << 20) -> object | None:
    """The first line of `path` parsed as JSON, or None when it is not JSON (or longer than `limit`)."""
    with path.open("rb") as file:
        line = file.readline(limit)
    try:
        parsed: object = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return parsed


def _restore_sqlite(source: Path, target: Path, *, force: bool) -> None:
    found = stored.read_sqlite_backup(source)  # whole and Parlour's, before the target is touched
    if found.revision is not None and found.revision not in migrate.shipped():
        raise InvalidBackupFile(
            f"{source} was made by a newer Parlour (schema revision {found.revision}): restore it "
            f"with that version or a later one."
        )
    if target.exists() and source.resolve() == target.resolve():
        raise InvalidBackupFile(f"{source} is the database --database names: restore a backup into it.")
    if not force and stored.sqlite_holds_data(target):
        raise DatabaseNotEmpty(
            f"{target} holds data already (sites, comments or accounts): give --force to replace all of "
            f"it with the backup, or restore into a new file and point PARLOUR_DATABASE at it."
        )
    stored.restore_sqlite(source, target)


def _restore_postgres(source: Path, url: str) -> None:
    pg_restore = _tool("pg_restore", _restore_recipe(url, source))
    stored.check_pg_archive(pg_restore, source)
    db = Database(url, pool=False)
    try:
        tables = stored.parlour_tables(db)
    finally:
        db.dispose()
    if tables:
        raise DatabaseNotEmpty(
            f"The database {stored.describe(url)} has Parlour's tables already ({', '.join(tables[:4])}"
            f"{', ...' if len(tables) > 4 else ''}): a PostgreSQL backup restores into an empty database. "
            f"Create one (`createdb NAME`) and name it with --database (--force does not change this)."
        )
    stored.restore_postgres(pg_restore, source, url)


def _tool(name: str, recipe: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PostgresToolMissing(
            f"{name} is not on PATH. Install PostgreSQL's client tools (Debian and Ubuntu: the "
            f"postgresql-client package, of the server's major version or newer), or run by hand "
            f"where they are installed:\n\n{recipe}"
        )
    return found


def _password_note(url: str) -> str:
    return "    (with the password in PGPASSWORD or ~/.pgpass)\n" if stored.pg_conninfo(url)[1] else ""


def _dump_recipe(url: str, output: Path) -> str:
    conninfo, _ = stored.pg_conninfo(url)
    command = shlex.join(["pg_dump", "--format=custom", f"--file={output}", conninfo])
    return f"    {command}\n{_password_note(url)}"


def _restore_recipe(url: str, source: Path) -> str:
    conninfo, _ = stored.pg_conninfo(url)
    command = shlex.join([
        "pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--dbname", conninfo,
        str(source),
    ])  # fmt: skip
    return f"    {command}\n{_password_note(url)}    parlour migrate\n"


@contextmanager
def _beside(target: Path) -> Iterator[Path]:
    """An empty temporary file in `target`'s folder (readable by its owner only), removed
    at the end unless it was put in place."""
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    except OSError as exc:
        raise BackupFailed(f"Cannot write in {target.parent}: {exc.strerror}.") from None
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
    finally:
        partial.unlink(missing_ok=True)


def _put_in_place(partial: Path, target: Path, *, force: bool) -> None:
    """Flush the finished file to disk and give it `target`'s name, in one step."""
    with partial.open("rb") as file:
        os.fsync(file.fileno())
    if force:
        os.replace(partial, target)
    else:
        try:
            os.link(partial, target)  # fails if `target` appeared meanwhile: never overwrites
        except FileExistsError:
            raise BackupFileExists(f"{target} exists already; give --force to replace it.") from None
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
