"""Checked fields for the importers of JSON-shaped files (Remark42, Commento, Substack, Isso).

Another system's file is untrusted input: a field of the wrong type, a number too large
to be a count, a date that is not one, must stop the import with a message that names
where (`domain.imports.bad_file`), never a traceback half-way. Each function here reads
one field of one record and says, on failure, which field and where.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, cast

import ijson  # type: ignore[import-untyped]  # no stubs; used through its documented calls only
from markdown_it import MarkdownIt

from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import MAX_COUNT as MAX_COUNT
from parlour.domain.imports import MAX_TIME_MS, bad_file
from parlour.importers.html import to_markdown

# The largest count (hearts) or id taken from a file: PostgreSQL's integer.
# Dates are kept between these (milliseconds, UTC): years 1970 to 9999.
_MAX_MS = MAX_TIME_MS
# A compressed file may unpack to this many times its size (JSON text packs 5 to 15
# times), and never to more than this: past it, it is a decompression bomb.
MAX_EXPANSION = 50
MAX_UNPACKED = 4 * 2**30


class Place:
    """Where reading is in the file (a line, an entry), for messages."""

    __slots__ = ("line", "where")

    def __init__(self, line: int | None = None, where: str | None = None) -> None:
        self.line = line
        self.where = where

    def bad(self, reason: str) -> InvalidImportFile:
        return bad_file(reason, line=self.line, where=self.where)


def open_maybe_gzip(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with gzip's magic bytes."""
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        unpacked = cast(IO[bytes], _Gunzip(raw))
        return cast(IO[bytes], Limited(unpacked, unpack_limit(path.stat().st_size)))
    return raw


def unpack_limit(packed: int) -> int:
    """How many bytes a compressed stream of `packed` bytes may unpack to."""
    return min(max(packed * MAX_EXPANSION, 64 * 2**20), MAX_UNPACKED)


class Limited:
    """A stream of unpacked bytes that stops at `limit` (OSError), against decompression bombs."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._left = limit

    def _counted(self, data: bytes) -> bytes:
        self._left -= len(data)
        if self._left < 0:
            raise OSError("it unpacks to far more than its own size (a decompression bomb?)")
        return data

    def read(self, size: int = -1) -> bytes:
        return self._counted(self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._counted(self._stream.readline(size))

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Limited:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _Gunzip(gzip.GzipFile):
    """A gzip stream that closes the file under it too."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def json_items(stream: IO[bytes], key: str, place: Place, name: str) -> Iterator[Any]:
    """The items of the list under the top-level `key`, one at a time (numbers as int or
    Decimal). The file must be a JSON object with that list; an error names the item."""
    base = place.where
    number = 0

    def at(n: int) -> str:
        return f"{base}, {name} {n}" if base else f"{name} {n}"

    prefix = f"{key}.item"
    found = False
    builder: ijson.ObjectBuilder | None = None
    try:
        events = ijson.parse(stream, use_float=True)  # big integers refused, not crashed on
        first = next(events, None)
        if first is None or first[1] != "start_map":
            raise place.bad("the file is not a JSON object")
        for path, event, value in events:
            if builder is not None:
                builder.event(event, value)
                if path == prefix and event in ("end_map", "end_array"):
                    yield builder.value
                    builder = None
            elif path == key and event != "map_key":
                if event != "start_array" and event != "end_array":
                    raise place.bad(f"{key} should be a list")
                found = True
            elif path == prefix:
                number += 1
                place.where = at(number)
                if event in ("start_map", "start_array"):
                    builder = ijson.ObjectBuilder()
                    builder.event(event, value)
                else:
                    yield value
    except ijson.JSONError as exc:
        place.where = (at(number) if builder is not None else at(number + 1)) if found else base
        raise place.bad(json_error(exc)) from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:  # a broken gzip stream, say
        raise place.bad(f"the file cannot be read ({_first_line(exc)})") from None
    if not found:
        place.where = base
        raise place.bad(f"the file has no {key} list")


def json_error(exc: BaseException) -> str:
    """What a parse error from ijson means, in one line."""
    detail = _first_line(exc)
    if "UTF8" in detail or "UTF-8" in detail:
        return "the text is not UTF-8"
    if "overflow" in detail:
        return "a number is too large"
    return f"the JSON is cut short or malformed ({detail})"


def _first_line(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__


def obj(value: object, field: str, place: Place) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise place.bad(f"{field} should be a JSON object")
    return value


def opt_obj(record: Mapping[str, Any], key: str, place: Place) -> Mapping[str, Any]:
    """An object field, or an empty one when missing or null."""
    value = record.get(key)
    return {} if value is None else obj(value, key, place)


def text(record: Mapping[str, Any], key: str, place: Place) -> str:
    """A string field that must be there."""
    value = record.get(key)
    if not isinstance(value, str):
        raise place.bad(f"{key} is missing or is not text")
    return value


def opt_text(record: Mapping[str, Any], key: str, place: Place) -> str | None:
    """A string field, None when missing, null or empty."""
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise place.bad(f"{key} is not text")
    return value


def ident(record: Mapping[str, Any], key: str, place: Place) -> str:
    """An id, given as text or as a whole number: always returned as text."""
    value = record.get(key)
    if isinstance(value, str) and value.strip():
        if len(value) > 200:
            raise place.bad(f"{key} is too long to be an id")
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**63:
        return str(value)
    raise place.bad(f"{key} is missing or is not an id")


def flag(record: Mapping[str, Any], key: str, place: Place) -> bool:
    """A true/false field, false when missing or null."""
    value = record.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise place.bad(f"{key} should be true or false")
    return value


def count(value: object, field: str, place: Place) -> int:
    """A whole number that could be a count (negative allowed: scores go below zero)."""
    if value is None:
        return 0
    if isinstance(value, Decimal):  # its size first: int(Decimal("1e999999999")) takes minutes
        if not value.is_finite() or abs(value) > MAX_COUNT:
            raise place.bad(f"{field} is out of range")
        if value == value.to_integral_value():
            value = int(value)
    if isinstance(value, float) and value.is_integer():
        if abs(value) > MAX_COUNT:
            raise place.bad(f"{field} is out of range")
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise place.bad(f"{field} should be a whole number")
    if not -MAX_COUNT <= value <= MAX_COUNT:
        raise place.bad(f"{field} is out of range")
    return value


def millis(value: object, field: str, place: Place) -> int:
    """An RFC 3339 / ISO 8601 time (a time zone, else UTC) as integer milliseconds, UTC."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise place.bad(f"{field} is missing or is not a date")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise place.bad(f"{field} is not a date: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        ms = math.floor(moment.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise place.bad(f"{field} is out of range") from None
    # Go writes a missing time as year 1 ("0001-01-01T00:00:00Z"): out of range here too.
    if not 0 <= ms <= _MAX_MS:
        raise place.bad(f"{field} is out of range")
    return ms


def opt_millis(value: object, field: str, place: Place) -> int | None:
    """Like `millis`, None when missing, null, empty, or Go's zero time."""
    if value is None or value == "" or (isinstance(value, str) and value.startswith("0001-01-01")):
        return None
    return millis(value, field, place)


def seconds_to_millis(value: object, field: str, place: Place) -> int:
    """Seconds since 1970 (a float, as Isso stores them) to integer milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise place.bad(f"{field} is not a time")
    if not math.isfinite(value):
        raise place.bad(f"{field} is out of range")
    ms = round(value * 1000)
    if not 0 <= ms <= _MAX_MS:
        raise place.bad(f"{field} is out of range")
    return ms


# Characters that start Markdown inline markup, escaped in plain text.
_INLINE = re.compile(r"([\\`*_\[\]<>~|])")
# Line starts that Markdown reads as a block: headings, quotes, lists, rules, fences.
_BLOCK_START = re.compile(r"^(\s{0,3})([#>+\-=]|\d{1,9}[.)])")
_URL = re.compile(r"(https?://\S+)")


def plain_to_markdown(plain: str) -> str:
    """Plain text (as Substack keeps comments) as Markdown that renders the same: markup
    characters escaped (web addresses left whole, so they still become links), each line
    break kept as a hard break, blank lines kept as paragraph breaks."""
    paragraphs = re.split(r"\n\s*\n", plain.replace("\r\n", "\n").replace("\r", "\n").strip())
    out = []
    for paragraph in paragraphs:
        lines = [_escape_line(line.strip()) for line in paragraph.split("\n") if line.strip()]
        out.append("\\\n".join(lines))
    return "\n\n".join(p for p in out if p)


def _escape_line(line: str) -> str:
    parts = _URL.split(line)
    escaped = "".join(p if i % 2 else _INLINE.sub(r"\\\1", p) for i, p in enumerate(parts))
    return _BLOCK_START.sub(lambda m: f"{m.group(1)}{_escape_block(m.group(2))}", escaped, count=1)


def _escape_block(marker: str) -> str:
    if marker[0].isdigit():
        return f"{marker[:-1]}\\{marker[-1]}"
    return f"\\{marker}"


_COMMONMARK = MarkdownIt("commonmark", {"html": False})


def hard_wrapped(markdown: str) -> str:
    """Markdown written for a renderer that breaks a line wherever the writer did (Isso's
    default, mistune's `hard_wrap`) as CommonMark that renders the same: each soft line
    break inside a paragraph becomes a hard one, two spaces at the line's end (whitespace,
    like the line end itself, so `_` or `*` before it opens or closes nothing new, as a
    backslash would). Found with CommonMark's own parse, so code, headings and the last
    line of a paragraph are left as they are; a paragraph whose breaks the parse cannot
    place on lines (a code span over a line end) is left too."""
    markdown = markdown.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" not in markdown.strip("\n").replace("\n\n", ""):  # one line, or paragraphs of one
        return markdown
    lines = markdown.split("\n")
    tokens = _COMMONMARK.parse(markdown)
    for before, token in pairwise(tokens):
        if before.type != "paragraph_open" or token.type != "inline" or token.map is None:
            continue
        start, end = token.map
        breaks = [c.type for c in token.children or () if c.type in ("softbreak", "hardbreak")]
        if len(breaks) != end - start - 1:
            continue
        for number, kind in zip(range(start, end - 1), breaks, strict=True):
            if kind == "softbreak":
                lines[number] += "  "
    return "\n".join(lines)


def html_to_markdown(html: str) -> str:
    """HTML from an old system as safe Markdown (importers/html.py)."""
    return to_markdown(html)
