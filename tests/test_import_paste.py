"""The paste importer: a comment section copied from a page as text, repeats and all,
becomes its unique comments in the page's order, held for the writer's review."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, State, ThreadRecord
from parlour.importers import paste
from parlour.services.markup import render

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "comment-section-copy.txt"
BUTTONS = {"reply", "like", "share", "report", "author", "edit", "delete"}


def comments(path: Path) -> list[CommentRecord]:
    records = list(paste.read(path))
    assert isinstance(records[0], ThreadRecord)
    assert (records[0].source_id, records[0].url) == ("paste", None)
    found = [r for r in records[1:] if isinstance(r, CommentRecord)]
    assert len(found) == len(records) - 1
    return found


def text_of(record: CommentRecord) -> str:
    """The comment as it reads (the Markdown escapes taken off)."""
    return re.sub(r"\\(.)", r"\1", record.body)


def pasted(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "copy.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def seed_lines() -> list[str]:
    if not SEED.exists():
        pytest.skip(f"{SEED} is not here")
    return [" ".join(line.split()) for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_real_copy_becomes_its_unique_comments_once_each(seed_lines: list[str]) -> None:
    found = comments(SEED)
    texts = [text_of(c) for c in found]
    assert len(texts) == len(set(seed_lines)) < len(seed_lines)
    assert set(texts) == set(seed_lines)
    assert len({c.source_id for c in found}) == len(found)
    assert all(c.state is State.PENDING and c.thread == "paste" and c.parent is None for c in found)
    assert not [t for t in texts if t.strip().lower() in BUTTONS]


def test_the_real_copy_keeps_the_order_of_each_of_its_copies(seed_lines: list[str]) -> None:
    texts = [text_of(c) for c in comments(SEED)]
    first_repeat = next(i for i, line in enumerate(seed_lines) if line in seed_lines[:i])
    for copy in (seed_lines[:first_repeat], seed_lines[first_repeat:]):
        places = [texts.index(line) for line in dict.fromkeys(copy)]
        assert places == sorted(places)
    # The first copy's comments come in the first copy's order, from the top.
    assert texts[0] == seed_lines[0]
    created = [c.created_at for c in comments(SEED)]
    assert created == sorted(created) and len(set(created)) == len(created)


def test_pasting_the_same_copy_again_gives_the_same_ids(tmp_path: Path) -> None:
    text = "A first thought.\nA reply to it.\n"
    once = [c.source_id for c in comments(pasted(tmp_path, text))]
    twice = [c.source_id for c in comments(pasted(tmp_path, text + text.upper().lower()))]
    assert once == twice


SUBSTACK = """\
Comments
Wren Hollis
Mar 3
The third part hit home.
It made me call my sister.
Like (4)
Reply
Share
Nell Avery
Author
Mar 4
Thank you, Wren. Say hello to her from me.
Like (1)
Reply
Share
1 reply by Nell Avery
"""


def test_a_substack_style_copy_keeps_names_dates_and_the_author_badge(tmp_path: Path) -> None:
    first, second = comments(pasted(tmp_path, SUBSTACK))
    assert (first.author_name, first.is_writer) == ("Wren Hollis", False)
    assert text_of(first) == "The third part hit home.\n\nIt made me call my sister."
    assert (second.author_name, second.is_writer) == ("Nell Avery", True)
    assert text_of(second) == "Thank you, Wren. Say hello to her from me."
    assert first.created_at < second.created_at


WORDPRESS = """\
Oskar Lind says:
March 3, 2024 at 10:15 am
Lovely photographs of the harbour.

Reply
Pia says:
March 4, 2024 at 8:02 pm
Which camera was it?
Reply
"""


def test_a_wordpress_style_copy_reads_says_and_full_dates(tmp_path: Path) -> None:
    first, second = comments(pasted(tmp_path, WORDPRESS))
    assert (first.author_name, text_of(first)) == ("Oskar Lind", "Lovely photographs of the harbour.")
    assert first.created_at == 1709460900000  # 2024-03-03 10:15 UTC
    assert (second.author_name, second.created_at) == ("Pia", 1709582520000)  # 20:02


DISQUS = """\
Tamsin Roe • 2 years ago
Bookmarking this for the winter.
5
Reply • Share ›
Avatar
Luc • a year ago
Same here.
Reply • Share ›
"""


def test_a_disqus_style_copy_reads_name_and_date_on_one_line(tmp_path: Path) -> None:
    first, second = comments(pasted(tmp_path, DISQUS))
    assert (first.author_name, text_of(first)) == ("Tamsin Roe", "Bookmarking this for the winter.")
    assert (second.author_name, text_of(second)) == ("Luc", "Same here.")


def test_blank_lines_and_buttons_between_bare_comments_are_dropped(tmp_path: Path) -> None:
    found = comments(pasted(tmp_path, "First comment.\n\nReply\n\n\u2764 3\nSecond comment.\r\n\r\nLike\n"))
    assert [text_of(c) for c in found] == ["First comment.", "Second comment."]
    assert all(c.author_name is None for c in found)


def test_html_and_markdown_in_a_paste_stay_text(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold** [link](javascript:x)\n# not a heading\n1. not a list\n"
    found = comments(pasted(tmp_path, hostile))
    html = "".join(render(c.body) for c in found)
    assert "<script" not in html and "<img" not in html and "<strong>" not in html and "<h1>" not in html
    assert "<ol>" not in html and "javascript:" not in html.replace("(javascript:x)", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert [text_of(c) for c in found][1:] == ["# not a heading", "1. not a list"]


def test_an_empty_or_binary_or_oversized_paste_imports_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportFile, match="no comments"):
        list(paste.read(pasted(tmp_path, "\n\nReply\nLike\n")))
    binary = tmp_path / "copy.bin"
    binary.write_bytes(b"PK\x03\x04\x00\x00")
    with pytest.raises(InvalidImportFile, match="not text"):
        list(paste.read(binary))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Ça va\nd\xe9j\xe0".encode("latin-1"))
    with pytest.raises(InvalidImportFile, match="line 1"):
        list(paste.read(latin))
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (paste.MAX_BYTES + 1))
    with pytest.raises(InvalidImportFile, match="at most"):
        list(paste.read(big))
