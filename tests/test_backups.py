"""`parlour backup` and `parlour restore`: a whole database to one file while Parlour serves,
and back into a fresh database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from parlour.app import create_app
from parlour.cli.main import main
from parlour.services import sites
from parlour.services.context import open_context
from parlour.settings import Settings
from parlour.store import Database, migrate
from servers import running_parlour, served_database


def parlour(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run a command in-process; an exception that escapes it (a traceback) fails the test."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def ok(*args: str) -> str:
    result = parlour(*args)
    assert result.exit_code == 0, result.output
    return result.output


def refused(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = parlour(*args, env=env)
    assert result.exit_code == 1, result.output
    assert f"error ({code})" in result.output, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def fresh_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of the same kind as `db_url`: a SQLite path that does not
    exist yet, or a PostgreSQL database made for this test and dropped after it."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'parlour.db'}"
        return
    from conftest import create_pg_database, drop_pg_database

    name = f"parlour_restored_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    try:
        yield url
    finally:
        drop_pg_database(name)


def backup_name(db_url: str) -> str:
    return "backup.db" if db_url.startswith("sqlite") else "backup.dump"


def with_comments(url: str, bodies: list[str]) -> None:
    """Site `blog` and a comment for each body on thread /post, through the API."""
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    ctx = open_context(Settings(database=url, secret="s", comment_rate_limit=0))
    try:
        sites.create_site(ctx, "blog", "Blog", "Wren", [])
        with TestClient(create_app(context=ctx)) as client:
            for body in bodies:
                posted = client.post(
                    "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": body}
                )
                assert posted.status_code == 201, posted.text
    finally:
        ctx.close()


def stored_bodies(url: str) -> dict[int, str]:
    db = Database(url, pool=False)
    try:
        with db.engine.connect() as conn:
            return {int(i): str(b) for i, b in conn.exec_driver_sql("SELECT id, body FROM comments").all()}
    finally:
        db.dispose()


def poster(base: str, acknowledged: dict[int, str], lock: threading.Lock, stop: threading.Event) -> None:
    """Post comments until told to stop, noting each one acknowledged (201) with its body."""
    with httpx.Client(base_url=base, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            body = f"comment {threading.get_ident()}-{n}"
            answer = client.post("/api/v1/comments", json={"site": "blog", "thread": "/load", "body": body})
            assert answer.status_code == 201, answer.text
            with lock:
                acknowledged[answer.json()["comment"]["id"]] = body


@pytest.mark.slow
def test_a_backup_taken_under_write_load_restores_every_comment_acknowledged_before_it(
    db_url: str, fresh_url: str, tmp_path: Path
) -> None:
    database = served_database(db_url, tmp_path)
    output = tmp_path / "backups" / backup_name(db_url)
    output.parent.mkdir()
    acknowledged: dict[int, str] = {}
    lock, stop = threading.Lock(), threading.Event()
    with running_parlour(database, tmp_path / "serve.log", workers=2) as base:
        ctx = open_context(Settings(database=database, secret="served"))
        sites.create_site(ctx, "blog", "Blog", "Wren", [])
        ctx.close()
        posters = [threading.Thread(target=poster, args=(base, acknowledged, lock, stop)) for _ in range(2)]
        for t in posters:
            t.start()
        try:
            while len(acknowledged) < 100:  # the posters are writing: wait on what they did
                assert all(t.is_alive() for t in posters), "a poster stopped"
                stop.wait(0.01)
            with lock:
                before = dict(acknowledged)
            written = ok("backup", "--output", str(output), "--database", database)
            with lock:
                during = len(acknowledged) - len(before)
            target = len(acknowledged) + 20
            while len(acknowledged) < target:  # and they go on writing after it
                assert all(t.is_alive() for t in posters), "a poster stopped"
                stop.wait(0.01)
        finally:
            stop.set()
            for t in posters:
                t.join()
    assert f"Backed up to {output}" in written
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no partial file left

    restored = ok("restore", str(output), "--database", fresh_url)

    in_backup = stored_bodies(fresh_url)
    assert {i: in_backup.get(i) for i in before} == before  # every acknowledged comment, whole
    assert in_backup.items() <= acknowledged.items()  # nothing that was not posted
    assert f"comments: {len(in_backup):,}" in restored
    assert f"{len(in_backup):,} comments" in written  # the count printed is the copy's
    print(f"acknowledged before: {len(before)}, during: {during}, in the backup: {len(in_backup)}")
    # Consistent: the restored instance serves the thread, its counter agrees with its rows.
    ctx = open_context(Settings(database=fresh_url, secret="served"))
    try:
        with TestClient(create_app(context=ctx)) as client:
            page = client.get("/api/v1/comments", params={"site": "blog", "thread": "/load"}).json()
            assert page["thread"]["comment_count"] == len(in_backup)
            posted = client.post(
                "/api/v1/comments", json={"site": "blog", "thread": "/load", "body": "after"}
            )
            assert posted.status_code == 201
    finally:
        ctx.close()
    if db_url.startswith("sqlite"):
        with sqlite3.connect(output) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file, no -wal


def test_a_backup_is_readable_only_by_its_owner_and_restores_what_it_holds(
    db_url: str, fresh_url: str, tmp_path: Path
) -> None:
    with_comments(db_url, ["first", "second", "third"])
    output = tmp_path / backup_name(db_url)
    written = ok("backup", "--output", str(output), "--database", db_url)
    assert "3 comments" in written
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # it holds readers' addresses
    assert "sites: 1, threads: 1, comments: 3" in ok("restore", str(output), "--database", fresh_url)
    assert sorted(stored_bodies(fresh_url).values()) == ["first", "second", "third"]


def test_backup_refuses_to_overwrite_a_file_unless_forced(db_url: str, tmp_path: Path) -> None:
    with_comments(db_url, ["kept"])
    output = tmp_path / backup_name(db_url)
    output.write_bytes(b"last week's backup")
    refused("backup_file_exists", "backup", "--output", str(output), "--database", db_url)
    assert output.read_bytes() == b"last week's backup"
    assert "1 comments" in ok("backup", "--output", str(output), "--database", db_url, "--force")
    assert output.read_bytes()[:5] in (b"SQLit", b"PGDMP")
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_a_failed_backup_leaves_no_file(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        missing = f"sqlite:///{tmp_path / 'nothing-here.db'}"
    else:
        missing = db_url.rpartition("/")[0] + f"/parlour_never_made_{uuid.uuid4().hex[:8]}"
    output = tmp_path / "out" / "backup"
    output.parent.mkdir()
    refused("backup_failed", "backup", "--output", str(output), "--database", missing)
    assert list(output.parent.iterdir()) == []
    assert not (tmp_path / "nothing-here.db").exists()  # not made empty either


def test_restore_refuses_a_sqlite_database_that_holds_data_unless_forced(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with_comments(source, ["from the backup"])
    with_comments(target, ["already there"])
    ok("backup", "--output", str(tmp_path / "backup.db"), "--database", source)
    refused("database_not_empty", "restore", str(tmp_path / "backup.db"), "--database", target)
    assert list(stored_bodies(target).values()) == ["already there"]
    ok("restore", str(tmp_path / "backup.db"), "--database", target, "--force")
    assert list(stored_bodies(target).values()) == ["from the backup"]


def test_restore_into_a_migrated_but_empty_sqlite_database_needs_no_force(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with_comments(source, ["one"])
    ok("migrate", "--database", target)
    ok("backup", "--output", str(tmp_path / "backup.db"), "--database", source)
    ok("restore", str(tmp_path / "backup.db"), "--database", target)
    assert list(stored_bodies(target).values()) == ["one"]


def test_restore_refuses_a_postgresql_database_that_has_parlours_tables(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL restores only into an empty database (SQLite: --force, above)")
    with_comments(db_url, ["kept"])
    ok("backup", "--output", str(tmp_path / "p.dump"), "--database", db_url)
    said = refused("database_not_empty", "restore", str(tmp_path / "p.dump"), "--database", db_url, "--force")
    assert "createdb" in said
    assert list(stored_bodies(db_url).values()) == ["kept"]


def test_a_backup_restores_only_into_its_own_kind_of_database(db_url: str, tmp_path: Path) -> None:
    with_comments(db_url, ["one"])
    output = tmp_path / backup_name(db_url)
    ok("backup", "--output", str(output), "--database", db_url)
    if db_url.startswith("sqlite"):
        from conftest import PG_URL

        other = PG_URL  # refused before any connection: nothing is made there
    else:
        other = f"sqlite:///{tmp_path / 'other.db'}"
    said = refused("wrong_database_for_backup", "restore", str(output), "--database", other)
    assert "parlour export" in said and "parlour import parlour" in said
    assert not (tmp_path / "other.db").exists()


def test_an_older_backup_is_migrated_when_it_is_restored(db_url: str, fresh_url: str, tmp_path: Path) -> None:
    from alembic import command

    with_comments(db_url, ["written by an older Parlour"])
    db = Database(db_url)
    try:
        command.downgrade(migrate._config(db), "0019")
    finally:
        db.dispose()
    output = tmp_path / backup_name(db_url)
    try:
        ok("backup", "--output", str(output), "--database", db_url)
    finally:
        db = Database(db_url)
        migrate.upgrade(db)  # the test worker's PostgreSQL database serves the next tests
        db.dispose()
    assert "1 migration(s) applied" in ok("restore", str(output), "--database", fresh_url)
    restored = Database(fresh_url)
    try:
        assert migrate.pending(restored) == []
    finally:
        restored.dispose()
    assert list(stored_bodies(fresh_url).values()) == ["written by an older Parlour"]


def test_a_backup_from_a_newer_parlour_is_refused(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'a.db'}"
    with_comments(source, ["from the future"])
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    ok("backup", "--output", str(tmp_path / "backup.db"), "--database", source)
    said = refused(
        "invalid_backup_file",
        "restore",
        str(tmp_path / "backup.db"),
        "--database",
        f"sqlite:///{tmp_path / 'b.db'}",
    )
    assert "newer Parlour" in said
    assert not (tmp_path / "b.db").exists()


def _bad_files(tmp_path: Path, db_url: str) -> dict[str, tuple[Path, str]]:
    """Files that are not a backup this database can take: each with what the error says."""
    made: dict[str, tuple[bytes, str]] = {
        "empty": (b"", "is empty"),
        "noise": (os.urandom(4096), "neither a SQLite database nor a pg_dump"),
        "an export": (
            b'{"format":"parlour","version":1,"site":"s"}\n{"type":"thread"}\n',
            "parlour import parlour",
        ),
        "another program's JSON": (b'{"id": "c1", "text": "hello"}\n', "parlour import FORMAT"),
        "pretty-printed JSON": (b'{\n  "version": 1,\n  "comments": []\n}\n', "parlour import FORMAT"),
        "noise that opens like JSON": (b"{" + os.urandom(4095), "neither a SQLite database nor a pg_dump"),
        "a plain SQL dump": (b"--\n-- PostgreSQL database dump\n--\n\nSET x = 0;\n", "psql"),
    }
    files = {}
    for name, (data, said) in made.items():
        path = tmp_path / name.replace(" ", "-")
        path.write_bytes(data)
        files[name] = (path, said)
    whole = tmp_path / backup_name(db_url)
    ok("backup", "--output", str(whole), "--database", db_url)
    data = whole.read_bytes()
    for name, keep in (("cut early", len(data) // 5), ("cut late", len(data) * 19 // 20)):
        path = tmp_path / name.replace(" ", "-")
        path.write_bytes(data[:keep])
        files[f"a backup {name}"] = (path, "truncated")
    if db_url.startswith("sqlite"):
        other = tmp_path / "other.sqlite"
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
            conn.execute("INSERT INTO notes VALUES ('not Parlour')")
        files["another program's database"] = (other, "not Parlour's")
    return files


def test_restore_stops_with_a_clear_error_on_a_file_that_is_not_a_whole_backup(
    db_url: str, fresh_url: str, tmp_path: Path
) -> None:
    with_comments(db_url, [f"comment {i}" for i in range(40)])
    for name, (path, said) in _bad_files(tmp_path, db_url).items():
        result = parlour("restore", str(path), "--database", fresh_url)
        assert result.exit_code == 1, (name, result.output)
        assert "Traceback" not in result.output
        assert said in result.output, (name, result.output)
        if db_url.startswith("sqlite"):
            assert not Path(fresh_url.removeprefix("sqlite:///")).exists(), name
        else:
            with psycopg.connect(fresh_url) as conn:  # restored nothing, not half of it
                tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
            assert tables == (0,), name


def test_restore_of_a_folder_or_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    for path in (tmp_path, tmp_path / "missing.db"):
        result = parlour("restore", str(path), "--database", f"sqlite:///{tmp_path / 'x.db'}")
        assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.fixture
def spied_tools(tmp_path: Path) -> Path:
    """pg_dump and pg_restore as installed, behind scripts that note their arguments and
    environment first."""
    import shutil

    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        real = shutil.which(tool)
        if real is None:
            pytest.skip(f"{tool} is not installed")
        script = folder / tool
        script.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$@" > "{folder}/{tool}.args"\n'
            f'env > "{folder}/{tool}.env"\nexec "{real}" "$@"\n'
        )
        script.chmod(0o755)
    return folder


def test_the_password_reaches_pg_dump_and_pg_restore_in_the_environment_not_the_command_line(
    db_url: str, fresh_url: str, tmp_path: Path, spied_tools: Path
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's tools only")
    with_comments(db_url, ["one"])

    def with_password(url: str) -> str:  # the test server trusts its users: any password does
        return url.replace("postgres@", "postgres:s3cret-Pw@", 1)

    path = f"{spied_tools}:{os.environ['PATH']}"
    ok_env = {"PATH": path}
    result = parlour(
        "backup", "--output", str(tmp_path / "p.dump"), "--database", with_password(db_url), env=ok_env
    )
    assert result.exit_code == 0, result.output
    result = parlour("restore", str(tmp_path / "p.dump"), "--database", with_password(fresh_url), env=ok_env)
    assert result.exit_code == 0, result.output
    for tool in ("pg_dump", "pg_restore"):
        assert "s3cret-Pw" not in (spied_tools / f"{tool}.args").read_text()
        assert "PGPASSWORD=s3cret-Pw" in (spied_tools / f"{tool}.env").read_text().splitlines()
    assert "s3cret-Pw" not in result.output


def test_without_pg_dump_backup_prints_the_recipe_to_run_by_hand(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's tools only")
    empty = tmp_path / "bin"
    empty.mkdir()
    url = db_url.replace("postgres@", "postgres:s3cret-Pw@", 1)
    said = refused(
        "postgres_tool_missing",
        "backup",
        "--output",
        str(tmp_path / "p.dump"),
        "--database",
        url,
        env={"PATH": str(empty)},
    )
    assert "pg_dump --format=custom" in said and "PGPASSWORD" in said
    assert "s3cret-Pw" not in said
    assert list(tmp_path.glob("*.dump")) == [] and list(tmp_path.glob(".*partial")) == []
    archive = tmp_path / "p.dump"
    archive.write_bytes(b"PGDMP\x01\x0e\x00")
    said = refused(
        "postgres_tool_missing", "restore", str(archive), "--database", url, env={"PATH": str(empty)}
    )
    assert "pg_restore --no-owner" in said and "parlour migrate" in said
