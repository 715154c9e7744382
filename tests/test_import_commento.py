"""The Commento importer: Commento's and Comentario's JSON exports as import records."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, State, ThreadRecord
from parlour.importers import commento
from parlour.services.markup import render

FIXTURES = Path(__file__).parent / "importers" / "commento"
COMMENTO = FIXTURES / "commento.json"
COMENTARIO = FIXTURES / "comentario-v3.json"
HERONS = "https://notes.example.com/field-notes/herons"


def comments_of(path: Path) -> dict[str, CommentRecord]:
    return {r.source_id[-2:]: r for r in commento.read(path) if isinstance(r, CommentRecord)}


def test_commento_yields_each_page_once_with_its_address() -> None:
    threads = [r for r in commento.read(COMMENTO) if isinstance(r, ThreadRecord)]
    assert threads == [
        ThreadRecord(source_id=HERONS, url=HERONS),
        ThreadRecord(
            source_id="https://notes.example.com/field-notes/otters",
            url="https://notes.example.com/field-notes/otters",
        ),
    ]


def test_commento_names_authors_from_commenters_listed_after_the_comments() -> None:
    comments = comments_of(COMMENTO)
    first, reply = comments["01"], comments["02"]
    assert (first.author_name, first.author_email, first.is_writer) == ("Wren", "wren@example.org", False)
    assert (reply.author_name, reply.is_writer) == ("The writer", True)
    assert reply.parent == first.source_id and first.parent is None
    assert first.body == "Saw two grey herons by the weir this morning."
    assert first.created_at == 1_585_896_300_123
    assert reply.created_at == 1_585_897_200_000  # 09:00 at +02:00
    assert first.hearts == 3


def test_commento_holds_flagged_and_unapproved_comments_and_keeps_deleted_ones_removed() -> None:
    comments = comments_of(COMMENTO)
    assert comments["03"].state is State.PENDING and comments["03"].author_name is None
    assert comments["05"].state is State.PENDING and comments["05"].hearts == 0
    assert comments["04"].state is State.REMOVED and comments["04"].body == ""


def test_commento_takes_a_comment_deleted_as_its_export_shows_it_for_removed(tmp_path: Path) -> None:
    """Commento deletes by writing "[deleted]" over the text and "anonymous" over the
    author, and exports every comment with `"deleted": false` and `"html": ""`
    (api/domain_export.go selects neither column)."""
    data = json.loads(COMMENTO.read_text())
    for comment in data["comments"]:
        comment["html"] = ""  # as Commento exports
    data["comments"][0].update(markdown="[deleted]", commenterHex="anonymous")
    typed = dict(data["comments"][1], markdown="[deleted]")  # a named reader's own words
    typed["commentHex"] = typed["commentHex"][:-2] + "09"
    data["comments"].append(typed)
    path = tmp_path / "commento.json"
    path.write_text(json.dumps(data))
    comments = comments_of(path)
    assert comments["01"].state is State.REMOVED and comments["01"].body == ""
    assert comments["02"].parent == comments["01"].source_id  # its reply stays, under it
    assert comments["09"].state is State.PUBLISHED and comments["09"].body == "[deleted]"


def test_comentario_v3_reads_pages_ids_and_states() -> None:
    records = list(commento.read(COMENTARIO))
    assert records[0] == ThreadRecord(
        source_id="5b0e0c7e-6c1b-4d8e-9a0f-000000000001",
        url="/essays/on-walking",
        title="On walking",
        closed=True,
    )
    comments = {r.source_id[-1]: r for r in records if isinstance(r, CommentRecord)}
    assert comments["1"].author_name == "Hiker" and comments["1"].hearts == 2
    assert comments["1"].created_at == 1_675_324_800_500
    assert comments["2"].parent == comments["1"].source_id and comments["2"].is_writer
    assert comments["2"].edited_at == 1_675_330_260_000
    assert comments["3"].state is State.PENDING and comments["3"].author_name == "Passer-by"


def test_comentario_v3_pins_a_sticky_comment(tmp_path: Path) -> None:
    data = json.loads(COMENTARIO.read_text())
    data["comments"][0]["isSticky"] = True
    path = tmp_path / "comentario.json"
    path.write_text(json.dumps(data))
    comments = {r.source_id[-1]: r for r in commento.read(path) if isinstance(r, CommentRecord)}
    assert [comments[n].pinned for n in "123"] == [True, False, False]


def test_comentario_v3_keeps_the_line_breaks_it_showed_and_commento_joins_them(tmp_path: Path) -> None:
    """Comentario renders with hard wraps (a line breaks where the reader broke it);
    Commento, as CommonMark, joins the lines of a paragraph."""
    typed = "Roses are red,\nviolets are blue.\n\n- a list\n- stays"
    data = json.loads(COMENTARIO.read_text())
    data["comments"][0]["markdown"] = typed
    path = tmp_path / "comentario.json"
    path.write_text(json.dumps(data))
    comentario = next(r for r in commento.read(path) if isinstance(r, CommentRecord))
    assert comentario.body == "Roses are red,  \nviolets are blue.\n\n- a list\n- stays"
    assert render(comentario.body).startswith("<p>Roses are red,<br>\nviolets are blue.</p>\n<ul>")
    old = altered(tmp_path, lambda d: d["comments"][0].update(markdown=typed))
    assert next(r for r in commento.read(old) if isinstance(r, CommentRecord)).body == typed


def test_comentario_reads_its_gzipped_export(tmp_path: Path) -> None:
    packed = tmp_path / "comentario-export.json.gz"
    packed.write_bytes(gzip.compress(COMENTARIO.read_bytes()))
    assert list(commento.read(packed)) == list(commento.read(COMENTARIO))


def altered(tmp_path: Path, change: object) -> Path:
    data = json.loads(COMMENTO.read_text())
    change(data)  # type: ignore[operator]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=7), "version 7"),
        (lambda d: d["comments"][1].update(commenterHex="ff" * 32), "comment 2: the commenter ff"),
        (lambda d: d["comments"][1].update(score=10**40), "comment 2: a number is too large"),
        (
            lambda d: d["comments"][1].update(creationDate=12),
            "comment 2: creationDate is missing or is not a date",
        ),
        (lambda d: d["comments"][1].update(state="maybe"), "comment 2: state 'maybe'"),
        (lambda d: d["comments"][1].update(deleted="no"), "comment 2: deleted should be true or false"),
        (
            lambda d: d["commenters"][0].update(isModerator=1),
            "commenter 1: isModerator should be true or false",
        ),
        (lambda d: d.update(comments={"a": 1}), "comments should be a list"),
        (lambda d: d.pop("comments"), "the file has no comments list"),
    ],
)
def test_commento_stops_at_a_bad_value_naming_the_entry(tmp_path: Path, change: object, message: str) -> None:
    with pytest.raises(InvalidImportFile, match=message):
        list(commento.read(altered(tmp_path, change)))


def test_commento_refuses_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    text = COMMENTO.read_bytes()
    path.write_bytes(text[: text.index(b'"commenters"') - 300])
    with pytest.raises(InvalidImportFile, match="cut short or malformed"):
        list(commento.read(path))


def test_commento_refuses_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(COMMENTO.read_bytes().replace(b"grey herons", b"grey \xff\xfe herons"))
    with pytest.raises(InvalidImportFile, match="comment 1: the text is not UTF-8"):
        list(commento.read(path))


def test_commento_refuses_json_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("[1, 2]")
    with pytest.raises(InvalidImportFile, match="not a Commento or Comentario export"):
        list(commento.read(path))
