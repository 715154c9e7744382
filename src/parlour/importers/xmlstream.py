"""Reading another system's XML export safely and in constant memory (Disqus, WordPress).

lxml's `iterparse` with entities left unresolved, no DTD loaded and nothing fetched from
the network; a file that declares a DOCTYPE at all (where entity bombs and external
entities live) is refused before its content is read. Each element is handed over once
it is complete and dropped afterwards, with everything before it, so memory holds one
record at a time whatever the file's size. A gzipped file (as Disqus mails its export)
is read as it unpacks. Every failure is `bad_file` naming the line.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal

from lxml import etree

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import bad_file
from parlour.importers.fields import open_maybe_gzip

_DOCTYPE = "the file declares a DOCTYPE (entities or an external DTD), which no export has: refused"
_HEAD = 64 * 1024  # where the prolog ends, in any file worth reading
_ROOT_START = re.compile(rb"<(?![?!])")
_WHERE = re.compile(r",? line \d+, column \d+$")


def root_tag(path: Path, what: str) -> str:
    """The root element's tag ("{namespace}name"), once the file is known to declare no
    DOCTYPE; `what` names the format in messages ("a Disqus export")."""
    if path.stat().st_size == 0:
        raise bad_file(f"the file is empty, not {what}")
    _refuse_doctype(path)
    try:
        with open_maybe_gzip(path) as file:
            return _root_tag(file, path, what)
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, what) from None
    except (OSError, EOFError, zlib.error) as exc:  # a broken gzip stream, say
        raise bad_file(f"the file cannot be read ({exc})") from None


def _root_tag(file: IO[bytes], path: Path, what: str) -> str:
    for _event, element in _parse(file, ("start",), None):
        docinfo = element.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise bad_file(_DOCTYPE, line=_doctype_line(path, element.sourceline))
        return str(element.tag)
    raise bad_file(f"no element found: not {what}")


def elements(path: Path, tags: Iterable[str], level: int, what: str) -> Iterator[etree._Element]:
    """Each complete element with one of `tags` at `level` (the root's children are at
    1), in file order; it is cleared, and its earlier siblings removed, when the caller
    asks for the next one."""
    try:
        with open_maybe_gzip(path) as file:
            yield from _complete(file, tuple(tags), level)
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, what) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise bad_file(f"the file cannot be read ({exc})") from None


def _complete(file: IO[bytes], tags: tuple[str, ...], level: int) -> Iterator[etree._Element]:
    for _event, element in _parse(file, ("end",), tags):
        if _level(element) != level:
            continue  # the same name deeper down: part of a record, read with it
        yield element
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]


def _parse(
    file: IO[bytes], events: tuple[Literal["start", "end"], ...], tags: tuple[str, ...] | None
) -> etree.iterparse[tuple[Literal["start", "end", "comment", "pi"], etree._Element]]:
    """lxml's streaming parser, with nothing resolved, loaded or fetched."""
    etree.clear_error_log()  # so that an error's log holds this file's complaints only
    return etree.iterparse(
        file,
        events=events,
        tag=tags,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _level(element: etree._Element) -> int:
    level = 0
    parent = element.getparent()
    while parent is not None:
        level += 1
        parent = parent.getparent()
    return level


def text(element: etree._Element | None) -> str:
    """An element's text, stripped ("" if it is absent)."""
    if element is None or element.text is None:
        return ""
    return str(element.text).strip()


def _syntax_error(error: etree.XMLSyntaxError, what: str) -> InvalidImportFile:
    message = _WHERE.sub("", str(error.msg or error)) or "not well-formed"
    line = error.lineno or None
    fatal = error.error_log.filter_from_fatals()
    if fatal:  # the parser's own first complaint says more than the exception (lxml
        # reports an undeclared entity as "no element found" when entities are not resolved)
        message, line = fatal[0].message, fatal[0].line or line
    return bad_file(f"cannot read it as {what}: {message}", line=line)


def _refuse_doctype(path: Path) -> None:
    """Refuse a DOCTYPE before the parser reads it (libxml2 would refuse an entity bomb
    too, but saying "entity amplification" where the file simply has no business
    declaring anything)."""
    try:
        with open_maybe_gzip(path) as file:
            head = file.read(_HEAD)
    except (OSError, EOFError, zlib.error) as exc:
        raise bad_file(f"the file cannot be read ({exc})") from None
    root = _ROOT_START.search(head)
    prolog = head if root is None else head[: root.start()]
    found = prolog.find(b"<!DOCTYPE")
    if found != -1:
        raise bad_file(_DOCTYPE, line=prolog.count(b"\n", 0, found) + 1)


def _doctype_line(path: Path, root_line: int | None) -> int | None:
    with open_maybe_gzip(path) as file:
        for number, line in enumerate(iter(file.readline, b""), start=1):
            if b"<!DOCTYPE" in line or b"<!ENTITY" in line:
                return number
            if root_line is not None and number >= root_line:
                break
    return root_line
