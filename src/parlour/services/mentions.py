"""@Name in a comment: a link to the latest earlier comment of whoever has that name in
the thread, added to the sanitised HTML when the comment is written.

Done here, at write time, rather than in the widget: the stored HTML is what every page,
feed, mail and the desk show, so they all agree; the names are matched against the
thread's stored comments, never against what a browser was sent; and the link is built
by us from an id and escaped text, after the sanitiser, so a name can carry no markup.

Matching: "@" at the start of a word, then a known name (case-insensitive, Unicode NFC),
longest first, so "@Ann Marie" links to Ann Marie even when an Ann commented too, and
ending where a word ends ("@Annabel" is not Ann). Look-alike letters are not folded: a
mention links to the name as readers see it written, never to an impostor's look-alike.
Inside links, code and preformatted text nothing changes.

The link's form (`MENTION`, with a `class`, which the sanitiser never lets a reader's
own link carry) is how reply mail finds who a comment mentions (`mentioned`).
"""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from collections.abc import Iterable, Mapping

from parlour.domain.model import Site
from parlour.store import Tx
from parlour.store import comments as store

MENTION = '<a href="#comment-{id}" class="mention">'
_MENTION = re.compile(r'<a href="#comment-(\d+)" class="mention">')
# A tag of the sanitiser's output: attribute values are always double-quoted there.
_TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')
_TAG_NAME = re.compile(r"</?([a-zA-Z0-9]+)")
_UNCHANGED = {"a", "code", "pre"}  # text inside these is never a mention


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def authors(rows: Iterable[tuple[int, str | None, bool]], writer_name: str) -> dict[str, tuple[str, int]]:
    """Each name (its key) and its latest comment id, from (id, name, by the writer) rows
    oldest first; the writer's comments go by her name on the site."""
    found: dict[str, tuple[str, int]] = {}
    for comment_id, name, is_writer in rows:
        shown = (writer_name if is_writer else name or "").strip()
        if shown:
            found[_key(shown)] = (shown, comment_id)
    return found


def link_in(tx: Tx, site: Site, thread_id: int, body: str, html: str, before: int) -> str:
    """`html` with its mentions of the thread's earlier commenters (published before
    `before`) as links; the same string when the body has no "@"."""
    if "@" not in body or "@" not in html:
        return html
    return link(html, authors(store.authors_before(tx, thread_id, before), site.writer_name))


def link(html: str, known: Mapping[str, tuple[str, int]]) -> str:
    """Sanitised `html` with "@Name" of each known name (by key) as a link to its comment."""
    if "@" not in html or not known:
        return html
    names: dict[int, dict[str, int]] = {}  # by length, longest tried first: key -> comment id
    for name, comment_id in known.values():
        names.setdefault(len(name), {})[_key(name)] = comment_id
    names = dict(sorted(names.items(), reverse=True))
    out: list[str] = []
    pos, inside = 0, 0
    for tag in _TAG.finditer(html):
        out.append(_text(html[pos : tag.start()], names) if not inside else html[pos : tag.start()])
        found = _TAG_NAME.match(tag.group())
        if found and found.group(1).lower() in _UNCHANGED and not tag.group().endswith("/>"):
            inside = max(0, inside + (-1 if tag.group().startswith("</") else 1))
        out.append(tag.group())
        pos = tag.end()
    out.append(_text(html[pos:], names) if not inside else html[pos:])
    return "".join(out)


def _text(escaped: str, names: Mapping[int, Mapping[str, int]]) -> str:
    """A run of escaped text with its mentions linked (unchanged when it has none)."""
    if "@" not in escaped:
        return escaped
    text = html_lib.unescape(escaped)
    pieces: list[str] = []
    done = 0
    at = text.find("@")
    while at != -1:
        match = None if at > 0 and _word(text[at - 1]) else _match(text, at + 1, names)
        if match is None:
            at = text.find("@", at + 1)
            continue
        length, comment_id = match
        end = at + 1 + length
        pieces.append(html_lib.escape(text[done:at], quote=False))
        pieces.append(MENTION.format(id=comment_id) + html_lib.escape(text[at:end], quote=False) + "</a>")
        done = end
        at = text.find("@", end)
    if not pieces:
        return escaped
    pieces.append(html_lib.escape(text[done:], quote=False))
    return "".join(pieces)


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _match(text: str, start: int, names: Mapping[int, Mapping[str, int]]) -> tuple[int, int] | None:
    """(length, comment id) of the longest known name at `start` that ends a word there.

    One look-up per length of name, not one comparison per name: a comment of many "@"
    on a thread of thousands of commenters costs as little as on a small one."""
    for length, keys in names.items():
        end = start + length
        if end > len(text) or (end < len(text) and _word(text[end])):
            continue
        comment_id = keys.get(_key(text[start:end]))
        if comment_id is not None:
            return length, comment_id
    return None


def mentioned(html: str) -> list[int]:
    """The comment ids a stored comment's mentions link to, each once, in order."""
    return list(dict.fromkeys(int(found) for found in _MENTION.findall(html)))
