"""WordPress's export (WXR): RSS 2.0 with the `wp:` namespace, one <item> a post or page.

The namespace's URI names the WXR version (http://wordpress.org/export/1.0/ to 1.2/,
written with https:// by WordPress.com and some export tools); any of them is read.
Each item with comments becomes a thread (its `link`, `title`, `wp:comment_status`
closed = locked), and each `<wp:comment>` a comment:

    <wp:comment_id>, <wp:comment_author>, <wp:comment_author_email>,
    <wp:comment_date_gmt> (UTC; "0000-00-00 00:00:00" on some old rows, when the site's
    local <wp:comment_date> is taken as UTC instead), <wp:comment_content> (HTML, with
    newlines as line breaks and blank lines as paragraphs, as WordPress shows it),
    <wp:comment_approved> ("1" published, "0" held, "spam", "trash" and "post-trashed"
    removed), <wp:comment_type> ("" or "comment"; pingbacks and trackbacks are skipped
    with a count), <wp:comment_parent> ("0": none), <wp:comment_user_id>.

A comment by the post's own author (its user id is that of the <wp:author> whose login
is the item's <dc:creator>; where the export's authors carry no ids, as WordPress.com's,
a signed-in comment from that author's address) is the writer's. Comments of
attachments, and of posts not published (`wp:status` draft, private, pending, trash),
are skipped: their threads would be public here.
WordPress has no comment likes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from parlour.domain.imports import CommentRecord, Record, Skipped, State, ThreadRecord, bad_file
from parlour.importers import xmlstream
from parlour.importers.html import to_markdown

WHAT = "a WordPress export (WXR)"
WP = ("{http://wordpress.org/export/", "{https://wordpress.org/export/")  # then "1.0/", "1.1/", "1.2/"
CREATOR = "{http://purl.org/dc/elements/1.1/}creator"

_STATES = {
    "1": State.PUBLISHED,
    "approve": State.PUBLISHED,
    "0": State.PENDING,
    "hold": State.PENDING,
    "spam": State.SPAM,
    "trash": State.REMOVED,
    "post-trashed": State.REMOVED,
}
_KEPT_TYPES = frozenset(("", "comment"))
_NO_DATE = "0000-00-00 00:00:00"


def read(path: Path) -> Iterator[Record]:
    """The posts with comments and their comments, streamed."""
    root = xmlstream.root_tag(path, WHAT)
    if root != "rss":
        raise bad_file(f"not {WHAT}: its root element is <{_local(root)}>, not <rss>")
    authors: dict[str, str] = {}  # user id -> login, from the channel's <wp:author>s
    emails: dict[str, str] = {}  # login -> address (WordPress.com's authors have no id)
    found_wp = False
    for element in xmlstream.elements(path, ("item", "{*}author"), 2, WHAT):
        if element.tag != "item":
            if _wp(str(element.tag)):
                found_wp = True
                fields = _fields(element)
                if fields.get("author_id"):
                    authors[fields["author_id"]] = fields.get("author_login", "")
                if fields.get("author_login") and fields.get("author_email"):
                    emails[fields["author_login"]] = fields["author_email"].lower()
            continue
        found_wp = found_wp or any(isinstance(c.tag, str) and _wp(c.tag) for c in element)
        yield from _item(element, authors, emails)
    if not found_wp:
        raise bad_file(f"not {WHAT}: an RSS file without WordPress's wp: elements")


def _item(item: etree._Element, authors: dict[str, str], emails: dict[str, str]) -> list[Record]:
    fields: dict[str, str] = {}
    comments: list[etree._Element] = []
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if _wp(tag):
            name = _local(tag)
            if name == "comment":
                comments.append(child)
            else:
                fields[name] = xmlstream.text(child)
        elif tag in ("title", "link", "guid"):
            fields[tag] = xmlstream.text(child)
        elif tag == CREATOR:
            fields["creator"] = xmlstream.text(child)
    if not comments:
        return []
    thread_id = fields.get("post_id") or fields.get("guid") or fields.get("link") or ""
    if fields.get("post_type") == "attachment":
        return [Skipped("comment on an attachment", _comment_id(c), c.sourceline) for c in comments]
    if fields.get("status", "publish") not in ("publish", "inherit"):  # a draft, private or trashed post
        return [Skipped("comment on an unpublished post", _comment_id(c), c.sourceline) for c in comments]
    records: list[Record] = []
    writer_ids = {user for user, login in authors.items() if login and login == fields.get("creator")}
    writer_email = emails.get(fields.get("creator", ""))
    for comment in comments:
        records.append(_comment(comment, thread_id, writer_ids, writer_email))
    if not any(isinstance(record, CommentRecord) for record in records):
        return records
    thread = ThreadRecord(
        source_id=thread_id,
        url=fields.get("link") or None,
        title=fields.get("title") or None,
        closed=fields.get("comment_status") == "closed",
        line=item.sourceline,
    )
    return [thread, *records]


def _comment(element: etree._Element, thread: str, writer_ids: set[str], writer_email: str | None) -> Record:
    fields = _fields(element)
    line = element.sourceline
    source_id = fields.get("comment_id", "")
    if not source_id:
        return Skipped("comment without an id", None, line)
    kind = fields.get("comment_type", "")
    if kind not in _KEPT_TYPES:
        return Skipped(
            kind if kind in ("pingback", "trackback") else f"{kind} (not a comment)", source_id, line
        )
    parent = fields.get("comment_parent", "0")
    user = fields.get("comment_user_id", "0")
    email = fields.get("comment_author_email") or None
    return CommentRecord(
        source_id=source_id,
        thread=thread,
        body=to_markdown(fields.get("comment_content", ""), breaks=True),
        created_at=_milliseconds(fields, line),
        parent=None if parent in ("", "0") else parent,
        author_name=fields.get("comment_author") or None,
        author_email=email,
        state=_STATES.get(fields.get("comment_approved", "1"), State.PENDING),
        # Signed in as the post's author (by user id, or, where the export's authors have
        # no ids, by her address); a guest giving her address is not taken for her.
        is_writer=user not in ("", "0") and (user in writer_ids or (email or "").lower() == writer_email),
        line=line,
    )


def _fields(element: etree._Element) -> dict[str, str]:
    """The wp: children of an element by their local name (the content not stripped)."""
    fields: dict[str, str] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and _wp(tag):
            name = _local(tag)
            if name == "comment_content":
                fields[name] = child.text or ""
            elif name != "commentmeta":
                fields[name] = xmlstream.text(child)
    return fields


def _milliseconds(fields: dict[str, str], line: int | None) -> int:
    """`comment_date_gmt`, else `comment_date` (the site's local time, taken as UTC)."""
    for name in ("comment_date_gmt", "comment_date"):
        value = fields.get(name, "")
        if value and value != _NO_DATE:
            try:
                moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            except ValueError:
                raise bad_file(f"the comment's {name} {value!r} is not a date and time", line=line) from None
            return int(moment.timestamp()) * 1000
    raise bad_file("the comment has no date (comment_date_gmt or comment_date)", line=line)


def _comment_id(element: etree._Element) -> str | None:
    return _fields(element).get("comment_id") or None


def _wp(tag: str) -> bool:
    return tag.startswith(WP)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
