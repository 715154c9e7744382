"""Markdown in, safe HTML out."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from factories import error_code, make_site, read
from parlour.services import markup
from parlour.services.context import Context
from parlour.services.markup import render


def test_commonmark_emphasis_lists_quotes_and_code_render() -> None:
    html = render("*soft* and **strong**\n\n- one\n- two\n\n> quoted\n\n`code` and\n\n```\nblock\n```")
    for fragment in [
        "<em>soft</em>",
        "<strong>strong</strong>",
        "<li>one</li>",
        "<blockquote>",
        "<code>code</code>",
        "<pre><code>block",
    ]:
        assert fragment in html


def test_bare_urls_become_links_with_nofollow_ugc_noopener() -> None:
    html = render("see https://example.com/page and [this](https://example.org)")
    assert '<a href="https://example.com/page" rel="nofollow ugc noopener">' in html
    assert '<a href="https://example.org" rel="nofollow ugc noopener">this</a>' in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<iframe src=https://evil.example></iframe>",
        '<a href="javascript:alert(1)">x</a>',
        "[click](javascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        '<div style="position:fixed">overlay</div>',
        "![pixel](https://tracker.example/p.gif)",
    ],
)
def test_raw_html_and_dangerous_links_never_render(hostile: str) -> None:
    tags, attributes = _active(render(hostile))
    assert tags <= {"p", "a"}
    for name, value in attributes:
        assert not name.startswith("on") and name != "style"
        if name == "href":
            assert value.startswith(("http://", "https://", "mailto:")), value


def test_raw_html_is_shown_as_text() -> None:
    assert render("I <3 <b>bold</b> claims") == "<p>I &lt;3 &lt;b&gt;bold&lt;/b&gt; claims</p>\n"


@given(st.text(max_size=300))
def test_any_text_renders_to_html_without_active_content(text: str) -> None:
    tags, attributes = _active(render(text))
    assert tags <= SAFE_TAGS
    assert {name for name, _ in attributes} <= {"href", "title", "rel", "start", "class"}


SAFE_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "s",
    "a",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
} | {f"h{i}" for i in range(1, 7)}


def _active(html: str) -> tuple[set[str], list[tuple[str, str]]]:
    """The tags and attributes an HTML fragment really contains (not its escaped text)."""

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: set[str] = set()
            self.attributes: list[tuple[str, str]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.add(tag)
            self.attributes += [(k, v or "") for k, v in attrs]

    collector = Collector()
    collector.feed(html)
    return collector.tags, collector.attributes


def test_preview_shows_the_html_a_comment_would_have_and_stores_nothing(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    response = client.post("/api/v1/preview", json={"body": "**bold** <script>x</script>"})
    assert response.status_code == 200
    assert response.json() == {"html": "<p><strong>bold</strong> &lt;script&gt;x&lt;/script&gt;</p>\n"}
    assert read(client)["thread"]["comment_count"] == 0
    assert error_code(client.post("/api/v1/preview", json={"body": "  "})) == "empty_body"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "http",
                "https",
                "ftp",
                "mailto",
                ":",
                "/",
                "//",
                "@",
                ".",
                "www",
                "com",
                "org",
                " ",
                "\n",
                "a",
                "Ann",
                "x",
            ]
        ),
        max_size=14,
    ).map("".join)
)
def test_the_fast_path_renders_exactly_what_linkify_would(text: str) -> None:
    """Text without a link hint skips linkify; the result must be the same as with it."""
    assert markup.render(text) == markup.sanitise(markup._md.render(text))


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["a", "Ann", "é", "😊", " ", "  ", "\n", "\n\n", "\n\n\n", "\t", "1", "2.", "3)", ".", ",", "'", '"',
             "?", ":", ";", "(", ")", "%", "$", "/", "-", "*", "_", "#", ">", "<", "&", "[", "]", "`", "~", "|",
             "=", "+", "!", "\\", "\u00a0", "\u2028", "\r", "\x00", "www", ".com", "@"]
        ),
        max_size=16,
    ).map("".join)
)  # fmt: skip
def test_plain_prose_renders_exactly_what_markdown_would(text: str) -> None:
    """The fast path for prose must give what the Markdown renderer gives, or step aside."""
    md = markup._md if markup._LINK_HINT.search(text) else markup._md_plain
    assert markup.render(text) == markup.sanitise(md.render(text))


def test_plain_prose_takes_the_fast_path() -> None:
    assert markup._plain("Thank you.\nI needed this today.\n\nWith love, Ann") == (
        "<p>Thank you.\nI needed this today.</p>\n<p>With love, Ann</p>\n"
    )
    assert markup._plain("1. first") is None and markup._plain("    code") is None


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_any_text_renders_the_same_on_either_path(text: str) -> None:
    md = markup._md if markup._LINK_HINT.search(text) else markup._md_plain
    assert markup.render(text) == markup.sanitise(md.render(text))


_PIECES = [
    "word", "Two words", "é", "😊", " ", "\n", "\n\n", "\\\n", "**bold**", "*it*", "**two words**", "*a b*",
    "[a link](https://example.org/x/1)", "[x](http://e.org/%41?a=b#c)", "[x](https://e.org/%zz)", "&", "&amp;",
    "&#35;", "!", "![", '"', "'", "(", ")", "*", "**", "***", "_", "[", "]", "1.", "2)", "-", "#", ">", "=",
    "+", "\\", "`", "~", "|", "<", "www.x.com", "a@b.org", ":", "?", ".", ",", "\t", "\u00a0", "  ",
    "> ", "\n> ", "- ", "\n- ", ">", "\n\n> quoted", "\n\n- item\n- item", "\n-", " - ",
]  # fmt: skip


@settings(max_examples=4000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_simple_prose_renders_exactly_what_markdown_would(text: str) -> None:
    """The fast path for emphasis, links and breaks must give markdown-it's HTML, or step aside."""
    md = markup._md if markup._LINK_HINT.search(text) else markup._md_plain
    assert markup.render(text) == markup.sanitise(md.render(text))


def test_simple_prose_takes_the_fast_path() -> None:
    assert markup._simple("Some **bold**, *it* and [a page](https://example.org/p) & more!\\\nNext") == (
        '<p>Some <strong>bold</strong>, <em>it</em> and <a href="https://example.org/p" rel="nofollow ugc noopener">'
        "a page</a> &amp; more!<br>\nNext</p>\n"
    )
    assert markup._simple("> a quote\n\n- a\n- list") == (
        "<blockquote>\n<p>a quote</p>\n</blockquote>\n<ul>\n<li>a</li>\n<li>list</li>\n</ul>\n"
    )
    assert markup._simple("1. a list") is None and markup._simple("- a\n\n- loose list") is None


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["a", "w", "W", "www", "WwW", ".", "..", "com", "Co", ":", "/", "//", "@", "mailto", "MAILTO", "mailto:",
             " ", "\n", "\u0130", "\u0131", "\u017f", "\u212a", "é", "ß", "1", "x", "ma", "ilto"]
        ),
        max_size=12,
    ).map("".join)
)  # fmt: skip
def test_the_quick_link_test_agrees_with_the_expression(text: str) -> None:
    assert markup.may_link(text) == (markup._LINK_HINT.search(text) is not None)


# What `_odd_lines` tests, as the multi-line expressions it replaced.
_ODD_LINE = re.compile(r"^(?:[^\S\n]|[#>+=\-]|\d+[.)]|\*(?![*A-Za-z0-9]))|[^\S\n]$", re.MULTILINE)
_ODD_PLAIN_LINE = re.compile(r"^[^\S\n]|[^\S\n]$|^\d+[.)]", re.MULTILINE)


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["a", "Z", "0", "9", "\u0663", "1.", "2)", " ", "\t", "\n", "\u00a0", "\u2028", "\r", "#", ">", "+", "=",
             "-", "*", "**", "*a", "*.", ".", ")", "x y", "\x0b", "\x1c", "\x85"]
        ),
        max_size=10,
    ).map("".join)
)  # fmt: skip
def test_the_line_by_line_test_agrees_with_the_expressions(text: str) -> None:
    assert markup._odd_lines(text, markers=True) == (_ODD_LINE.search(text) is not None)
    assert markup._odd_lines(text, markers=False) == (_ODD_PLAIN_LINE.search(text) is not None)
