"""WordPress's export (WXR): comments of posts and pages, states, types, authors, refusals."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hostile import hostile_files

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, Skipped, State, ThreadRecord
from parlour.importers import wordpress

BLOG = Path(__file__).parent / "wordpress" / "blog.xml"
OLD = Path(__file__).parent / "wordpress" / "wxr-1.0.xml"


def comments(path: Path = BLOG) -> dict[str, CommentRecord]:
    return {r.source_id: r for r in wordpress.read(path) if isinstance(r, CommentRecord)}


def test_wordpress_gives_posts_and_pages_with_comments_as_threads() -> None:
    threads = [r for r in wordpress.read(BLOG) if isinstance(r, ThreadRecord)]
    assert [(t.source_id, t.url, t.title, t.closed) for t in threads] == [
        ("12", "https://allotment.example/2024/03/broad-beans/", "Broad beans, sown too early", False),
        ("2", "https://allotment.example/about/", "About plot 14", True),  # a page, closed
    ]


def test_wordpress_reads_its_export_gzipped(tmp_path: Path) -> None:
    packed = tmp_path / "blog.wordpress.xml.gz"
    packed.write_bytes(gzip.compress(BLOG.read_bytes()))
    assert list(wordpress.read(packed)) == list(wordpress.read(BLOG))


def test_wordpress_keeps_the_reply_tree() -> None:
    assert {k: (c.thread, c.parent) for k, c in comments().items()} == {
        "101": ("12", None),
        "102": ("12", "101"),
        "105": ("12", None),
        "106": ("12", None),
        "107": ("12", "102"),
        "90": ("2", None),
    }


def test_wordpress_approval_becomes_a_state() -> None:
    states = {k: c.state for k, c in comments().items()}
    assert states == {
        "101": State.PUBLISHED,
        "102": State.PUBLISHED,
        "105": State.PENDING,
        "106": State.SPAM,
        "107": State.REMOVED,
        "90": State.PUBLISHED,
    }


def test_wordpress_dates_are_gmt_else_the_local_date() -> None:
    found = comments()
    assert found["101"].created_at == 1710065100000  # 2024-03-10 10:05:00 UTC
    assert found["90"].created_at == 1685638800000  # the GMT date, 17:00, not the local 18:00
    assert found["105"].created_at == 1710230400000  # GMT 0000-00-00: 2024-03-12 08:00 local


def test_wordpress_skips_pingbacks_trackbacks_and_attachments_with_a_count() -> None:
    skipped = [(r.reason, r.source_id) for r in wordpress.read(BLOG) if isinstance(r, Skipped)]
    assert skipped == [("pingback", "103"), ("trackback", "104"), ("comment on an attachment", "95")]


def test_wordpress_knows_the_posts_author_as_the_writer() -> None:
    found = comments()
    assert found["102"].is_writer  # user 1 is hazel, the post's dc:creator
    assert not found["90"].is_writer  # user 2 is registered but did not write the page
    assert not found["101"].is_writer


def test_wordpress_reads_the_https_namespace_wordpress_com_writes(tmp_path: Path) -> None:
    path = tmp_path / "wordpress-com.xml"
    path.write_text(BLOG.read_text().replace("http://wordpress.org/export/", "https://wordpress.org/export/"))
    assert list(wordpress.read(path)) == list(wordpress.read(BLOG))


def test_wordpress_knows_the_writer_by_address_where_authors_have_no_ids(tmp_path: Path) -> None:
    """WordPress.com's exports list authors without `wp:author_id`: a comment signed in
    with the post's author's address is hers; a guest giving it is not."""
    text = (
        BLOG.read_text()
        .replace("<wp:author_id>1</wp:author_id>", "")
        .replace("<wp:author_id>2</wp:author_id>", "")
    )
    path = tmp_path / "wordpress-com.xml"
    path.write_text(text)
    found = comments(path)
    assert found["102"].is_writer  # signed in (user 1) as hazel@allotment.example
    assert not found["101"].is_writer and not found["90"].is_writer
    guest = tmp_path / "guest.xml"
    guest.write_text(
        text.replace(
            "<wp:comment_user_id>1</wp:comment_user_id>", "<wp:comment_user_id>0</wp:comment_user_id>"
        )
    )
    assert not comments(guest)["102"].is_writer


def test_wordpress_authors_and_markdown() -> None:
    found = comments()
    assert (found["101"].author_name, found["101"].author_email) == ("Priya", "priya@mail.example")
    assert found["106"].author_email is None
    assert found["101"].body == (
        "Mine too. I fleece them now.\\\nTwo layers, pegged down.\n\nSecond thought: **cloches** work better."
    )


def test_wordpress_reads_the_first_wxr_version() -> None:
    found = comments(OLD)
    assert {k: (c.parent, c.created_at) for k, c in found.items()} == {
        "3": (None, 1389720732000),
        "4": ("3", 1398784895000),
    }
    assert found["4"].body == "Second line\\\nhere."


@pytest.mark.parametrize(
    "case",
    [
        "billion laughs", "external entity file", "external DTD", "truncated", "invalid UTF-8",
        "latin-1 with control bytes", "not XML", "empty", "undefined entity",
    ],
)  # fmt: skip
def test_wordpress_refuses_hostile_and_broken_files_naming_the_line(tmp_path: Path, case: str) -> None:
    start = b'<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel>'
    path, line = hostile_files(tmp_path, BLOG.read_bytes(), start, b"</channel></rss>")[case]
    with pytest.raises(InvalidImportFile) as refused:
        list(wordpress.read(path))
    message = refused.value.message
    if case == "empty":
        assert "empty" in message
    else:
        assert message.startswith("line "), message
        if line is not None:
            assert refused.value.details["line"] == line


def test_wordpress_refuses_rss_that_is_not_an_export(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<rss version="2.0"><channel><item><title>x</title></item></channel></rss>\n'
    )
    with pytest.raises(InvalidImportFile, match="an RSS file without WordPress's wp: elements"):
        list(wordpress.read(path))


def test_wordpress_skips_the_comments_of_a_post_not_published(tmp_path: Path) -> None:
    private = tmp_path / "private.xml"
    private.write_text(BLOG.read_text().replace("<![CDATA[publish]]>", "<![CDATA[private]]>", 1))
    records = list(wordpress.read(private))
    skipped = [r for r in records if isinstance(r, Skipped) and r.reason == "comment on an unpublished post"]
    assert skipped and all(c.thread != "12" for c in comments(private).values())
    assert any(c.thread == "12" for c in comments().values())
