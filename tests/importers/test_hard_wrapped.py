"""Markdown from systems that break lines where the reader did (Isso's hard_wrap) as
CommonMark that renders the same: only soft breaks in paragraphs become hard ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parlour.importers.fields import hard_wrapped
from parlour.services.markup import render


@pytest.mark.parametrize(
    ("typed", "wrapped"),
    [
        ("line one\nline two", "line one  \nline two"),
        ("one\ntwo\n\nthree", "one  \ntwo\n\nthree"),
        ("- a\n  b\n- c", "- a  \n  b\n- c"),
        ("> one\n> two\nlazy", "> one  \n> two  \nlazy"),
        ("```\ncode\nmore\n```\nafter\nthis", "```\ncode\nmore\n```\nafter  \nthis"),
        ("Title\n=====\nbody\ntext", "Title\n=====\nbody  \ntext"),
        ("backslash\\\nthen\nsoft", "backslash\\\nthen  \nsoft"),
        ("span `code\nspan` here\nnext", "span `code\nspan` here\nnext"),  # a code span over a line end
        ("_\n1_", "_  \n1_"),  # still no emphasis
        ("a\r\nb", "a  \nb"),
        ("one line", "one line"),
        ("", ""),
    ],
)
def test_soft_breaks_in_paragraphs_become_hard_and_nothing_else_changes(typed: str, wrapped: str) -> None:
    assert hard_wrapped(typed) == wrapped


def test_each_line_a_reader_typed_in_a_paragraph_shows_as_a_line() -> None:
    assert render(hard_wrapped("Dear all,\nthank you.")) == "<p>Dear all,<br>\nthank you.</p>\n"


_MARKDOWN = st.text(alphabet="ab \n>-*_`#=1.\\[]()", max_size=60)


@given(_MARKDOWN)
def test_the_result_renders_as_the_text_did_but_for_line_breaks(typed: str) -> None:
    def without_breaks(html: str) -> str:
        return html.replace("<br>\n", "\n")

    assert without_breaks(render(hard_wrapped(typed))) == without_breaks(render(typed))
