"""The Isso importer: an Isso SQLite database as import records."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, Skipped, State, ThreadRecord
from parlour.importers import isso

FIXTURES = Path(__file__).parent / "importers" / "isso"


def make_db(tmp_path: Path, *extra_sql: str) -> Path:
    path = tmp_path / "comments.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "comments.sql").read_text())
        for sql in extra_sql:
            conn.execute(sql)
    conn.close()
    return path


def test_isso_yields_each_thread_before_its_comments(tmp_path: Path) -> None:
    records = list(isso.read(make_db(tmp_path)))
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["ThreadRecord", *["CommentRecord"] * 3, "ThreadRecord", *["CommentRecord"] * 2]
    first = records[0]
    assert first == ThreadRecord(source_id="1", url="/2019/tide-tables/", title="Reading tide tables")
    assert records[4] == ThreadRecord(source_id="2", url="/2020/sourdough/", title=None)


def test_isso_keeps_the_reply_tree_dates_likes_and_modes(tmp_path: Path) -> None:
    comments = {r.source_id: r for r in isso.read(make_db(tmp_path)) if isinstance(r, CommentRecord)}
    assert comments["1"] == CommentRecord(
        source_id="1",
        thread="1",
        body="Does the *second* low tide always come later?",
        created_at=1_559_383_200_000,
        author_name="Marguerite",
        author_email="marguerite@example.org",
        hearts=3,
    )
    reply = comments["2"]
    assert (reply.parent, reply.created_at, reply.edited_at, reply.hearts) == (
        "1",
        1_559_386_800_250,
        1_559_390_400_000,
        5,
    )
    assert reply.author_email is None and not reply.is_writer
    assert comments["3"].state is State.PENDING and comments["3"].author_name is None
    assert comments["4"].state is State.REMOVED and comments["4"].body == ""
    assert comments["5"].parent == "4"


def test_isso_unescapes_the_names_and_addresses_it_stored_escaped(tmp_path: Path) -> None:
    """Isso escapes `author` and `email` on the way in (isso/views/comments.py), not the text."""
    path = make_db(
        tmp_path,
        "INSERT INTO comments VALUES (2, 6, NULL, 1590007200.0, NULL, 1, '192.0.2.0', "
        "'Salt &amp; flour, 1 < 2', 'Tom &amp; Jerry &lt;tj&gt;', 'o&#x27;brien@example.org', "
        "NULL, 0, 0, x'00', 0)",
    )
    comment = next(r for r in isso.read(path) if isinstance(r, CommentRecord) and r.source_id == "6")
    assert comment.author_name == "Tom & Jerry <tj>"
    assert comment.author_email == "o'brien@example.org"
    assert comment.body == "Salt &amp; flour, 1 < 2"  # the Markdown as the reader wrote it


def test_isso_keeps_the_line_breaks_isso_shows(tmp_path: Path) -> None:
    """Isso renders with mistune's hard_wrap: a single newline is a line break there."""
    path = make_db(
        tmp_path,
        "INSERT INTO comments VALUES (2, 6, NULL, 1590007200.0, NULL, 1, '192.0.2.0', "
        "'Dear all,\nthank you.\n\n```\ncode\nstays\n```', 'Ines', NULL, NULL, 0, 0, x'00', 0)",
    )
    comment = next(r for r in isso.read(path) if isinstance(r, CommentRecord) and r.source_id == "6")
    assert comment.body == "Dear all,  \nthank you.\n\n```\ncode\nstays\n```"


@pytest.mark.parametrize(
    ("text", "body"),
    [
        # What `isso import` stores from a Disqus export: the message's HTML.
        ("<p>Hello, World.</p>", "Hello, World."),
        ("\n        <p>First.</p><p>Second, <a href=\"https://example.org/\">a link</a>.</p>\n",
         "First.\n\nSecond, [a link](https://example.org/)."),
        # ... and from a WordPress one: its text, with breaks and entities.
        ("Hi, this is a comment.<br />The post&#039;s comments.", "Hi, this is a comment.\\\nThe post's comments."),
        # A reader's inline tag in Markdown (Isso renders both).
        ("Two *kinds*: <strong>bold</strong>\nand more", "Two *kinds*: **bold**\\\nand more"),
        # Not tags: the text as typed.
        ("I <3 this; a<b and <notatag>", "I <3 this; a<b and <notatag>"),
    ],
)  # fmt: skip
def test_isso_turns_a_text_stored_as_html_into_markdown_as_isso_showed_it(
    tmp_path: Path, text: str, body: str
) -> None:
    path = make_db(
        tmp_path,
        "INSERT INTO comments VALUES (2, 6, NULL, 1590007200.0, NULL, 1, '192.0.2.0', '', 'Ines', "
        "NULL, NULL, 0, 0, x'00', 0)",
    )
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE comments SET text = ? WHERE id = 6", (text,))
    conn.close()
    comment = next(r for r in isso.read(path) if isinstance(r, CommentRecord) and r.source_id == "6")
    assert comment.body == body


def test_isso_s_placeholder_title_is_no_title(tmp_path: Path) -> None:
    path = make_db(tmp_path, "UPDATE threads SET title = 'Untitled.' WHERE id = 2")
    threads = [r for r in isso.read(path) if isinstance(r, ThreadRecord)]
    assert [t.title for t in threads] == ["Reading tide tables", None]


def test_isso_counts_a_comment_of_no_thread_as_skipped(tmp_path: Path) -> None:
    path = make_db(
        tmp_path,
        "INSERT INTO comments VALUES (9, 6, NULL, 1600000000, NULL, 1, '', 'Lost', NULL, NULL, NULL, 0, 0, x'00', 0)",
    )
    skipped = [r for r in isso.read(path) if isinstance(r, Skipped)]
    assert skipped == [Skipped("comment of no thread", source_id="6")]


def test_isso_opens_the_file_read_only(tmp_path: Path) -> None:
    path = make_db(tmp_path)
    before = path.read_bytes()
    list(isso.read(path))
    assert path.read_bytes() == before
    assert not (tmp_path / "comments.db-journal").exists()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE comments SET mode = 3 WHERE id = 2", "comment id 2: mode 3"),
        ("UPDATE comments SET created = 'yesterday' WHERE id = 2", "comment id 2: created is not a time"),
        ("UPDATE comments SET created = 1e300 WHERE id = 2", "comment id 2: created is out of range"),
        ("UPDATE comments SET likes = 99999999999999 WHERE id = 2", "comment id 2: likes is not a count"),
        (
            "UPDATE comments SET text = CAST(x'ff00fe' AS TEXT) WHERE id = 2",
            "comment id 2: text is not UTF-8",
        ),
        ("UPDATE threads SET uri = NULL WHERE id = 1", "thread id 1: the thread has no uri"),
    ],
)
def test_isso_stops_at_a_bad_value_naming_the_comment(tmp_path: Path, sql: str, message: str) -> None:
    with pytest.raises(InvalidImportFile, match=message):
        list(isso.read(make_db(tmp_path, sql)))


def test_isso_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "comments.db"
    path.write_text("just some text\n")
    with pytest.raises(InvalidImportFile, match="not an SQLite database"):
        list(isso.read(path))


def test_isso_refuses_a_database_that_is_not_issos(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE threads (id INTEGER PRIMARY KEY, uri TEXT, title TEXT)")
        conn.execute("CREATE TABLE comments (id INTEGER PRIMARY KEY, body TEXT)")
    conn.close()
    with pytest.raises(InvalidImportFile, match="not an Isso database: comments has no"):
        list(isso.read(path))


def test_isso_refuses_a_truncated_database(tmp_path: Path) -> None:
    path = make_db(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImportFile):
        list(isso.read(path))
