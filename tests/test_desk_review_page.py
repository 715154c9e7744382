"""The review of a pasted comment section in a real browser: paste, mark her reply (which
starts out answering the comment above), publish one thread."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
import pytest

from test_desk_pages import browser, desk, mailbox, set_up_owner  # noqa: F401  (fixtures)
from test_widget import axe_violations, pytestmark  # noqa: F401  (skip without Chromium)

COPY = "Lovely piece on tide pools.\nReply\nThank you, glad you liked it!\nLike\nWhere was the photo taken?\n"


@pytest.mark.slow
def test_writer_reviews_a_paste_and_publishes_her_replies_under_the_comments(browser: Any, desk: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_context(bypass_csp=True).new_page()  # bypass_csp: for the axe script only
    set_up_owner(page, desk)
    page.goto(desk + "/desk/sites/blog")
    page.get_by_role("link", name=re.compile("Import comments from another system")).click()
    page.get_by_label("Format").select_option("paste")
    page.get_by_label("Or, for a comment section copied from a page, paste it here").fill(COPY)
    page.get_by_label(re.compile("The thread's key")).fill("/pasted")
    page.get_by_role("button", name="Import").click()
    expect(page).to_have_url(re.compile(r"/desk/imports/\d+$"))
    rows = page.locator("ol.review > li")
    expect(rows).to_have_count(3)  # the buttons are gone
    assert axe_violations(page, shadow=False) == []

    first_id = rows.nth(0).get_attribute("id")
    assert first_id is not None
    second = rows.nth(1)
    second.get_by_label("Mine").check()
    expect(second.get_by_label("Answers")).to_have_value(first_id[1:])  # the comment above
    rows.nth(0).get_by_label("Name").fill("Ann")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("Published")

    thread = httpx.get(desk + "/api/v1/comments", params={"site": "blog", "thread": "/pasted"}).json()
    tops = thread["comments"]
    assert [c["author"]["name"] for c in tops] == ["Ann", None]
    assert [r["author"]["is_writer"] for r in tops[0]["replies"]] == [True]
    assert "glad you liked it" in tops[0]["replies"][0]["body"]
