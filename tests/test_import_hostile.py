"""Hostile files stop an import with `invalid_import_file` and store nothing: numbers too
large to hold, times past 9999, ids too long to store, decompression bombs, broken
compressed data."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from factories import make_site
from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import MAX_SOURCE, MAX_TIME_MS, CommentRecord, ThreadRecord
from parlour.importers import reader
from parlour.services import importing
from parlour.services.context import Context

COMMENTO = b'{"version":1,"commenters":[],"comments":[%s]}'
COMMENT = b'{"commentHex":"c1","domain":"b.example","path":"/p","commenterHex":"anonymous","markdown":"hi","html":"<p>hi</p>","parentHex":"root","score":%s,"state":"approved","creationDate":"2020-01-01T00:00:00Z","deleted":false}'


def read_all(fmt: str, path: Path) -> list[object]:
    return list(reader(fmt)(path))


def test_an_integer_too_long_for_any_count_is_refused_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "commento.json"
    path.write_bytes(COMMENTO % (COMMENT % (b"9" * 5000)))
    with pytest.raises(InvalidImportFile, match="too large"):
        read_all("commento", path)


def test_a_huge_exponent_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "commento.json"
    path.write_bytes(COMMENTO % (COMMENT % b"1e999999999"))
    with pytest.raises(InvalidImportFile, match=r"too large|out of range|whole number"):
        read_all("commento", path)


def test_a_gzip_bomb_stops_before_it_fills_memory(tmp_path: Path) -> None:
    path = tmp_path / "commento.json.gz"
    path.write_bytes(gzip.compress(COMMENTO % (b" " * (80 * 2**20)), compresslevel=9))
    with pytest.raises(InvalidImportFile, match="unpacks to far more"):
        read_all("commento", path)


@pytest.mark.parametrize("fmt", ["commento", "remark42"])
def test_broken_gzip_data_is_a_bad_file(tmp_path: Path, fmt: str) -> None:
    packed = bytearray(gzip.compress(b'{"version":1}\n' * 2000))
    packed[30:60] = b"\xff" * 30
    path = tmp_path / "export.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(InvalidImportFile):
        read_all(fmt, path)


def test_a_zip_entry_that_unpacks_too_far_is_refused_unopened(tmp_path: Path) -> None:
    path = tmp_path / "posts.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("post.json", b'{"comments":[' + b" " * (80 * 2**20) + b"]}")
    with pytest.raises(InvalidImportFile, match=r"post\.json.*unpacks to far more"):
        read_all("substack", path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"created_at": MAX_TIME_MS + 1}, "between 1970 and 9999"),
        ({"created_at": -1}, "between 1970 and 9999"),
        ({"edited_at": 10**17}, "between 1970 and 9999"),
        ({"source_id": "x" * (MAX_SOURCE + 1)}, "longer than"),
        ({"hearts": 2**31}, "not a count"),
    ],
)
def test_values_the_database_cannot_hold_stop_the_import_before_anything_is_stored(
    ctx: Context, changes: dict[str, object], message: str
) -> None:
    make_site(ctx)
    fields: dict[str, object] = {
        "source_id": "c1",
        "thread": "t",
        "body": "Hello",
        "created_at": 1,
        **changes,
    }
    records = [ThreadRecord(source_id="t", url="/p"), CommentRecord(**fields)]  # type: ignore[arg-type]
    with pytest.raises(InvalidImportFile, match=message):
        importing.run(ctx, records, importing.Options(site_id="blog", format="test"))


def test_lone_surrogates_are_stored_as_replacement_characters(ctx: Context) -> None:
    make_site(ctx)
    records = [
        ThreadRecord(source_id="t", url="/p"),
        CommentRecord(
            source_id="c1",
            thread="t",
            body="half \ud83d a face **bold**",
            created_at=1,
            author_name="A\udc00",
        ),
    ]
    report = importing.run(ctx, records, importing.Options(site_id="blog", format="test"))
    assert report.comments == 1
    from sqlalchemy import select

    from parlour.store.schema import comments

    with ctx.db.read() as tx:
        body, html, name = tx.execute(select(comments.c.body, comments.c.html, comments.c.author_name)).one()
    assert body == "half ? a face **bold**" and "<strong>bold</strong>" in html and name == "A?"
