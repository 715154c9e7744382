"""Old comment systems' HTML to Markdown that renders the same through services/markup.py.

Disqus, WordPress and Remark42 store a comment as HTML. Parlour stores Markdown and
renders it (markdown-it, then nh3), so an imported comment becomes the Markdown that
gives the same paragraphs, breaks, emphasis, links, code, quotes and lists, and nothing
else: scripts, styles, frames and every attribute but a link's address are dropped, a
link survives only to http, https or mailto, and an image becomes a link to it (Parlour
loads no images from readers). Text is escaped so that it stays text: a comment that
said `*not emphasis*` or `# not a heading` still says so.

The HTML is parsed by lxml's HTML parser (libxml2, no network), measured faster here
than the standard library's html.parser (8 against 11 µs a short comment before any
rendering), and the tree it builds is already repaired (unclosed tags, stray ends). Text
without "<" or "&" skips the parser.
"""

from __future__ import annotations

import re
from functools import cache
from html import unescape
from urllib.parse import urlsplit

from linkify_it import LinkifyIt
from lxml import etree

_PARSER = etree.HTMLParser(
    no_network=True, remove_comments=True, remove_pis=True, recover=True, default_doctype=False
)

# Elements whose content is never text a reader wrote.
_DROP = frozenset(
    [
        "script",
        "style",
        "iframe",
        "frame",
        "frameset",
        "noframes",
        "object",
        "embed",
        "applet",
        "noscript",
        "template",
        "head",
        "title",
        "svg",
        "math",
        "textarea",
        "select",
        "option",
        "button",
        "input",
        "link",
        "meta",
        "base",
        "audio",
        "video",
        "canvas",
        "source",
        "track",
        "param",
        "map",
    ]
)
# Elements that start and end a block (a paragraph of their own).
_BLOCK = frozenset(
    [
        "html",
        "body",
        "p",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "aside",
        "nav",
        "figure",
        "figcaption",
        "address",
        "center",
        "details",
        "summary",
        "dl",
        "dt",
        "dd",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "form",
        "fieldset",
        "legend",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
    ]
)
_HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
_STRONG = frozenset(("b", "strong"))
_EMPHASIS = frozenset(("i", "em", "cite", "dfn", "var"))
_STRUCK = frozenset(("s", "strike", "del"))
_CODE = frozenset(("code", "kbd", "samp", "tt"))
_LINK_SCHEMES = frozenset(("http", "https", "mailto"))
_IMAGE_SCHEMES = frozenset(("http", "https"))
_MAX_DEPTH = 64  # deeper than this, an element's text is kept and its structure is not

# HTML collapses ASCII whitespace only: a no-break space is text.
# (A lone space is left alone rather than replaced by itself: most text has only those.)
_SPACES = re.compile(r"[\t\n\r\f\v][ \t\n\r\f\v]*| [ \t\n\r\f\v]+")
_SPACES_NOT_NEWLINE = re.compile(r"[\t\r\f\v][ \t\r\f\v]*| [ \t\r\f\v]+")
_RUN_OF_SPACES = re.compile(r" {2,}")
# What Markdown would read as markup inside a line: escaped wherever it stands, except
# "_" between letters (never emphasis there, and common in addresses) and a lone "~"
# (strikethrough takes two).
_SPECIAL = re.compile(r"[\\`*\[\]<]|_+|~~+|&(?=#?[A-Za-z0-9]+;)")
_SPECIAL_HINT = re.compile(r"[\\`*\[\]<_~&]")
_ORDERED_MARKER = re.compile(r"\d{1,9}(?=[.)])")
_URL_UNSAFE = re.compile(r"[\s<>()\\]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))  # and these around it
_URL_DROPPED = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in an address

# Addresses markdown-it's linkify reads straight from the source (scheme and "//").
_LINKED_SCHEMES = frozenset(("http:", "https:"))
_TAG = re.compile(r"<[^>]*>?")

# Paragraphs of plain text, nothing else: converted without parsing (a property test
# checks the result is the parser's).
_SIMPLE_PARAGRAPHS = re.compile(r"(?:[ \n]*<p>[^<>&\x00-\x08\x0b-\x1f\x7f-\x9f]*</p>)+[ \n]*")
_PARAGRAPH_TEXT = re.compile(r"<p>([^<]*)</p>")

BREAK = "\n"  # in an inline run: a <br> (text's own newlines are collapsed before)


def to_markdown(html: str, *, breaks: bool = False) -> str:
    """Markdown for a comment stored as HTML; "" when nothing readable is left.

    With `breaks`, newlines in the text are line breaks and blank lines end paragraphs,
    as WordPress shows a comment (its `wpautop`); otherwise they are spaces, as in HTML.
    """
    html = html.replace("\r\n", "\n").replace("\x00", "")
    if "<" not in html and "&" not in html:
        writer = _Writer(breaks)
        return writer.paragraphs([writer.text(html)])
    if _SIMPLE_PARAGRAPHS.fullmatch(html):  # most comments: no need to parse them
        writer = _Writer(breaks)
        paragraphs = (writer.paragraphs([writer.text(p)]) for p in _PARAGRAPH_TEXT.findall(html))
        return "\n\n".join(p for p in paragraphs if p)
    simple = _inline_paragraphs(html, breaks)  # most others: bold, italics, links, breaks
    return _parsed(html, breaks) if simple is None else simple


# Paragraphs (and quotes of them) of text with bold, italics, breaks and plain links,
# properly nested: the Markdown is written straight from the tags (a property test
# checks it is the parser's).
_ONE_BLOCK = re.compile(
    r"[ \n]*(?:<p>([^<]*(?:<(?!/?(?:p|blockquote)[\s>/])[^<]*)*)</p>"
    r"|<blockquote>([^<]*(?:<(?!/?blockquote[\s>/])[^<]*)*)</blockquote>)[ \n]*"
)
_SIMPLE_TAG = re.compile(r"(<[^<>]*>)")
_SIMPLE_TEXT_REFUSED = re.compile(r"[<>\x00-\x08\x0b-\x1f\x7f-\x9f]|&(?!(?:amp|lt|gt|quot|#39);)")
_SIMPLE_ENTITY = re.compile(r"&(amp|lt|gt|quot|#39);")
_SIMPLE_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "#39": "'"}
_SIMPLE_LINK = re.compile(r'<a href="([^"<>&\x00-\x20\x7f]*)"(?: rel="[a-z ]*")?(?: target="_blank")?>')
_SIMPLE_TAGS = {
    "<b>": ("b", "**"), "<strong>": ("strong", "**"), "<i>": ("i", "*"), "<em>": ("em", "*"),
    "</b>": ("/b", ""), "</strong>": ("/strong", ""), "</i>": ("/i", ""), "</em>": ("/em", ""),
    "</a>": ("/a", ""), "<br>": ("br", ""), "<br/>": ("br", ""), "<br />": ("br", ""),
}  # fmt: skip


def _inline_paragraphs(html: str, breaks: bool) -> str | None:
    """to_markdown without parsing, for `<p>` paragraphs and `<blockquote>` quotes of them
    (or one run without either) of text, `<b>`, `<strong>`, `<i>`, `<em>`, `<br>` and
    `<a href>`, properly nested, as old systems store most comments; None for anything
    else."""
    blocks = _simple_blocks(_Writer(breaks), html, quotes=True)
    return None if blocks is None else "\n\n".join(blocks)


def _simple_blocks(writer: _Writer, html: str, *, quotes: bool) -> list[str] | None:
    """The blocks `_Writer.blocks` would write for such HTML, or None."""
    if "<p" not in html and "<blockquote" not in html:
        paragraph = _inline_run(writer, html)
        return None if paragraph is None else [paragraph] if paragraph else []
    out = []
    at = 0
    while at < len(html):
        match = _ONE_BLOCK.match(html, at)
        if match is None:
            return None
        paragraph_html, quoted_html = match.groups()
        if paragraph_html is not None:
            paragraph = _inline_run(writer, paragraph_html)
            if paragraph is None:
                return None
            if paragraph:
                out.append(paragraph)
        else:
            inner = None if not quotes else _simple_blocks(writer, quoted_html, quotes=False)
            if inner is None:
                return None
            if inner:
                out.append("\n".join(f"> {line}" if line else ">" for line in "\n\n".join(inner).split("\n")))
        at = match.end()
    return out


def _inline_run(writer: _Writer, content: str) -> str | None:
    """One paragraph's Markdown, as `_Writer.blocks` would write it from the parsed tree."""
    pieces: list[str] = []
    open_tags: list[tuple[str, str, list[str]]] = []  # (tag, its marker or address, outer pieces)
    for n, part in enumerate(_SIMPLE_TAG.split(content)):
        if not n % 2:  # text between tags
            if part:
                if _suspect(part) and _SIMPLE_TEXT_REFUSED.search(part):
                    return None
                if "&" in part:
                    part = _SIMPLE_ENTITY.sub(lambda m: _SIMPLE_ENTITIES[m.group(1)], part)
                pieces.append(writer.text(part))
            continue
        known = _SIMPLE_TAGS.get(part)
        if known is None:
            link = _SIMPLE_LINK.fullmatch(part)
            if link is None or writer.in_link:
                return None
            open_tags.append(("a", link.group(1), pieces))
            pieces = []
            writer.in_link = True
            continue
        tag, marker = known
        if tag == "br":
            pieces.append(BREAK)
        elif tag[0] != "/":
            open_tags.append((tag, marker, pieces))
            pieces = []
        else:
            if not open_tags or open_tags[-1][0] != tag[1:]:
                return None
            tag, marker, outer = open_tags.pop()
            inner = "".join(pieces)
            pieces = outer
            if tag != "a":
                pieces.append(_wrap(marker, inner))
                continue
            writer.in_link = False
            href = _safe_url(marker, _LINK_SCHEMES)
            if href is None:
                pieces.append(inner)
            else:
                pieces.append(_link(inner if inner.strip() else writer.text(href), href))
    if open_tags:
        return None
    return writer.paragraphs(pieces)


def _parsed(html: str, breaks: bool) -> str:
    """to_markdown by parsing the HTML (lxml's HTML parser, which mends what is broken)."""
    writer = _Writer(breaks)
    try:
        root = etree.fromstring(html, _PARSER)
    except (etree.ParserError, ValueError):
        root = None
    if _gave_up(_PARSER.error_log):
        # libxml2 stops at a limit (nesting 256 deep): keep the text, not the structure.
        text = unescape(_TAG.sub(" ", html))
        return writer.paragraphs([writer.text(text)])
    body = None if root is None else root.find("body")
    if body is None:
        return ""
    return "\n\n".join(writer.blocks(body, 0)).strip("\n")


def _gave_up(errors: etree._ListErrorLog) -> bool:
    return any(error.level == etree.ErrorLevels.FATAL for error in errors)


def _odd_spaces(text: str, breaks: bool) -> bool:
    """Has the text whitespace HTML collapses, other than lone spaces? (`in` is many
    times faster than a regular expression's search, and text rarely has any.)"""
    return (
        "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text
        or (not breaks and "\n" in text)
    )  # fmt: skip


def _suspect(text: str) -> bool:
    """Might the text have what `_SIMPLE_TEXT_REFUSED` refuses? (A quick test first.)"""
    return "<" in text or ">" in text or "&" in text or not (text.isascii() and text.isprintable())


class _Writer:
    """Renders one parsed comment. `breaks`: text newlines are <br> (WordPress)."""

    __slots__ = ("breaks", "in_link")

    def __init__(self, breaks: bool) -> None:
        self.breaks = breaks
        self.in_link = False  # inside a link's text: no address may become a link

    # ---- text

    def text(self, text: str | None) -> str:
        """Escaped Markdown for a run of text, its whitespace collapsed as HTML does."""
        if not text:
            return ""
        if _odd_spaces(text, self.breaks):
            text = (_SPACES_NOT_NEWLINE if self.breaks else _SPACES).sub(" ", text)
        if "://" in text:
            return _escape_text(text) if self.in_link else _escape_around_addresses(text)
        if _SPECIAL_HINT.search(text) is None:
            return text
        return _SPECIAL.sub(_escape_special, text)

    def paragraphs(self, pieces: list[str]) -> str:
        """Paragraphs from an inline run: breaks become hard breaks, two in a row end a
        paragraph, and each line is kept from starting a heading, quote or list."""
        joined = "".join(pieces)
        if "  " in joined:
            joined = _RUN_OF_SPACES.sub(" ", joined)
        out: list[str] = []
        lines: list[str] = []
        for raw in joined.split(BREAK):
            line = raw.strip(" ")
            if line:
                lines.append(_escape_line_start(line))
            elif lines:
                out.append("\\\n".join(lines))
                lines = []
        if lines:
            out.append("\\\n".join(lines))
        return "\n\n".join(out)

    # ---- blocks

    def blocks(self, element: etree._Element, depth: int) -> list[str]:
        """The Markdown blocks of an element's content."""
        if depth > _MAX_DEPTH:
            plain = self.paragraphs([self.text(_plain_text(element))])
            return [plain] if plain else []
        out: list[str] = []
        pieces: list[str] = [self.text(element.text)]
        last_list = ""  # the marker of the list just written, so the next one differs

        def flush() -> None:
            paragraph = self.paragraphs(pieces)
            if paragraph:
                out.append(paragraph)
            pieces.clear()

        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in _DROP:
                pieces.append(self.text(child.tail))
                continue
            if tag in _BLOCK:
                flush()
                written, last_list = self.block(child, tag, depth + 1, last_list)
                out.extend(written)
            else:
                pieces.append(self.inline(child, depth + 1, False))
            pieces.append(self.text(child.tail))
        flush()
        return out

    def block(self, element: etree._Element, tag: str, depth: int, last_list: str) -> tuple[list[str], str]:
        """One block element's blocks, and the list marker it used ("" if not a list)."""
        if tag == "blockquote":
            inner = "\n\n".join(self.blocks(element, depth))
            if not inner:
                return [], ""
            return ["\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))], ""
        if tag in ("ul", "ol"):
            return self.listing(element, tag == "ol", depth, last_list)
        if tag == "li":  # an item outside any list
            return self.list_items([element], "-", None, depth), "-"
        if tag == "pre":
            code = _plain_text(element, pre=True)
            if code.startswith("\n"):
                code = code[1:]
            code = code.rstrip("\n")
            if not code.strip():
                return [], ""
            fence = "`" * max(3, _longest_run(code, "`") + 1)
            return [f"{fence}\n{code}\n{fence}"], ""
        if tag == "hr":
            return ["---"], ""
        if tag in _HEADINGS:
            paragraph = self.paragraphs([_wrap("**", self.inline_children(element, depth, False))])
            return ([paragraph] if paragraph else []), ""
        return self.blocks(element, depth), ""

    def listing(
        self, element: etree._Element, ordered: bool, depth: int, last_list: str
    ) -> tuple[list[str], str]:
        items = [child for child in element if isinstance(child.tag, str) and child.tag not in _DROP]
        if not items:
            return [], ""
        if ordered:
            marker = ")" if last_list == "." else "."
            start = _number(element.get("start"), 1)
        else:
            marker = "*" if last_list == "-" else "-"
            start = None
        return self.list_items(items, marker, start, depth), marker

    def list_items(
        self, items: list[etree._Element], marker: str, start: int | None, depth: int
    ) -> list[str]:
        written: list[str] = []
        number = start if start is not None else 0
        for item in items:
            if start is not None:
                number = _number(item.get("value"), number)
                bullet = f"{number}{marker}"
                number += 1
            else:
                bullet = marker
            content = _join_item(self.blocks(item, depth + 1))
            indent = " " * (len(bullet) + 1)
            lines = content.split("\n") if content else [""]
            first = f"{bullet} {lines[0]}".rstrip(" ")
            rest = [f"{indent}{line}" if line else "" for line in lines[1:]]
            written.append("\n".join([first, *rest]))
        loose = any("\n\n" in item for item in written)
        return [_List("\n\n".join(written) if loose else "\n".join(written))]

    # ---- inline

    def inline_children(self, element: etree._Element, depth: int, in_link: bool) -> str:
        pieces = [self.text(element.text)]
        for child in element:
            if isinstance(child.tag, str) and child.tag not in _DROP:
                pieces.append(self.inline(child, depth + 1, in_link))
            pieces.append(self.text(child.tail))
        return "".join(pieces)

    def inline(self, element: etree._Element, depth: int, in_link: bool) -> str:
        """One inline element as Markdown (its tail is the caller's)."""
        tag = element.tag
        if depth > _MAX_DEPTH:
            return self.text(_plain_text(element))
        if tag == "br":
            return BREAK
        if tag == "img":
            return self.image(element, in_link)
        if tag in _CODE:
            return _code_span(_SPACES.sub(" ", _plain_text(element)))
        if tag == "a":
            outer, self.in_link = self.in_link, True
            inner = self.inline_children(element, depth, True)
            self.in_link = outer
            href = None if in_link else _safe_url(element.get("href"), _LINK_SCHEMES)
            if href is None:
                return inner
            if not inner.strip():
                inner = self.text(href)
            return _link(inner, href)
        inner = self.inline_children(element, depth, in_link)
        if tag in _STRONG:
            return _wrap("**", inner)
        if tag in _EMPHASIS:
            return _wrap("*", inner)
        if tag in _STRUCK:
            return _wrap("~~", inner)
        if tag in _BLOCK:  # a block inside an inline element: its text, set apart
            return f" {inner} "
        return inner

    def image(self, element: etree._Element, in_link: bool) -> str:
        alt = self.text(element.get("alt") or "").strip()
        src = None if in_link else _safe_url(element.get("src"), _IMAGE_SCHEMES)
        if src is None:
            return alt
        return _link(alt or "image", src)


class _List(str):
    """A block that is a list (an item's text and its sublist stay a tight list)."""

    __slots__ = ()


def _join_item(blocks: list[str]) -> str:
    """A list item's blocks: a sublist right under its line, others a blank line apart."""
    if not blocks:
        return ""
    parts = [blocks[0]]
    for block in blocks[1:]:
        parts.append("\n" if isinstance(block, _List) else "\n\n")
        parts.append(block)
    return "".join(parts)


def _escape_around_addresses(text: str) -> str:
    """Escape text with web addresses in it: each address becomes an explicit link, and
    every other "://" is escaped. markdown-it's linkify would read an address from the
    source, taking the backslashes of escaped characters next to it into the link."""
    pieces: list[str] = []
    done = 0
    for match in _linkify().match(text) or ():
        if match.schema not in _LINKED_SCHEMES:
            continue
        address = text[match.index : match.last_index]
        pieces.append(_escape_text(text[done : match.index]))
        pieces.append(_link(_escape_text(address), address))
        done = match.last_index
    pieces.append(_escape_text(text[done:]))
    return "".join(pieces)


def _escape_text(text: str) -> str:
    return _SPECIAL.sub(_escape_special, text).replace("://", "\\://")


@cache
def _linkify() -> LinkifyIt:
    return LinkifyIt()


def _escape_special(match: re.Match[str]) -> str:
    found = match.group()
    if found[0] == "_":
        text = match.string
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        if before.isalnum() and after.isalnum():
            return found
    return "".join("\\" + char for char in found)


def _escape_line_start(line: str) -> str:
    """Keep a line of text from being read as a heading, quote, list or rule."""
    first = line[0]
    if first in "#>+-=":
        return "\\" + line
    if first.isdigit():
        number = _ORDERED_MARKER.match(line)
        if number:
            end = number.end()
            return f"{line[:end]}\\{line[end:]}"
    return line


def _wrap(marker: str, inner: str) -> str:
    """`inner` between two markers, with its outer spaces outside them (Markdown does not
    read `** x **` as bold); each line of it on its own, so a break cannot undo them."""
    if BREAK in inner:
        return BREAK.join(_wrap(marker, part) for part in inner.split(BREAK))
    stripped = inner.strip(" ")
    if not stripped:
        return inner
    lead = " " if inner[0] == " " else ""
    trail = " " if inner[-1] == " " else ""
    return f"{lead}{marker}{stripped}{marker}{trail}"


def _link(text: str, url: str) -> str:
    destination = _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", url)
    return f"[{text.strip(' ')}]({destination})"


def _safe_url(url: str | None, schemes: frozenset[str]) -> str | None:
    """The address if it uses one of `schemes` (with a host, for http and https)."""
    if not url:
        return None
    cleaned = _URL_DROPPED.sub("", url.strip(_C0_AND_SPACE))
    scheme, colon, rest = cleaned.partition(":")
    if not colon or scheme.lower() not in schemes:
        return None
    if scheme.lower() in ("http", "https"):
        try:
            if not urlsplit(cleaned).netloc:
                return None
        except ValueError:
            return None
        return cleaned
    return cleaned if rest else None


def _code_span(code: str) -> str:
    if not code.strip(" "):
        return code
    fence = "`" * (_longest_run(code, "`") + 1)
    if code[0] == "`" or code[-1] == "`" or (code[0] == " " and code[-1] == " "):
        code = f" {code} "
    return f"{fence}{code}{fence}"


def _longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(re.escape(char) + "+", text)), default=0)


def _number(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        return default
    return number if 0 <= number < 1_000_000_000 else default


def _plain_text(element: etree._Element, *, pre: bool = False) -> str:
    """The text of an element and its descendants, without dropped elements' content;
    <br> as a newline (inside <pre>, where whitespace is kept)."""
    pieces: list[str] = []

    def add(text: str | None) -> None:
        if text:
            pieces.append(text)

    def walk(node: etree._Element, level: int) -> None:
        add(node.text)
        for child in node:
            tag = child.tag
            if isinstance(tag, str) and tag not in _DROP:
                if tag == "br":
                    pieces.append("\n" if pre else " ")
                elif level < 200:
                    walk(child, level + 1)
            add(child.tail)

    walk(element, 0)
    return "".join(pieces)
