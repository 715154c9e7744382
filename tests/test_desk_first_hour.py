"""The writer's first hour in the desk, in a real browser: the front page, setting up, the
site's page and its snippets, the queue, and blocking a reader from their page."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
import pytest

from test_desk_pages import BLOG, browser, desk, mailbox, reader_comment, set_up_owner  # noqa: F401  (fixtures)
from test_widget import pytestmark  # noqa: F401  (skip without Chromium)


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None
    return dict(found)


@pytest.mark.slow
def test_the_front_page_leads_to_the_desk(browser: Any, desk: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.goto(desk + "/")
    page.get_by_role("link", name="Open the writer's desk").click()
    expect(page).to_have_url(desk + "/desk/setup")


@pytest.mark.slow
def test_setup_reads_as_sentences_and_its_errors_show_commands_as_code(browser: Any, desk: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(desk + "/desk/setup")
    label = page.locator("label", has_text="Setup code")
    # One sentence on one line, the command inline in it, the field below.
    assert abs(box(label.locator("code"))["y"] - box(label)["y"]) < 8
    assert box(label.locator("input"))["y"] > box(label.locator("code"))["y"] + 10
    page.get_by_label("Setup code").fill("a guess")
    page.get_by_label("Email").fill("wren@blog.example")
    page.get_by_label("Password (at least 10 characters)").fill("correct horse battery")
    page.get_by_role("button", name="Create the owner's account").click()
    error = page.locator("[data-code=wrong_setup_code]")
    expect(error).to_contain_text("not this server's setup code")
    assert "`" not in error.inner_text()
    expect(error.locator("code").first).to_have_text("parlour serve")


@pytest.mark.slow
def test_the_site_page_copies_its_snippet_and_fits_a_phone(browser: Any, desk: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=desk)
    page = context.new_page()
    set_up_owner(page, desk)
    page.goto(desk + "/desk/sites/blog")
    snippet = page.locator("#snippet-comments")
    expect(snippet).to_contain_text('data-site="blog"')
    for each in page.locator("pre.snippet").all():
        assert each.evaluate("pre => pre.scrollWidth <= pre.clientWidth")
        assert box(each)["x"] + box(each)["width"] <= 360
    page.get_by_role("button", name="Copy the comments snippet").click()
    expect(page.locator("#copied")).to_have_text("Copied to the clipboard.")
    expect(page.get_by_role("button", name="Copy the comments snippet")).to_have_text("Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == snippet.text_content()
    assert copied.startswith('<div id="parlour-comments"></div>\n<script async src="http://localhost:')


@pytest.mark.slow
def test_the_queue_counts_down_with_each_decision_and_ticks_sit_by_their_comments(
    browser: Any,  # noqa: F811
    desk: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    set_up_owner(page, desk)
    page.goto(desk + "/desk/sites/blog")
    page.get_by_label("Hold every comment for review").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    held = [reader_comment(desk, f"Held comment {n}", name) for n, name in enumerate(["Ada", "Bea", "Cy"])]
    assert all(c["held"] for c in held)
    page.goto(desk + "/desk/queue")
    heading = page.locator("h1")
    expect(heading).to_contain_text("3 held for review")

    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        for comment in held:
            item = page.locator(f"#held-{comment['id']}")
            tick, name = box(item.get_by_role("checkbox")), box(item.locator("strong").first)
            assert tick["x"] + tick["width"] <= name["x"] <= tick["x"] + tick["width"] + 16, width
            middle = tick["y"] + tick["height"] / 2
            assert name["y"] <= middle <= name["y"] + name["height"], width

    page.locator(f"#held-{held[0]['id']}").get_by_role("button", name="Approve").click()
    expect(page.locator(f"#held-{held[0]['id']}")).to_have_text("Approved: it is published.")
    expect(heading).to_contain_text("2 held for review")
    page.locator(f"#held-{held[1]['id']}").get_by_role("button", name="Spam").click()
    expect(heading).to_contain_text("1 held for review")
    reader_comment(desk, "Held while she works", "Dee")  # another arrives meanwhile
    page.locator(f"#held-{held[2]['id']}").get_by_role("button", name="Reject").click()
    expect(heading).to_contain_text("1 held for review")  # what is left, not one less than shown
    expect(heading).not_to_contain_text("0 held")


@pytest.mark.slow
def test_blocking_offers_only_what_works_for_the_reader_and_is_lifted_from_their_page(
    browser: Any,  # noqa: F811
    desk: str,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    # Ada gave no email and has no reader identity: only her address can be blocked.
    ada = reader_comment(desk, "A rude remark", "Ada")
    page = browser.new_context().new_page()
    set_up_owner(page, desk)
    page.goto(desk + "/desk/search?q=rude")
    page.get_by_role("link", name="Ada").first.click()
    expect(page.locator("h1")).to_contain_text("Ada")
    choices = page.get_by_role("radio")
    expect(choices).to_have_count(1)
    address = page.get_by_role("radio", name=re.compile("Their internet address"))
    expect(address).to_be_checked()
    expect(page.locator("#kind-address-hint")).to_contain_text(
        "Also blocks everyone else who comments from the same connection"
    )
    page.get_by_label("Why (for the audit log)").fill("rude")
    page.get_by_role("button", name="Block on blog").click()
    expect(page).to_have_url(re.compile(r"/desk/readers\?key=.*#block$"))
    expect(page.get_by_role("status")).to_have_text("Blocked on blog: they cannot comment there.")
    refused = httpx.post(
        desk + "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "Again", "author_name": "Ada"},
        headers={"Origin": BLOG},
    )
    assert refused.json()["error"]["code"] == "reader_blocked"

    page.get_by_role("button", name="Lift the block by their internet address").click()
    expect(page).to_have_url(re.compile(r"/desk/readers\?key=.*#block$"))
    expect(page.get_by_role("status")).to_have_count(0)
    expect(address).to_be_visible()
    assert reader_comment(desk, "Sorry about that", "Ada")["id"] > ada["id"]

    # Bea has a reader identity and gave an email: all three, her identity first.
    with httpx.Client(base_url=desk, headers={"Origin": BLOG}) as api:
        token = api.post("/api/v1/readers").json()["reader_token"]
        posted = api.post(
            "/api/v1/comments",
            json={"site": "blog", "thread": "/post", "body": "A kind word", "author_name": "Bea",
                  "author_email": "bea@example.org"},
            headers={"X-Parlour-Reader": token},
        )  # fmt: skip
        assert posted.status_code == 201, posted.text
    page.goto(desk + "/desk/search?q=kind")
    page.get_by_role("link", name="Bea").first.click()
    expect(page.get_by_role("radio")).to_have_count(3)
    expect(page.get_by_role("radio", name=re.compile("Their reader identity"))).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile("The email they gave"))).to_be_visible()
