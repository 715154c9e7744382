"""Old comment systems' HTML becomes Markdown that Parlour renders the same, and safely."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parlour.importers.html import _inline_paragraphs, _parsed, to_markdown
from parlour.services.markup import render
from xss_corpus import BASE


def shown(markdown: str) -> str:
    """What a reader reads: the rendered text, its whitespace as a browser shows it."""
    inline_tags_gone = re.sub(r"</?(a|em|strong|code|del)\b[^>]*>", "", render(markdown))
    text = html.unescape(re.sub(r"<[^>]*>", " ", inline_tags_gone))
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("old", "markdown"),
    [
        ("<p>One.</p><p>Two.</p>", "One.\n\nTwo."),
        ("first<br>second<br/>third", "first\\\nsecond\\\nthird"),
        ("one<br><br>two", "one\n\ntwo"),
        ("<b>bold</b> <strong>strong</strong>", "**bold** **strong**"),
        ("<i>it</i> <em>em</em>", "*it* *em*"),
        ("a<b> spaced </b>b", "a **spaced** b"),
        ('<a href="https://example.org/a?b=1&amp;c=2">a link</a>', "[a link](https://example.org/a?b=1&c=2)"),
        (
            '<a href="https://x.example/a">https://x.example/a</a>',
            "[https\\://x.example/a](https://x.example/a)",
        ),
        ("see https://x.example/a_b*", "see [https\\://x.example/a_b\\*](https://x.example/a_b*)"),
        ('<a href="mailto:someone@example.org">write</a>', "[write](mailto:someone@example.org)"),
        ('<a href="https://example.org/(x) y">x</a>', "[x](https://example.org/%28x%29%20y)"),
        ("use <code>a*b</code> here", "use `a*b` here"),
        ("<code>a`b</code>", "``a`b``"),
        ("<pre>  keep\n    this</pre>", "```\n  keep\n    this\n```"),
        ("<blockquote><p>She said</p><p>twice</p></blockquote>", "> She said\n>\n> twice"),
        ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
        ('<ol start="4"><li>four</li><li>five</li></ol>', "4. four\n5. five"),
        ("<ul><li>a<ul><li>b</li></ul></li></ul>", "- a\n  - b"),
        ('<img src="https://img.example/cat.png" alt="a cat">', "[a cat](https://img.example/cat.png)"),
        ('<img src="/local.png" alt="a cat">', "a cat"),
        ("Tom &amp; Jerry &lt;3 &eacute;t&eacute;", "Tom & Jerry \\<3 été"),
        ("<h2>Title</h2>", "**Title**"),
        ("<span style='color:red'>kept</span> <font>text</font>", "kept text"),
    ],
)
def test_old_html_becomes_markdown(old: str, markdown: str) -> None:
    assert to_markdown(old) == markdown


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<style>body{display:none}</style>",
        '<iframe src="https://evil.example/"></iframe>',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="  JaVa&#x09;ScRiPt:alert(1)">x</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<img src="x" onerror="alert(1)">',
        '<p onclick="alert(1)">x</p>',
    ],
)
def test_hostile_html_leaves_only_text(hostile: str) -> None:
    rendered = render(to_markdown(hostile))
    assert "script" not in rendered.lower()
    assert not re.search(r"\son\w+=", rendered)
    assert "href" not in rendered


@pytest.mark.parametrize(
    "text",
    [
        "*not emphasis* and _not either_",
        "# not a heading",
        "> not a quote",
        "- not a list",
        "+ not a list",
        "1. not a numbered list",
        "2) nor this",
        "---",
        "===",
        "[not](a link) ![nor](an image)",
        "`not code`",
        "~~not struck~~",
        "a backslash \\ and one at the end \\",
        "<https://autolink.example> <b>",
        "&copy; stays &amp;copy;",
        "snake_case_name and __dunder__",
    ],
)
def test_markdown_in_plain_text_stays_text(text: str) -> None:
    assert shown(to_markdown(html.escape(text))) == " ".join(text.split())


def test_wordpress_newlines_are_breaks_and_paragraphs() -> None:
    assert to_markdown("one\ntwo\n\nthree", breaks=True) == "one\\\ntwo\n\nthree"
    assert to_markdown("one\ntwo", breaks=False) == "one two"


def test_every_payload_of_the_xss_corpus_converts_to_harmless_markdown() -> None:
    for payload in BASE:
        rendered = render(to_markdown(payload))
        assert "<script" not in rendered.lower()
        assert not re.search(r"<[^>]*\son\w+\s*=", rendered, re.IGNORECASE)
        for href in re.findall(r'href="([^"]*)"', rendered):
            assert href.startswith(("http://", "https://", "mailto:")), href


def test_deep_nesting_keeps_the_text() -> None:
    assert to_markdown("<div>" * 5000 + "deep" + "</div>" * 5000) == "deep"
    assert shown(to_markdown("<b><i>" * 300 + "deep")) == "deep"


tags = st.sampled_from(
    ["p", "b", "i", "em", "a", "code", "pre", "blockquote", "ul", "ol", "li", "br", "img", "script",
     "style", "iframe", "svg", "div", "span", "h1", "table", "td"]
)  # fmt: skip
attributes = st.sampled_from(
    ['href="javascript:alert(1)"', 'href="https://ok.example/x"', 'onclick="alert(1)"', 'src="x"',
     'onerror="alert(1)"', 'src="https://img.example/a.png"', 'href="data:text/html;base64,PHNjcmlwdD4="',
     'style="x:expression(alert(1))"', 'start="3"', ""]
)  # fmt: skip
fragments = st.one_of(
    st.text(max_size=12),
    st.builds(lambda t, a: f"<{t} {a}>", tags, attributes),
    st.builds(lambda t: f"</{t}>", tags),
    st.sampled_from(
        ["&amp;", "&lt;", "&#106;avascript:", "&quot;", "*", "_", "`", "[", "](", "#", "\n", "<!--", "-->"]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(fragments, max_size=25).map("".join))
def test_rendered_imports_never_carry_script_or_handlers(old: str) -> None:
    rendered = render(to_markdown(old))
    assert "<script" not in rendered.lower()
    assert "<iframe" not in rendered.lower()
    assert not re.search(r"<[^>]*\son\w+\s*=", rendered, re.IGNORECASE)
    for href in re.findall(r'href="([^"]*)"', rendered):
        assert href.startswith(("http://", "https://", "mailto:")), href


plain_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"), max_size=80
) | st.lists(
    st.sampled_from(["*", "_", "`", "#", ">", "-", "+", "1.", "2)", "[", "]", "(", ")", "!", "\\", "<", "&",
                     "~", "=", "|", " ", "a", "word", "&amp;", "http://x.example/a_b", "www.x.example"]),
    max_size=20,
).map("".join)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(plain_text)
def test_plain_text_reads_the_same_after_import(text: str) -> None:
    assert shown(to_markdown(html.escape(text))) == " ".join(text.split())


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(
                list("ab é😊 \n\t.!?*_[]`#>-+1\\\"'~|()/:@\u00a0\u2028\x0b\x1f\x7f\x85")
            ),
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["", "\n", " ", "\n\n"]),
    st.booleans(),
)
def test_plain_paragraphs_convert_as_the_parser_would(texts: list[str], gap: str, breaks: bool) -> None:
    html = gap.join(f"<p>{t}</p>" for t in texts)
    assert to_markdown(html, breaks=breaks) == _parsed(html.replace("\r\n", "\n"), breaks)


_INLINE_PIECES = [
    "<p>", "</p>", "<b>", "</b>", "<strong>", "</strong>", "<i>", "</i>", "<em>", "</em>", "<br>", "<br/>",
    "<br />", '<a href="https://example.org/a_b?x=1">', '<a href="https://example.org/p" rel="nofollow noopener">',
    '<a href="http://e.example/" target="_blank">', '<a href="javascript:alert(1)">', '<a href="mailto:a@b.example">',
    '<a href="">', '<a href="https://">', "</a>", "word", "Two words", " ", "  ", "\n", "\t", "é", "😊", "*", "_",
    "a_b", "`", "[", "]", "#", "> ", "- ", "1. ", "2) ", "\\", "~~", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;",
    "&nbsp;", "&", "<", ">", "https://example.org/x", "www.example.org", "\u00a0", "<span>", "<p class=x>", "<P>",
    "<blockquote>", "</blockquote>", "<blockquote><p>", "</p></blockquote>", "<blockquote cite=x>",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_INLINE_PIECES), max_size=16).map("".join), st.booleans())
def test_simple_inline_html_converts_as_the_parser_would(html: str, breaks: bool) -> None:
    """The fast path for paragraphs of bold, italics, breaks and links gives the parser's
    Markdown, or steps aside."""
    assert to_markdown(html, breaks=breaks) == _parsed(html.replace("\r\n", "\n"), breaks)


def test_simple_inline_html_takes_the_fast_path() -> None:
    old = '<p>So <b>true</b>.<br>See <a href="https://example.org/p" rel="nofollow">this</a> &amp; more</p> <p>Yes</p>'
    assert _inline_paragraphs(old, False) == (
        "So **true**.\\\nSee [this](https://example.org/p) & more\n\nYes"
    )
    assert _inline_paragraphs("<p>a <b>b</p>", False) is None  # unclosed: the parser mends it
    quoted = "<blockquote><p>You said <i>this</i>.</p><p>And this.</p></blockquote><p>Yes!</p>"
    assert _inline_paragraphs(quoted, False) == "> You said *this*.\n>\n> And this.\n\nYes!"
