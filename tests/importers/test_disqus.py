"""Disqus's XML export: threads, the reply tree, dates, states and authors, and refusals."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hostile import hostile_files

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, Skipped, State, ThreadRecord
from parlour.importers import disqus

BLOG = Path(__file__).parent / "disqus" / "blog.xml"


def records() -> list[object]:
    return list(disqus.read(BLOG))


def comments() -> dict[str, CommentRecord]:
    return {r.source_id: r for r in records() if isinstance(r, CommentRecord)}


def test_disqus_gives_each_live_thread_with_its_address_and_state() -> None:
    threads = [r for r in records() if isinstance(r, ThreadRecord)]
    assert [(t.source_id, t.url, t.title, t.closed) for t in threads] == [
        ("7001", "https://fieldnotes.example/2019/04/sourdough-diary/", "A sourdough diary, week one", False),
        ("7002", "https://fieldnotes.example/2018/11/winter-bees/", "What bees do in winter", True),
    ]
    assert threads[0].line == 8


def test_disqus_keeps_the_reply_tree() -> None:
    found = comments()
    assert {k: (c.thread, c.parent) for k, c in found.items()} == {
        "9001": ("7001", None),
        "9002": ("7001", "9001"),
        "9003": ("7001", "9002"),
        "9004": ("7001", None),
        "9005": ("7001", "9004"),
        "9006": ("7001", None),
        "9007": ("7002", None),
        "wp_id=41": ("7002", None),  # no dsq:id: its <id>, as Remark42 reads it
    }


def test_disqus_dates_keep_their_offsets_and_default_to_utc() -> None:
    found = comments()
    assert found["9001"].created_at == 1554286530000  # 2019-04-03T10:15:30Z
    assert found["9002"].created_at == 1554292800000  # 14:00+02:00 is 12:00Z
    assert found["9003"].created_at == 1554298200000  # no offset: UTC
    assert found["9007"].created_at == 1542799800000  # 06:30-05:00 is 11:30Z


def test_disqus_deleted_posts_are_removed_and_spam_is_spam() -> None:
    found = comments()
    assert found["9004"].state is State.REMOVED
    assert found["9004"].body == ""
    assert found["9005"].state is State.PUBLISHED
    assert found["9006"].state is State.SPAM
    assert found["9001"].state is State.PUBLISHED


def test_disqus_authors_keep_name_and_private_email() -> None:
    found = comments()
    assert (found["9001"].author_name, found["9001"].author_email) == ("Marek", "marek@mail.example")
    assert (found["9003"].author_name, found["9003"].author_email) == ("Marek", None)
    assert (found["9004"].author_name, found["9004"].author_email) == ("Guest", None)
    assert not any(c.is_writer for c in found.values())


def test_disqus_messages_become_markdown() -> None:
    found = comments()
    assert found["9001"].body == (
        "Day three and the starter finally **doubled**. Rye flour made the difference.\n\n"
        "Does yours smell of *green apples* too?"
    )
    assert found["9002"].body == "It does! That smell fades after a week.\\\nFeed it twice a day until then."
    assert (
        found["9003"].body
        == "Thanks, will try. See [this rye guide](https://bread.example/rye) & the other one."
    )
    assert found["9007"].body == (
        "> they cluster and shiver\n\nSo *that* is the hum I hear near the hive in January.\n\n"
        "- first winter\n- second winter"
    )


def test_disqus_skips_posts_of_deleted_or_missing_threads_with_a_reason() -> None:
    skipped = [r for r in records() if isinstance(r, Skipped)]
    assert [(s.reason, s.source_id, s.line) for s in skipped] == [
        ("post without an id", None, 162),
        ("deleted thread", "9008", 170),
        ("unknown thread", "9009", 182),
    ]


def test_disqus_records_name_their_lines() -> None:
    assert comments()["9001"].line == 53


@pytest.mark.parametrize(
    "case",
    [
        "billion laughs", "external entity file", "external DTD", "truncated", "invalid UTF-8",
        "latin-1 with control bytes", "not XML", "empty", "undefined entity",
    ],
)  # fmt: skip
def test_disqus_refuses_hostile_and_broken_files_naming_the_line(tmp_path: Path, case: str) -> None:
    start = b'<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
    path, line = hostile_files(tmp_path, BLOG.read_bytes(), start, b"</disqus>")[case]
    with pytest.raises(InvalidImportFile) as refused:
        list(disqus.read(path))
    message = refused.value.message
    if case == "empty":
        assert "empty" in message
    else:
        assert message.startswith("line "), message
        if line is not None:
            assert refused.value.details["line"] == line
    assert "root:" not in message  # nothing of /etc/passwd


def test_disqus_titles_read_as_the_page_showed_them(tmp_path: Path) -> None:
    """Disqus keeps a title's HTML entities, escaped again in its XML (a real export has
    `WP Document Revisions &amp;#8212; Document Management &amp;#038; Version Control`)."""
    path = tmp_path / "titles.xml"
    path.write_bytes(
        BLOG.read_bytes().replace(
            b"A sourdough diary, week one",
            b"Sourdough &amp;#8212; rye &amp;#038; spelt &amp;lt;3 &amp;amp;amp;",
            1,
        )
    )
    threads = [r for r in disqus.read(path) if isinstance(r, ThreadRecord)]
    assert threads[0].title == "Sourdough \u2014 rye & spelt <3 &amp;"


def test_disqus_reads_its_export_gzipped_as_disqus_mails_it(tmp_path: Path) -> None:
    packed = tmp_path / "blog-all.xml.gz"
    packed.write_bytes(gzip.compress(BLOG.read_bytes()))
    assert list(disqus.read(packed)) == records()


@pytest.mark.parametrize("case", ["billion laughs", "external DTD", "truncated", "undefined entity"])
def test_disqus_refuses_a_gzipped_hostile_file_as_the_plain_one(tmp_path: Path, case: str) -> None:
    start = b'<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
    plain, _ = hostile_files(tmp_path, BLOG.read_bytes(), start, b"</disqus>")[case]
    packed = tmp_path / "packed.xml.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(InvalidImportFile) as as_plain:
        list(disqus.read(plain))
    with pytest.raises(InvalidImportFile) as as_packed:
        list(disqus.read(packed))
    assert as_packed.value.message == as_plain.value.message


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzipped"])
def test_disqus_refuses_a_doctype_past_the_first_64_kib_naming_its_line(tmp_path: Path, packed: bool) -> None:
    padding = b"<!-- " + b"x" * 70_000 + b" -->\n"
    content = (
        b'<?xml version="1.0"?>\n'
        + padding
        + b'<!DOCTYPE disqus [<!ENTITY a "b">]>\n'
        + BLOG.read_bytes().split(b"?>", 1)[1]
    )
    path = tmp_path / "late.xml.gz"
    path.write_bytes(gzip.compress(content) if packed else content)
    with pytest.raises(InvalidImportFile, match="DOCTYPE") as refused:
        list(disqus.read(path))
    assert refused.value.details["line"] == 3


def test_disqus_refuses_a_gzipped_file_cut_short_saying_it_cannot_be_read(tmp_path: Path) -> None:
    packed = gzip.compress(BLOG.read_bytes())
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InvalidImportFile, match="the file cannot be read"):
        list(disqus.read(path))


def test_disqus_refuses_another_kind_of_xml(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text('<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>\n')
    with pytest.raises(InvalidImportFile, match="not a Disqus export: its root element is <rss>"):
        list(disqus.read(path))


def test_disqus_refuses_a_post_with_an_unreadable_date(tmp_path: Path) -> None:
    path = tmp_path / "bad-date.xml"
    path.write_bytes(BLOG.read_bytes().replace(b"2019-04-03T10:15:30Z", b"2011-x09-30T22:48:43Z"))
    with pytest.raises(InvalidImportFile, match=r"^line 53: the post's createdAt '2011-x09-30T22:48:43Z'"):
        list(disqus.read(path))


def test_disqus_posts_may_name_their_thread_by_its_identifier_as_text(tmp_path: Path) -> None:
    """As the example on Disqus's help page does: `<thread>identifier</thread>`."""
    path = tmp_path / "named.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        '<thread dsq:id="2"><id>winter-garden</id><link>https://blog.example/winter/</link></thread>'
        "<thread><id>bees</id><link>https://blog.example/bees/</link></thread>"
        '<post dsq:id="7"><message>By identifier</message><thread>winter-garden</thread>'
        "<createdAt>2012-12-12T12:12:12Z</createdAt></post>"
        '<post dsq:id="8"><message>Thread without a dsq:id</message><thread>bees</thread>'
        "<createdAt>2012-12-12T12:12:12Z</createdAt></post>"
        '<post dsq:id="9"><message>Nowhere</message><thread>elsewhere</thread>'
        "<createdAt>2012-12-12T12:12:12Z</createdAt></post></disqus>"
    )
    found = list(disqus.read(path))
    posts = {r.source_id: r for r in found if isinstance(r, CommentRecord)}
    assert (posts["7"].thread, posts["8"].thread) == ("2", "bees")
    assert [(r.reason, r.source_id) for r in found if isinstance(r, Skipped)] == [("unknown thread", "9")]
