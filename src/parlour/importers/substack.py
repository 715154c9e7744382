"""Substack's comments, as its API answers them for a post, as import records.

`https://NAME.substack.com/api/v1/post/POST_ID/comments?all_comments=true` answers
`{"comments": [...]}`, each comment with `id`, `body` (plain text), `date` (ISO 8601),
`edited_at`, `name`, `handle`, `user_id`, `post_id`, `ancestor_path`, `deleted`,
`reactions` (`{"❤": N}`) or `reaction_count`, `metadata {is_author}`, and its replies
nested in `children`. Substack offers no export of comments, so this answer, saved to a
file, is what a writer can take with her.

The path is one such file, a folder of them, or a zip of them (every file or entry must be
one; hidden files and a Mac's `__MACOSX/` entries are passed over). The answer does not say
the post's address, so:

- one file is one thread with no URL: the import's `--thread KEY` names it;
- each file of a folder or zip is a thread whose URL is `/p/<file name without .json>`,
  Substack's own path for a post whose slug the file is named after; `--map-url /p/=/blog/`
  moves them under another path.

The body is plain text, escaped into Markdown that renders the same. `metadata.is_author`
(or `author_is_admin`) marks the writer's replies; the reactions' sum is the hearts; a
`deleted` comment comes in removed, so its replies keep their place.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from parlour.domain.imports import CommentRecord, Record, Skipped, State, ThreadRecord, bad_file
from parlour.importers.fields import (
    MAX_COUNT,
    Limited,
    Place,
    count,
    flag,
    ident,
    json_items,
    millis,
    obj,
    opt_millis,
    opt_obj,
    opt_text,
    plain_to_markdown,
    unpack_limit,
)

# Replies nested deeper than this are not a conversation but an attack on the stack.
_MAX_DEPTH = 200


def read(path: Path) -> Iterator[Record]:
    """The threads and comments of one answer, a folder of answers or a zip of them."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise bad_file("the folder has no comments files", where=path.name)
        for file in files:
            with file.open("rb") as stream:
                yield from _answer(stream, file.stem, f"/p/{file.stem}", file.name)
    elif zipfile.is_zipfile(path):
        yield from _archive(path)
    else:
        with path.open("rb") as stream:
            yield from _answer(stream, path.stem, None, None)


def _archive(path: Path) -> Iterator[Record]:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = sorted(info.filename for info in archive.infolist() if not info.is_dir())
            for name in entries:
                pure = PurePosixPath(name)
                if name.startswith("__MACOSX/") or pure.name.startswith("."):
                    yield Skipped("not a comments file", source_id=name)
                    continue
                stem = pure.stem
                info = archive.getinfo(name)
                limit = unpack_limit(info.compress_size)
                if info.file_size > limit:
                    raise bad_file(
                        "it unpacks to far more than its own size (a decompression bomb?)", where=name
                    )
                with Limited(archive.open(name), limit) as stream:
                    yield from _answer(cast(IO[bytes], stream), str(pure.with_suffix("")), f"/p/{stem}", name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, zlib.error) as exc:
        raise bad_file(f"the zip cannot be read ({exc})", where=path.name) from None


def _answer(stream: IO[bytes], thread: str, url: str | None, where: str | None) -> Iterator[Record]:
    """One post's comments: its thread, then each top-level comment and its replies."""
    yield ThreadRecord(source_id=thread, url=url)
    place = Place(where=where)
    for item in json_items(stream, "comments", place, "comment"):
        comment = obj(item, "a comment", place)
        ancestors = opt_text(comment, "ancestor_path", place)
        parent = ancestors.split(".")[-1] if ancestors else None
        yield from _tree(comment, thread, parent, place, 0)


def _tree(
    comment: Mapping[str, Any], thread: str, parent: str | None, place: Place, depth: int
) -> Iterator[CommentRecord]:
    if depth > _MAX_DEPTH:
        raise place.bad("replies are nested too deep")
    record = _comment(comment, thread, parent, place)
    yield record
    children = comment.get("children")
    if children is None:
        children = []
    if not isinstance(children, list):
        raise place.bad("children should be a list")
    for child in children:
        yield from _tree(obj(child, "a reply", place), thread, record.source_id, place, depth + 1)


def _comment(comment: Mapping[str, Any], thread: str, parent: str | None, place: Place) -> CommentRecord:
    comment_id = ident(comment, "id", place)
    deleted = flag(comment, "deleted", place)
    body = opt_text(comment, "body", place)
    metadata = opt_obj(comment, "metadata", place)
    return CommentRecord(
        source_id=comment_id,
        thread=thread,
        body="" if deleted or body is None else plain_to_markdown(body),
        created_at=millis(comment.get("date"), "date", place),
        parent=parent,
        author_name=opt_text(comment, "name", place),
        state=State.REMOVED if deleted else State.PUBLISHED,
        hearts=_hearts(comment, place),
        is_writer=flag(metadata, "is_author", place) or flag(comment, "author_is_admin", place),
        edited_at=opt_millis(comment.get("edited_at"), "edited_at", place),
    )


def _hearts(comment: Mapping[str, Any], place: Place) -> int:
    reactions = comment.get("reactions")
    if reactions:
        total = sum(max(count(n, "reactions", place), 0) for n in obj(reactions, "reactions", place).values())
        if total > MAX_COUNT:
            raise place.bad("reactions is out of range")
        return total
    return max(count(comment.get("reaction_count"), "reaction_count", place), 0)
