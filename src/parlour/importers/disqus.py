"""Disqus's XML export: its threads, then its posts.

The format (Disqus's "Export" page mails it; schema at http://disqus.com/api/schemas/1.0/):

    <disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
      <category dsq:id="1">...</category>
      <thread dsq:id="2"><id>identifier</id><link>https://blog.example/post/</link>
        <title>...</title><createdAt>2013-05-04T19:08:08Z</createdAt>
        <isClosed>false</isClosed><isDeleted>false</isDeleted></thread>
      <post dsq:id="3"><id/><message><![CDATA[<p>HTML</p>]]></message>
        <createdAt>...Z</createdAt><isDeleted>false</isDeleted><isSpam>false</isSpam>
        <author><name/><email/><username/><isAnonymous/></author>
        <thread dsq:id="2"/><parent dsq:id="..."/></post>
    </disqus>

A post is named by its `dsq:id` (its `<id>` when it has none, as Remark42 does), and so
are its thread and parent; a post may also name its thread by the thread's `<id>` as
text (`<thread>identifier</thread>`, as the example of Disqus's own help page does). A
deleted post is kept as removed (its replies keep their place); spam as spam. Posts of
a deleted thread, or of a thread the file does not have, are skipped with a reason.
Disqus keeps no likes in its export.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

from lxml import etree

from parlour.domain.imports import CommentRecord, Record, Skipped, State, ThreadRecord, bad_file
from parlour.importers import xmlstream
from parlour.importers.html import to_markdown

NS = "{http://disqus.com}"
DSQ_ID = "{http://disqus.com/disqus-internals}id"
WHAT = "a Disqus export"

_THREAD, _POST = NS + "thread", NS + "post"
_ID, _LINK, _TITLE = NS + "id", NS + "link", NS + "title"
_MESSAGE, _CREATED = NS + "message", NS + "createdAt"
_DELETED, _SPAM, _CLOSED = NS + "isDeleted", NS + "isSpam", NS + "isClosed"
_AUTHOR, _NAME, _EMAIL, _USERNAME = NS + "author", NS + "name", NS + "email", NS + "username"
_PARENT = NS + "parent"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def read(path: Path) -> Iterator[Record]:
    """The threads and comments of a Disqus export, streamed."""
    root = xmlstream.root_tag(path, WHAT)
    if root != NS + "disqus":
        raise bad_file(f"not {WHAT}: its root element is <{_local(root)}>, not <disqus> of http://disqus.com")
    threads: set[str] = set()  # ids only: a few bytes a post of the blog, not a comment
    deleted: set[str] = set()
    identifiers: dict[str, str] = {}  # a thread's <id> -> its id, for posts naming it so
    for element in xmlstream.elements(path, (_THREAD, _POST), 1, WHAT):
        if element.tag == _THREAD:
            thread = _thread(element)
            if thread is None:
                continue
            identifier = xmlstream.text(element.find(_ID))
            if identifier and identifier != thread.source_id:
                identifiers.setdefault(identifier, thread.source_id)
            if _true(element.find(_DELETED)):
                deleted.add(thread.source_id)
            else:
                threads.add(thread.source_id)
                yield thread
        else:
            yield _post(element, threads, deleted, identifiers)


def _thread(element: etree._Element) -> ThreadRecord | None:
    source_id = element.get(DSQ_ID) or xmlstream.text(element.find(_ID))
    if not source_id:
        return None  # nothing can point at it
    return ThreadRecord(
        source_id=source_id,
        url=xmlstream.text(element.find(_LINK)) or None,
        # Disqus keeps the page's title as the page's HTML wrote it: its entities stay
        # entities inside the XML's own (`&amp;#8212;`), and are read once more here.
        title=unescape(xmlstream.text(element.find(_TITLE))) or None,
        closed=_true(element.find(_CLOSED)),
        line=element.sourceline,
    )


def _post(
    element: etree._Element, threads: set[str], deleted: set[str], identifiers: dict[str, str]
) -> Record:
    line = element.sourceline
    field = _first_children(element)
    source_id = element.get(DSQ_ID) or xmlstream.text(field.get(_ID))
    if not source_id:
        return Skipped("post without an id", None, line)
    thread_ref = field.get(_THREAD)
    thread = "" if thread_ref is None else thread_ref.get(DSQ_ID) or _thread_named(thread_ref, identifiers)
    if thread in deleted:
        return Skipped("deleted thread", source_id, line)
    if thread not in threads:
        return Skipped("unknown thread", source_id, line)
    parent_ref = field.get(_PARENT)
    parent = None if parent_ref is None else parent_ref.get(DSQ_ID) or None
    author = field.get(_AUTHOR)
    name = email = None
    if author is not None:
        of_author = _first_children(author)
        name = xmlstream.text(of_author.get(_NAME)) or xmlstream.text(of_author.get(_USERNAME)) or None
        email = xmlstream.text(of_author.get(_EMAIL)) or None
    if _true(field.get(_SPAM)):
        state = State.SPAM
    elif _true(field.get(_DELETED)):
        state = State.REMOVED
    else:
        state = State.PUBLISHED
    message = field.get(_MESSAGE)
    return CommentRecord(
        source_id=source_id,
        thread=thread,
        body=to_markdown(message.text or "") if message is not None else "",
        created_at=_milliseconds(xmlstream.text(field.get(_CREATED)), line),
        parent=parent,
        author_name=name,
        author_email=email,
        state=state,
        line=line,
    )


def _thread_named(reference: etree._Element, identifiers: dict[str, str]) -> str:
    """The thread a post names by text: a thread's <id> (else its id, if that is all it has)."""
    named = xmlstream.text(reference)
    return identifiers.get(named, named)


def _first_children(element: etree._Element) -> dict[str, etree._Element]:
    """An element's children by tag, the first of each name (what `find` gives), read in
    one pass: a post has a dozen fields, and a `find` each cost more than the parse."""
    return {child.tag: child for child in element.iterchildren(reversed=True)}  # type: ignore[misc]


def _milliseconds(value: str, line: int | None) -> int:
    """ISO 8601 as Disqus writes it ("2013-10-10T19:20:29Z"); without an offset, UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_file(f"the post's createdAt {value!r} is not a date and time", line=line) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MILLISECOND


def _true(element: etree._Element | None) -> bool:
    return xmlstream.text(element).lower() in ("true", "1")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
