"""The Remark42 importer: Remark42's own backup (JSON lines, gzipped or not) as records."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, State, ThreadRecord
from parlour.importers import remark42

BACKUP = Path(__file__).parent / "importers" / "remark42" / "backup.jsonl"
POST = "https://blog.example.org/posts/winter-garden/"


def comments_of(path: Path) -> dict[str, CommentRecord]:
    return {r.source_id[-4:]: r for r in remark42.read(path) if isinstance(r, CommentRecord)}


def test_remark42_yields_a_thread_the_first_time_its_url_comes() -> None:
    threads = [r for r in remark42.read(BACKUP) if isinstance(r, ThreadRecord)]
    assert threads == [
        ThreadRecord(source_id=POST, url=POST, title="A winter garden", closed=True, line=2),
        ThreadRecord(
            source_id="https://blog.example.org/posts/bees/",
            url="https://blog.example.org/posts/bees/",
            line=5,
        ),
    ]


def test_remark42_keeps_the_tree_the_original_markdown_and_the_writer() -> None:
    comments = comments_of(BACKUP)
    first, reply, removed = comments["0001"], comments["0002"], comments["0003"]
    assert first.body == "Which **kale** survives frost best?"
    assert first.parent is None and first.thread == POST
    assert first.created_at == 1_610_262_930_123  # 08:15:30.123456789 at +01:00, in ms UTC
    assert first.hearts == 3  # the up votes, not the score (up less down)
    assert first.author_name == "Anselm" and not first.is_writer
    assert reply.parent.endswith("0001") and reply.is_writer  # type: ignore[union-attr]
    assert (reply.hearts, reply.edited_at) == (4, 1_610_269_500_000)
    assert removed.state is State.REMOVED and removed.body == ""
    assert removed.created_at == 1_610_384_400_000


def test_remark42_converts_the_html_when_no_original_is_kept() -> None:
    old = comments_of(BACKUP)["0004"]
    assert old.body == "Old comment, no original kept."
    assert old.hearts == 0  # a score below zero is no hearts


def test_remark42_unescapes_the_original_and_the_name_it_stored_escaped(tmp_path: Path) -> None:
    """Remark42 runs bluemonday on `orig` and escapes `user.name` before storing them
    (store.Comment.Sanitize): its backups hold `&gt;` where the reader typed `>`."""
    line = orjson.dumps(
        {
            "id": "x", "pid": "", "text": "<blockquote><p>quoted</p></blockquote>",
            "orig": "&gt; quoted\n\nSo `a &lt; b` &amp; that&#39;s &#34;fine&#34;",
            "user": {"name": "Tom &amp; Jerry&#39;s", "id": "github_1", "admin": False},
            "locator": {"site": "blog", "url": "https://a/"}, "time": "2021-01-10T09:00:00Z",
        }
    )  # fmt: skip
    comment = comments_of(replace_line(tmp_path, 3, line))["x"]
    assert comment.body == """> quoted\n\nSo `a < b` & that's "fine\""""
    assert comment.author_name == "Tom & Jerry's"


def test_remark42_keeps_the_line_breaks_it_showed(tmp_path: Path) -> None:
    """Remark42 renders with blackfriday's HardLineBreak: a newline is a line break."""
    line = orjson.dumps(
        {
            "id": "x", "pid": "", "text": "<p>Dear all,<br>\nthank you.</p>", "orig": "Dear all,\nthank you.",
            "locator": {"site": "blog", "url": "https://a/"}, "time": "2021-01-10T09:00:00Z",
        }
    )  # fmt: skip
    assert comments_of(replace_line(tmp_path, 3, line))["x"].body == "Dear all,  \nthank you."


def test_remark42_reads_a_gzipped_backup(tmp_path: Path) -> None:
    packed = tmp_path / "remark-backup-blog-20210111.gz"
    packed.write_bytes(gzip.compress(BACKUP.read_bytes()))
    assert list(remark42.read(packed)) == list(remark42.read(BACKUP))


def test_remark42_reads_a_file_without_the_meta_record(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(b"".join(BACKUP.read_bytes().splitlines(keepends=True)[1:]))
    threads = [r for r in remark42.read(path) if isinstance(r, ThreadRecord)]
    assert [t.closed for t in threads] == [False, False]


def replace_line(tmp_path: Path, number: int, line: bytes) -> Path:
    lines = BACKUP.read_bytes().splitlines(keepends=True)
    lines[number - 1] = line + b"\n"
    path = tmp_path / "backup.jsonl"
    path.write_bytes(b"".join(lines))
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            b'{"id":"x","pid":"","text":"a","locator":{"url":"https://a/"},"time":"2021-01-10T09',
            "line 3: this line is not JSON",
        ),
        (
            b'{"id":"x","pid":"","text":"\xff","locator":{"url":"https://a/"},"time":"2021-01-10T09:00:00Z"}',
            "line 3: this line is not JSON",
        ),
        (
            b'{"id":"x","pid":"","text":"a","locator":{"url":"https://a/"},"time":"yesterday"}',
            "comment x, line 3: time is not a date",
        ),
        (
            b'{"id":"x","pid":"","text":"a","locator":{"url":"https://a/"},"time":"2021-01-10T09:00:00Z","score":1e30}',
            "score is out of range",
        ),
        (
            b'{"id":"x","pid":"","text":"a","locator":"https://a/","time":"2021-01-10T09:00:00Z"}',
            "locator should be a JSON object",
        ),
        (
            b'{"id":["x"],"pid":"","text":"a","locator":{"url":"https://a/"},"time":"2021-01-10T09:00:00Z"}',
            "line 3: id is missing",
        ),
        (b'{"id":"x","pid":"","text":"a","locator":{"url":"https://a/"}}', "time is missing"),
        (
            b'{"id":"x","pid":"","text":"a","user":{"admin":"yes"},"locator":{"url":"https://a/"},"time":"2021-01-10T09:00:00Z"}',
            "admin should be true or false",
        ),
        (b"[1, 2, 3]", "line 3: the line should be a JSON object"),
    ],
)
def test_remark42_stops_at_a_bad_line_naming_it(
    tmp_path: Path,
    line: bytes,
    message: str,
) -> None:
    with pytest.raises(InvalidImportFile, match=message):
        list(remark42.read(replace_line(tmp_path, 3, line)))


def test_remark42_reads_records_spread_over_lines_or_sharing_one_as_remark42_does(tmp_path: Path) -> None:
    """Remark42 writes a record a line but reads any stream of JSON values (Go's
    json.Decoder): a backup edited by hand may hold its meta record and the first
    comment on one line, and a comment pretty-printed over several."""
    lines = BACKUP.read_bytes().splitlines()
    pretty = orjson.dumps(orjson.loads(lines[2]), option=orjson.OPT_INDENT_2)
    path = tmp_path / "edited.jsonl"
    path.write_bytes(b"\n".join([lines[0] + b"  " + lines[1], pretty + b" " + lines[3], *lines[4:]]) + b"\n")
    expected = [(r, getattr(r, "line", None)) for r in remark42.read(BACKUP)]
    read = list(remark42.read(path))
    assert [r.source_id for r in read] == [r.source_id for r, _ in expected]
    assert [r.body for r in read if isinstance(r, CommentRecord)] == [
        r.body for r, _ in expected if isinstance(r, CommentRecord)
    ]
    starts = {r.source_id[-4:]: r.line for r in read if isinstance(r, CommentRecord)}
    pretty_lines = pretty.count(b"\n")
    assert list(starts.values())[:3] == [1, 2, 2 + pretty_lines]  # where each record starts


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (b'{"id": "x",\n "text": "a string the line does not close\n', 3),
        (b'{"id": "x"}}\n', 3),
        (b'{"id": "x",\n', 3),  # the file ends inside it
        (b'{"a": NaN} {"b": 1}\n', 3),
        (b"}\n" * 100_000, 3),
        (b"{\n" * 100_000, 3),  # refused without reading it all again at each line
        (b'"\\"' * 200_000 + b"\n", 3),  # quotes that never close: refused at the first
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", 3),  # deeper than Python reads
    ],
)
def test_remark42_refuses_a_value_that_is_not_json_at_the_line_it_starts(
    tmp_path: Path, text: bytes, line: int
) -> None:
    lines = BACKUP.read_bytes().splitlines(keepends=True)
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"".join(lines[:2]) + text)
    with pytest.raises(InvalidImportFile, match=rf"^line {line}: this line is not JSON"):
        list(remark42.read(path))


def test_remark42_refuses_an_unknown_backup_version(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportFile, match="line 1: version 2"):
        list(remark42.read(replace_line(tmp_path, 1, b'{"version":2,"users":[],"posts":[]}')))


def test_remark42_refuses_a_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(BACKUP.read_bytes())
    path = tmp_path / "backup.gz"
    path.write_bytes(packed[: len(packed) - 20])
    with pytest.raises(InvalidImportFile, match=r"cannot be read|not JSON"):
        list(remark42.read(path))
