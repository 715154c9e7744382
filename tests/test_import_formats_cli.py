"""`parlour import` end to end for Isso, Remark42, Commento and Substack files, on both databases."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from factories import make_site, read, walk
from parlour.cli.main import main
from parlour.services.context import Context
from parlour.store.schema import comments

FIXTURES = Path(__file__).parent / "importers"


@pytest.fixture
def site(ctx: Context) -> Iterator[str]:
    yield make_site(ctx)


def parlour_import(ctx: Context, fmt: str, path: Path, *options: str) -> dict[str, Any]:
    args = [
        "import",
        fmt,
        str(path),
        "--site",
        "blog",
        "--json",
        "--database",
        ctx.settings.database,
        *options,
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return report


def held(ctx: Context) -> list[str]:
    with ctx.db.read() as tx:
        rows = tx.execute(
            select(comments.c.body).where(comments.c.status == "pending").order_by(comments.c.id)
        )
        return [row.body for row in rows]


def test_isso_database_imports_its_threads_once(
    ctx: Context, client: TestClient, site: str, tmp_path: Path
) -> None:
    path = tmp_path / "comments.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "isso" / "comments.sql").read_text())
    conn.close()
    report = parlour_import(ctx, "isso", path, "--writer-name", "Tomas")
    assert (report["threads"], report["comments"], report["replies"], report["writer_replies"]) == (
        2,
        5,
        2,
        1,
    )
    assert (report["held"], report["removed"]) == (1, 1)
    tides = read(client, thread="/2019/tide-tables/")
    first = tides["comments"][0]
    assert first["author"]["name"] == "Marguerite" and first["hearts"] == 3
    reply = first["replies"][0]
    assert reply["author"]["is_writer"] and reply["hearts"] == 5
    assert held(ctx) == ["Waiting for a moderator."]
    sourdough = read(client, thread="/2020/sourdough/")["comments"]
    assert sourdough[0]["removed"] and sourdough[0]["replies"][0]["author"]["name"] == "Ines"
    again = parlour_import(ctx, "isso", path, "--writer-name", "Tomas")
    assert (again["comments"], again["already"]) == (0, 5)


def test_remark42_backup_imports_with_its_admin_as_the_writer(
    ctx: Context, client: TestClient, site: str
) -> None:
    backup = FIXTURES / "remark42" / "backup.jsonl"
    rule = ("--map-url", "https://blog.example.org/posts/=https://new.example/")
    report = parlour_import(ctx, "remark42", backup, *rule)
    assert (report["threads"], report["comments"], report["writer_replies"], report["removed"]) == (
        2,
        4,
        1,
        1,
    )
    garden = read(client, thread="/winter-garden/")
    first = garden["comments"][0]
    assert first["hearts"] == 3 and "<strong>kale</strong>" in first["html"]
    writer = first["replies"][0]
    assert writer["author"]["is_writer"] and writer["edited_at"] is not None  # a removed leaf is not shown
    assert garden["thread"]["locked"] is True
    assert [c["author"]["name"] for c in read(client, thread="/bees/")["comments"]] == ["Odile"]
    again = parlour_import(ctx, "remark42", backup, *rule)
    assert (again["comments"], again["already"]) == (0, 4)


@pytest.mark.parametrize("export", ["commento.json", "comentario-v3.json"])
def test_commento_export_imports_moderators_as_the_writer(
    ctx: Context, client: TestClient, site: str, export: str
) -> None:
    path = FIXTURES / "commento" / export
    rule = ("--map-url", "https://notes.example.com/=/")
    report = parlour_import(ctx, "commento", path, *rule)
    assert report["writer_replies"] == 1
    key = "/field-notes/herons" if export == "commento.json" else "/essays/on-walking"
    page = read(client, thread=key)
    replies = [c for c in walk(page["comments"]) if c["author"]["is_writer"]]
    assert len(replies) == 1 and replies[0]["parent_id"] == page["comments"][0]["id"]
    assert page["comments"][0]["hearts"] in (3, 2)
    assert held(ctx) == (
        ["Cheap watches here", "Is this one awaiting approval?"]
        if export == "commento.json"
        else ["A guest's question, held."]
    )
    again = parlour_import(ctx, "commento", path, *rule)
    assert again["comments"] == 0 and again["already"] == report["comments"]


def test_substack_answer_imports_into_the_thread_named(ctx: Context, client: TestClient, site: str) -> None:
    answer = FIXTURES / "substack" / "letters-from-the-coast.json"
    report = parlour_import(ctx, "substack", answer, "--thread", "/letters/coast/")
    assert (report["comments"], report["replies"], report["writer_replies"], report["removed"]) == (
        5,
        3,
        1,
        1,
    )
    tops = read(client, thread="/letters/coast/")["comments"]
    assert tops[0]["hearts"] == 4
    writer = tops[0]["replies"][0]
    assert writer["author"]["is_writer"] and writer["replies"][0]["author"]["name"] == "Rosalind"
    assert tops[1]["removed"] and tops[1]["replies"][0]["author"]["name"] == "Bram"
    again = parlour_import(ctx, "substack", answer, "--thread", "/letters/coast/")
    assert (again["comments"], again["already"]) == (0, 5)


def test_substack_folder_imports_each_post_under_its_file_name(
    ctx: Context, client: TestClient, site: str, tmp_path: Path
) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    for name in ("letters-from-the-coast.json", "a-second-letter.json"):
        shutil.copy(FIXTURES / "substack" / name, folder / name)
    report = parlour_import(ctx, "substack", folder, "--map-url", "/p/=/blog/")
    assert (report["threads"], report["comments"]) == (2, 6)
    assert read(client, thread="/blog/a-second-letter")["comments"][0]["hearts"] == 3
    assert len(walk(read(client, thread="/blog/letters-from-the-coast")["comments"])) == 5
