"""The rules a reader's input must pass before anything is written."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from parlour.domain import errors
from parlour.services.folding import has_invisible
from parlour.settings import Settings

# C0 controls other than tab, newline and carriage return, DEL, and lone surrogates
# (they cannot be stored as UTF-8, and PostgreSQL rejects NUL).
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# C1 controls: no part of a name. (A body keeps them: text pasted from an old page may
# hold a U+0085, and refusing it would refuse an edit of such a comment.)
_C1 = re.compile("[\x80-\x9f]")
# What shows nothing: spaces, format characters (zero-width, direction marks), and the
# fillers that render blank (Hangul fillers, the Braille blank, Mongolian separator).
_SHOWS_NOTHING = re.compile(
    "[\\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]*"
)
# Format characters a name may carry: the joiners that make one emoji of several
# (👩‍👩‍👧) and shape Indic and Persian letters, between two characters that show, and
# the tags of a flag, after its black flag (🏴 + tags + cancel tag), nowhere else.
_JOINERS = re.compile("(?<=[^\\s])[\u200c\u200d](?=[^\\s\u200c\u200d])")
_FLAG_TAGS = re.compile("(?<=\U0001f3f4)[\U000e0020-\U000e007e]+\U000e007f")
# A thread key is one line of an address: no tab, no line break, no C1 control.
_KEY_BREAKS = re.compile("[\t\n\r\x80-\x9f]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def storable_text(value: str, field: str) -> str:
    """`value` if it has nothing a database cannot store (NUL and other C0 controls, lone
    surrogates); for free text the desk takes, before anything else looks at it."""
    if _BAD_CHARS.search(value):
        raise errors.InvalidCharacters(field=field)
    return value


def shows_nothing(text: str) -> bool:
    """Whether `text` shows nothing on a page: only spaces, invisible characters and the
    fillers that render blank."""
    return _SHOWS_NOTHING.fullmatch(text) is not None


def _storable(text: str, field: str, what: str, limit: int, too_long: type[errors.InvalidInput]) -> str:
    """`text` if it is within `limit` characters and has nothing a database cannot store."""
    if len(text) > limit:
        raise too_long(
            f"The {what} is {len(text)} characters; the limit is {limit}.",
            field=field,
            limit=limit,
            length=len(text),
        )
    if _BAD_CHARS.search(text):
        raise errors.InvalidCharacters(field=field)
    return text


def body(text: object, settings: Settings) -> str:
    """A comment body: not blank, within the limit, storable. Kept exactly as typed
    (apart from Windows line endings), so emoji and every other character round-trip."""
    if not isinstance(text, str):
        raise errors.EmptyBody("The comment body must be text.", field="body")
    text = text.replace("\r\n", "\n")
    if shows_nothing(text):
        raise errors.EmptyBody(field="body")
    return _storable(text, "body", "comment", settings.body_max, errors.BodyTooLong)


def name(value: object, settings: Settings) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidInput("The name must be text.", field="author_name")
    value = " ".join(value.split())
    if shows_nothing(value):  # blank, or only what renders blank: no name
        return None
    if has_invisible(_JOINERS.sub("", _FLAG_TAGS.sub("", value))) or _C1.search(value):
        # a bidi override would carry onto the page and past the name
        raise errors.InvalidCharacters(
            "Names cannot have invisible or text-direction characters.", field="author_name"
        )
    return _storable(value, "author_name", "name", settings.name_max, errors.NameTooLong)


def email(value: object, settings: Settings) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidEmail(field="author_email")
    value = value.strip()
    if not value:
        return None
    if len(value) > settings.email_max or not _EMAIL.match(value) or _BAD_CHARS.search(value):
        raise errors.InvalidEmail(field="author_email")
    return value


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def mail_address(value: str | None) -> str:
    """An author_email Parlour will send mail to: one plain mailbox (RFC 5321's
    dot-atom local part, a domain of at least two labels; a domain in another script
    is taken in its IDNA form), nothing a mail header could read as a second address or
    a comment, and nothing that needs SMTPUTF8."""
    if value is None:
        raise errors.EmailRequired(field="author_email")
    local, at, domain = value.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise errors.InvalidEmail(field="author_email") from None
    labels = domain.split(".")
    if (
        not at
        or len(local) > 64
        or len(domain) > 253
        or not _LOCAL.fullmatch(local)
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
    ):
        raise errors.InvalidEmail(field="author_email")
    return f"{local}@{domain}"


def thread_key(value: object, settings: Settings) -> str:
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidThreadKey(field="thread")
    value = value.strip()
    if len(value) > settings.thread_key_max or _BAD_CHARS.search(value) or _KEY_BREAKS.search(value):
        raise errors.InvalidThreadKey(field="thread", limit=settings.thread_key_max)
    return value


def optional_text(value: object, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or _BAD_CHARS.search(value):
        raise errors.InvalidInput(f"{field} must be text of at most {limit} characters.", field=field)
    value = unicodedata.normalize("NFC", value.strip())
    return value or None


# What a blog puts between a post's title and its own name in the page's <title>.
_TITLE_SEPARATORS = (" — ", " – ", " | ", " - ", " · ")


def post_title(title: str | None, site_name: str) -> str | None:
    """A post's title without the blog's name after it ("First frost — Wren's Garden"
    is "First frost" on the site "Wren's Garden"): the widget sends the page's title.
    Only a suffix that is the site's name (whatever its case and spacing) goes, once; a
    title that is nothing but the name stays."""
    if not title or not site_name.strip():
        return title

    def same(text: str) -> bool:
        return " ".join(text.split()).casefold() == " ".join(site_name.split()).casefold()

    for separator in _TITLE_SEPARATORS:
        head, found, tail = title.rpartition(separator)
        if found and head.strip() and same(tail):
            return head.strip()
    return title


def page_url(value: object) -> str | None:
    """A post's URL: absolute http(s), or a path on the site. Never javascript: or data:."""
    text = optional_text(value, "url", 2000)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return text
    if not parts.scheme and not parts.netloc and text.startswith("/") and not text.startswith("//"):
        return text
    raise errors.InvalidInput("url must be an http(s) address or a path starting with /.", field="url")


def is_site_id(value: str) -> bool:
    return bool(_SITE_ID.match(value))


def site_id(value: str) -> str:
    if not _SITE_ID.match(value):
        raise errors.InvalidSiteId(field="site")
    return value


def origin(value: str) -> str:
    """Normalise an origin to scheme://host[:port], lower case, no path."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}:
        raise errors.InvalidOrigin(f"{value!r} is not an origin like https://example.com.", field="origin")
    if parts.query or parts.fragment or parts.username:
        raise errors.InvalidOrigin(f"{value!r} is not an origin like https://example.com.", field="origin")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{host}{port}"
