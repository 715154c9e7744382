"""A comment section copied from a web page as plain text, for the writer to review.

What a copy looks like depends on the page, and the parser takes it as it comes:

- **Bare text** (the page's names and buttons left out): each line, or each paragraph
  between blank lines, is a comment. A comment of several paragraphs comes out as several
  comments; the review in the desk joins them again ("continues the comment above").
- **With the page's furniture** (Substack, Ghost, WordPress, Disqus): a comment starts
  with its author's name followed by a date ("Mar 3", "2 hrs ago", "March 3, 2024 at
  10:15 am", "3d"), perhaps an "Author" badge; its text runs to the buttons ("Like",
  "Reply", "Share", heart counts) or to the next name and date. Names and recognised
  dates are kept; buttons and counts are dropped wherever they are.

A section copied twice by accident (or copied once collapsed and once expanded) holds
repeats: each comment is kept once, at its place on the page. The order is the first
copy's, and a comment that only a later copy shows goes right after the comment it
followed there.

Each comment's `source_id` is a hash of its normalised name and text, so pasting the same
copy again adds nothing. The text becomes Markdown that renders as it reads: characters
Markdown would act on are escaped, so pasted HTML or asterisks stay text.

A paste is one page's comments, read whole: it may be at most `MAX_BYTES`.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from parlour.domain.imports import CommentRecord, Record, State, ThreadRecord, bad_file

MAX_BYTES = 5_000_000
THREAD = "paste"
DAY_MS = 86_400_000

# Buttons, counters and labels a copy picks up between comments (English, as the
# platforms write them). Matched against a whole line, case-insensitively.
_JUNK = re.compile(
    r"""^(?:
        reply|replies|like|liked|likes|unlike|share|report|edit|edited|delete|flag|
        collapse|expand|expand\ full\ comment|show\ more|see\ more|read\ more|hide|
        more|view\ more\ (?:comments|replies)|load\ more(?:\ comments)?|show\ (?:more\ )?replies|
        view\ replies|hide\ replies|\d+\ (?:more\ )?(?:replies|reply|comments?|likes?|hearts?)|
        (?:view|show|hide)\ \d+\ (?:more\ )?repl(?:y|ies)|
        like\ \(\d+\)|reply\ \(\d+\)|share\ \(\d+\)|
        upvote|downvote|vote\ up|vote\ down|permalink|link|
        leave\ a\ reply|cancel\ reply|log\ in\ to\ reply|sign\ in\ to\ reply|
        subscribe|top|newest|oldest|best|sort\ by.*|comments?|discussion|avatar|guest|
        liked\ by\ .{1,80}|\d+\ repl(?:y|ies)\ by\ .{1,80}|(?:like|likes|hearts?)\ ?\d+|
        [·•|⋅∙.…]+|
        [♥❤♡🤍💙👍💜🧡💛💚🖤]\ufe0f?\ ?\d*|\d+\ ?[♥❤♡🤍👍]\ufe0f?|\d+
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_BADGE = re.compile(r"^(?:author|writer|admin|mod|moderator|owner|op|staff|editor)$", re.IGNORECASE)

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        )
    )
    for m in names
}  # fmt: skip
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_TIME = r"(?:,?\s*(?:at\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[ap]\.?m\.?)?)?"
_DATES = [
    re.compile(r"^(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})" + _TIME + "$", re.IGNORECASE),
    re.compile(r"^" + _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?" + _TIME + "$", re.I),
    re.compile(r"^(?P<day>\d{1,2})\s+" + _MONTH + r"(?:,?\s+(?P<year>\d{4}))?" + _TIME + "$", re.IGNORECASE),
]  # fmt: skip
_UNITS = {
    "s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600,
    "hour": 3600, "d": 86400, "day": 86400, "w": 604800, "wk": 604800, "week": 604800,
    "mo": 2_592_000, "month": 2_592_000, "y": 31_536_000, "yr": 31_536_000, "year": 31_536_000,
}  # fmt: skip
_AGO = re.compile(r"^(?P<n>\d+|an?|one)\s*(?P<unit>[a-z]+?)s?(?:\s+ago)?$", re.IGNORECASE)
_NOW = re.compile(r"^(?:just now|now|today|yesterday)$", re.IGNORECASE)
_EDITED = re.compile(r"\s*[·•|]?\s*\(?edited\)?$", re.IGNORECASE)
# Markdown would act on these; escaped, the text renders as it reads.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~])")
_NUMBERED = re.compile(r"^(\d+)([.)])(\s|$)")
_BULLET = re.compile(r"^([-+=])(\s|$)")
_NAME_MAX = 80
_SEPARATORS = re.compile(r"[•·|›⋅∙]")
_SAYS = re.compile(r"\s+(?:says|said|wrote|commented):?$", re.IGNORECASE)


@dataclass(slots=True)
class _Comment:
    paragraphs: list[str] = field(default_factory=list)
    name: str | None = None
    when: int | None = None
    is_writer: bool = False


def read(path: Path) -> Iterator[Record]:
    """One thread ("paste", given its key by `--thread`) and its comments, held."""
    text = _decode(path)
    now = int(time.time() * 1000)
    comments = _merge(_comments(text.splitlines(), now))
    if not comments:
        raise bad_file("There are no comments in this text.")
    yield ThreadRecord(source_id=THREAD)
    previous: int | None = None
    for index, comment in enumerate(comments):
        # First-seen order, kept by the times: a date from the copy where there is one,
        # else a millisecond after the comment above (the first a day before the paste:
        # they were written before it, and mail and webhooks treat them as imported).
        when = (
            comment.when if comment.when is not None else (now - DAY_MS if previous is None else previous + 1)
        )
        if previous is not None and when <= previous and comment.when is None:
            when = previous + 1
        previous = when
        body = "\n\n".join(_escape(p) for p in comment.paragraphs)
        yield CommentRecord(
            source_id=_source_id(comment),
            thread=THREAD,
            body=body,
            created_at=when,
            author_name=comment.name,
            state=State.PENDING,
            is_writer=comment.is_writer,
            line=index + 1,
        )


def _decode(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise bad_file(f"A pasted comment section is at most {MAX_BYTES // 1_000_000} MB; this is larger.")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise bad_file("This is not text (it has NUL bytes): paste the comments as plain text.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise bad_file("This is not UTF-8 text: save the paste as UTF-8.", line=line) from None
    # Control characters other than line breaks and tabs carry nothing a reader sees.
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc" or c == "\r")


def _clean(line: str) -> str:
    line = line.replace("\u00a0", " ").replace("\u200b", "").replace("\ufeff", "")
    return " ".join(line.split())


def _is_junk(line: str) -> bool:
    """A button, a counter, or a row of them ("Reply • Share ›")."""
    parts = [p.strip() for p in _SEPARATORS.split(line)]
    return all(not p or _JUNK.match(p) for p in parts)


def _date(line: str, now: int) -> int | None:
    """The time a date line names, in ms UTC, or None if the line is not a date."""
    line = _EDITED.sub("", line).strip().strip("·•").strip()
    if not line or len(line) > 40:
        return None
    today = datetime.fromtimestamp(now / 1000, UTC)
    if _NOW.match(line):
        back = 86_400 if line.lower() == "yesterday" else 0
        return now - back * 1000
    found = _AGO.match(line)
    if found and (line.lower().endswith("ago") or len(found["unit"]) <= 3):
        unit = found["unit"].lower()
        if unit in _UNITS:
            n = found["n"].lower()
            count = 1 if n in ("a", "an", "one") else int(n)
            return now - count * _UNITS[unit] * 1000
        return None
    for pattern in _DATES:
        found = pattern.match(line)
        if not found:
            continue
        parts = found.groupdict()
        month = _MONTHS[parts["month"].lower()] if parts.get("month") else int(parts["mnum"])
        year = int(parts["year"]) if parts.get("year") else today.year
        hour, minute = int(parts.get("hour") or 12), int(parts.get("minute") or 0)
        if (parts.get("ampm") or "").lower().startswith("p") and hour < 12:
            hour += 12
        elif (parts.get("ampm") or "").lower().startswith("a") and hour == 12:
            hour = 0
        try:
            when = datetime(year, month, int(parts["day"]), hour % 24, minute % 60, tzinfo=UTC)
        except ValueError:
            return None
        if not parts.get("year") and when > today + timedelta(days=1):
            when = when.replace(year=year - 1)  # "Dec 30" seen in January
        return int(when.timestamp() * 1000)
    return None


def _name_and_badge(line: str) -> tuple[str, bool] | None:
    """A line that could be an author's name ("Amber", "Amber ✍️ Author"), and whether it
    carries the post's author badge."""
    badge = False
    words = _SAYS.sub("", line).split()
    while words and _BADGE.match(words[-1].strip("()[]·•✍️")):
        words.pop()
        badge = True
    name = " ".join(words).strip(" ·•|✍️")
    if not name or len(name) > _NAME_MAX or name[-1] in '.!?:;,"”' or len(name.split()) > 6:
        return None
    return name, badge


def _comments(lines: list[str], now: int) -> Iterator[_Comment]:
    """The comments of the text, in its order, repeats and all."""
    cleaned = [_clean(line) for line in lines]
    dated = [_date(line, now) if line else None for line in cleaned]
    # A header is a name line followed (past badges) by a date line.
    headers: dict[int, tuple[str, bool, int, int]] = {}  # start -> name, badge, when, end
    for i, line in enumerate(cleaned):
        if not line or dated[i] is not None or _is_junk(line):
            continue
        parts = [p.strip() for p in _SEPARATORS.split(line) if p.strip()]
        if len(parts) >= 2:  # "Name • 2 years ago" on one line (Disqus)
            one_line = _name_and_badge(parts[0])
            when = next((w for w in (_date(p, now) for p in parts[1:]) if w is not None), None)
            if one_line is not None and when is not None:
                headers[i] = (one_line[0], one_line[1], when, i + 1)
                continue
        named = _name_and_badge(line)
        if named is None:
            continue
        j, badge = i + 1, named[1]
        while j < len(cleaned) and (not cleaned[j] or _BADGE.match(cleaned[j]) or cleaned[j] in "·•"):
            badge = badge or bool(_BADGE.match(cleaned[j]))
            j += 1
        when = dated[j] if j < len(cleaned) else None
        if when is not None:
            headers[i] = (named[0], badge, when, j + 1)
    if headers:
        yield from _structured(cleaned, headers)
    else:
        yield from _bare(cleaned)


def _structured(cleaned: list[str], headers: dict[int, tuple[str, bool, int, int]]) -> Iterator[_Comment]:
    """Comments that start at a name and date; their text runs to the next one."""
    current: _Comment | None = None
    paragraph: list[str] = []
    i = 0
    while i < len(cleaned):
        if i in headers:
            if current is not None:
                yield _finish(current, paragraph)
            name, badge, when, end = headers[i]
            current, paragraph = _Comment(name=name, when=when, is_writer=badge), []
            i = end
            continue
        line = cleaned[i]
        if not line or _is_junk(line) or current is None:
            if paragraph and current is not None:
                current.paragraphs.append(" ".join(paragraph))
                paragraph = []
        else:
            # In a structured copy a line break inside a comment is a new paragraph.
            current.paragraphs.append(line)
        i += 1
    if current is not None:
        yield _finish(current, paragraph)


def _finish(comment: _Comment, paragraph: list[str]) -> _Comment:
    if paragraph:
        comment.paragraphs.append(" ".join(paragraph))
    return comment


def _bare(cleaned: list[str]) -> Iterator[_Comment]:
    """Text without names and dates: each line that is not a button is a comment."""
    for line in cleaned:
        if line and not _is_junk(line):
            yield _Comment(paragraphs=[line])


def _key(comment: _Comment) -> str:
    """What makes two copies of a comment the same: its name and text, normalised."""
    folded = unicodedata.normalize("NFKC", "\n".join(comment.paragraphs)).casefold()
    name = unicodedata.normalize("NFKC", comment.name or "").casefold()
    return name + "\x00" + " ".join(folded.split())


def _source_id(comment: _Comment) -> str:
    return hashlib.sha256(_key(comment).encode()).hexdigest()[:32]


def _merge(found: Iterator[_Comment]) -> list[_Comment]:
    """Each comment once, at its place: a comment seen again moves the cursor to it; a new
    one goes right after the cursor (so one only a later copy shows keeps its place)."""
    comments: dict[str, _Comment] = {}
    after: dict[str, str | None] = {"": None}  # a linked list from "" (the top)
    cursor = ""
    for comment in found:
        if not comment.paragraphs:
            continue
        key = _key(comment)
        if key not in comments:
            comments[key] = comment
            after[key] = after[cursor]
            after[cursor] = key
        cursor = key
    merged: list[_Comment] = []
    node = after[""]
    while node is not None:
        merged.append(comments[node])
        node = after[node]
    return merged


def _escape(paragraph: str) -> str:
    """Markdown that renders as the plain text reads."""
    escaped = _MARKDOWN.sub(r"\\\1", paragraph)
    return _BULLET.sub(r"\\\1\2", _NUMBERED.sub(r"\1\\\2\3", escaped))
