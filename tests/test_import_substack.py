"""The Substack importer: the comments JSON Substack's API answers for a post."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, Skipped, State, ThreadRecord
from parlour.importers import substack
from parlour.services import markup

FIXTURES = Path(__file__).parent / "importers" / "substack"
COAST = FIXTURES / "letters-from-the-coast.json"


def comments_of(path: Path) -> dict[str, CommentRecord]:
    return {r.source_id: r for r in substack.read(path) if isinstance(r, CommentRecord)}


def test_substack_file_is_one_thread_without_an_address() -> None:
    records = list(substack.read(COAST))
    assert records[0] == ThreadRecord(source_id="letters-from-the-coast", url=None)
    assert all(r.thread == "letters-from-the-coast" for r in records[1:] if isinstance(r, CommentRecord))


def test_substack_keeps_nested_replies_the_author_mark_and_reactions() -> None:
    comments = comments_of(COAST)
    assert list(comments) == ["81000001", "81000002", "81000003", "81000004", "81000005"]
    first, writer, answer = comments["81000001"], comments["81000002"], comments["81000003"]
    assert first.parent is None and writer.parent == "81000001" and answer.parent == "81000002"
    assert writer.is_writer and not first.is_writer and not answer.is_writer
    assert (first.hearts, writer.hearts, answer.hearts) == (4, 2, 0)
    assert first.created_at == 1_709_662_961_512
    assert answer.created_at == 1_709_704_800_000  # 07:00 at +01:00
    assert writer.edited_at == 1_709_668_980_000
    assert first.author_name == "Rosalind" and first.author_email is None


def test_substack_keeps_a_deleted_comment_removed_under_its_replies() -> None:
    comments = comments_of(COAST)
    gone = comments["81000004"]
    assert gone.state is State.REMOVED and gone.body == "" and gone.author_name is None
    assert comments["81000005"].parent == "81000004"


def test_substack_plain_text_renders_as_it_was_written() -> None:
    html = markup.render(comments_of(COAST)["81000001"].body)
    assert "*fog*" in html and "<em>" not in html
    assert "fog*.<br>" in html  # the line break kept
    assert "<h1>" not in html and "# not a heading" in html
    assert '<a href="https://example.org/a_b_c"' in html


def test_substack_folder_is_one_thread_per_file_under_p(tmp_path: Path) -> None:
    folder = tmp_path / "comments"
    folder.mkdir()
    shutil.copy(COAST, folder)
    shutil.copy(FIXTURES / "a-second-letter.json", folder)
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    threads = [r for r in substack.read(folder) if isinstance(r, ThreadRecord)]
    assert threads == [
        ThreadRecord(source_id="a-second-letter", url="/p/a-second-letter"),
        ThreadRecord(source_id="letters-from-the-coast", url="/p/letters-from-the-coast"),
    ]


def test_substack_zip_is_read_entry_by_entry(tmp_path: Path) -> None:
    path = tmp_path / "comments.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(COAST, "posts/letters-from-the-coast.json")
        archive.write(FIXTURES / "a-second-letter.json", "posts/a-second-letter.json")
        archive.writestr("__MACOSX/posts/._a-second-letter.json", b"\x00\x05\x16\x07")
    records = list(substack.read(path))
    assert [r.url for r in records if isinstance(r, ThreadRecord)] == [
        "/p/letters-from-the-coast",
        "/p/a-second-letter",
    ][::-1]
    assert Skipped("not a comments file", source_id="__MACOSX/posts/._a-second-letter.json") in records
    assert len([r for r in records if isinstance(r, CommentRecord)]) == 6


def test_substack_zip_entry_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "comments.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(COAST, "letters-from-the-coast.json")
        archive.writestr("notes.txt", "not JSON at all")
    with pytest.raises(InvalidImportFile, match=r"notes\.txt: the JSON is cut short or malformed"):
        list(substack.read(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"comments": [{"id": 1, "body": "a", "date": "2024-01-01T00:00:00Z"}, {"id": 2, "body"',
            "comment 2: the JSON is cut short",
        ),
        (
            '{"comments": [{"id": 1, "body": 5, "date": "2024-01-01T00:00:00Z"}]}',
            "comment 1: body is not text",
        ),
        (
            '{"comments": [{"id": 1, "body": "a", "date": "2024-13-01T00:00:00Z"}]}',
            "comment 1: date is not a date",
        ),
        (
            '{"comments": [{"id": 1, "body": "a", "date": "2024-01-01T00:00:00Z", "reactions": {"❤": 1e999}}]}',
            "reactions (should be a whole number|is out of range)|a number is too large",
        ),
        (
            '{"comments": [{"id": 1, "body": "a", "date": "2024-01-01T00:00:00Z", "reactions": {"❤": 99999999999}}]}',
            "reactions is out of range",
        ),
        (
            '{"comments": [{"id": 1, "body": "a", "date": "2024-01-01T00:00:00Z", "children": {}}]}',
            "children should be a list",
        ),
        (
            '{"comments": [{"id": true, "body": "a", "date": "2024-01-01T00:00:00Z"}]}',
            "id is missing or is not an id",
        ),
        (
            '{"comments": [{"id": 1, "body": "a", "date": "2024-01-01T00:00:00Z", "metadata": {"is_author": "yes"}}]}',
            "is_author should be",
        ),
        ('{"post": 1}', "the file has no comments list"),
        ("[]", "the file is not a JSON object"),
    ],
)
def test_substack_stops_at_a_bad_comment_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "post.json"
    path.write_text(text)
    with pytest.raises(InvalidImportFile, match=message):
        list(substack.read(path))


def test_substack_refuses_replies_nested_without_end(tmp_path: Path) -> None:
    reply = '{"id": 9, "body": "a", "date": "2024-01-01T00:00:00Z", "children": []}'
    for n in range(300):
        reply = f'{{"id": {n}, "body": "a", "date": "2024-01-01T00:00:00Z", "children": [{reply}]}}'
    path = tmp_path / "post.json"
    path.write_text(f'{{"comments": [{reply}]}}')
    with pytest.raises(InvalidImportFile, match="nested too deep"):
        list(substack.read(path))


def test_substack_top_level_reply_takes_its_parent_from_the_ancestor_path(tmp_path: Path) -> None:
    path = tmp_path / "post.json"
    path.write_text(
        '{"comments": [{"id": 7, "body": "a", "date": "2024-01-01T00:00:00Z", "ancestor_path": "3.5"}]}'
    )
    assert comments_of(path)["7"].parent == "5"
