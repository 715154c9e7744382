"""The writer's desk in a real browser: set up, answer readers, sign in by emailed link."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from aiosmtpd.controller import Controller

from parlour.services import accounts, sites
from parlour.services.context import open_context
from parlour.settings import Settings
from servers import chromium, free_port, running_parlour, served_database
from test_widget import axe_violations, pytestmark  # noqa: F401  (skip without Chromium)

BLOG = "https://blog.example"


class Mailbox:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 Message accepted"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def desk(db_url: str, tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[str]:
    database = served_database(db_url, tmp_path)
    env = {
        "PARLOUR_SMTP_URL": f"smtp://127.0.0.1:{mailbox[1]}",
        "PARLOUR_MAIL_FROM": "Parlour <desk@blog.example>",
    }
    with running_parlour(
        database, tmp_path / "desk.log", secret="desk", env=env, public_host="localhost"
    ) as base:
        ctx = open_context(Settings(database=database, secret="desk"))
        try:
            sites.create_site(ctx, "blog", "Blog", "Wren", [BLOG])
            CODES[base.replace("127.0.0.1", "localhost")] = accounts.setup_code(ctx)
        finally:
            ctx.close()
        yield base.replace("127.0.0.1", "localhost")  # a secure context, as https would be


CODES: dict[str, str] = {}  # each server's setup code, by its address


def set_up_owner(page: Any, desk: str) -> None:
    """The first visit: the setup code `parlour serve` printed, an email and a password."""
    page.goto(desk + "/desk/setup")
    page.get_by_label("Setup code").fill(CODES[desk])
    page.get_by_label("Email").fill("wren@blog.example")
    page.get_by_label("Password (at least 10 characters)").fill("correct horse battery")
    page.get_by_role("button", name="Create the owner's account").click()


def wait_until(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.05)


def reader_comment(base: str, body: str, name: str, thread: str = "/post") -> dict[str, Any]:
    response = httpx.post(
        base + "/api/v1/comments",
        json={"site": "blog", "thread": thread, "title": "A post", "body": body, "author_name": name},
        headers={"Origin": BLOG},
    )
    assert response.status_code == 201, response.text
    comment: dict[str, Any] = response.json()["comment"]
    return comment


@pytest.fixture
def browser(desk: str) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.mark.slow
def test_writer_sets_up_and_answers_every_reader_from_the_inbox(browser: Any, desk: str) -> None:
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.goto(desk + "/desk")
    expect(page).to_have_url(desk + "/desk/setup")
    page.get_by_label("Setup code").fill("a guess")
    page.get_by_label("Email").fill("wren@blog.example")
    page.get_by_label("Password (at least 10 characters)").fill("correct horse battery")
    page.get_by_role("button", name="Create the owner's account").click()
    expect(page.locator("[data-code=wrong_setup_code]")).to_be_visible()
    set_up_owner(page, desk)
    expect(page.get_by_role("status")).to_have_text("Every reader has an answer. Well done.")

    question = reader_comment(desk, "How do you keep going when it rains for a week?", "Ada")
    thanks = reader_comment(desk, "Thank you for this <b>post</b>.", "Bea")
    quiet = reader_comment(desk, "Just saying hello.", "Cy")
    page.reload()
    expect(page.locator("h1")).to_contain_text("3 waiting for a reply")
    first = page.locator(f"#item-{question['id']}")
    expect(first.locator(".tag")).to_have_text("Asks you something")
    expect(page.locator(f"#item-{thanks['id']} .body")).to_contain_text("<b>post</b>")  # text, not markup

    first.get_by_label("Your reply to Ada").fill("With tea, and a *very* good coat.")
    first.get_by_role("button", name="Reply as the writer").click()
    expect(page.locator(f"#item-{question['id']}")).to_have_text(re.compile("Answered"))
    expect(page.locator(f"#item-{question['id']}")).to_be_focused()
    expect(page.locator("h1")).to_contain_text("2 waiting for a reply")
    page.locator(f"#item-{thanks['id']}").get_by_role("button", name="♡ Heart").click()
    expect(page.locator(f"#item-{thanks['id']}").get_by_role("button", name="♥ Liked")).to_be_visible()
    page.locator(f"#item-{quiet['id']}").get_by_role("button", name="No reply needed").click()
    expect(page.locator(f"#item-{quiet['id']}")).to_have_text(re.compile("no reply needed"))

    thread = httpx.get(desk + "/api/v1/comments", params={"site": "blog", "thread": "/post"}).json()
    reply = thread["comments"][0]["replies"][0]
    assert reply["author"] == {"name": "Wren", "is_writer": True, "avatar_url": None, "verified": False}
    assert "<em>very</em>" in reply["html"]
    assert thread["comments"][1]["liked_by_writer"] is True
    page.reload()
    expect(page.locator("h1")).to_contain_text("1 waiting for a reply")  # the hearted one still waits


@pytest.mark.slow
def test_sign_in_link_arrives_by_email_and_works_once(
    browser: Any, desk: str, mailbox: tuple[Mailbox, int]
) -> None:
    from playwright.sync_api import expect

    box, _ = mailbox
    owner = browser.new_context().new_page()
    set_up_owner(owner, desk)
    expect(owner.locator("h1")).to_contain_text("Inbox")

    phone = browser.new_context().new_page()
    phone.goto(desk + "/desk/inbox")
    expect(phone).to_have_url(re.compile(r"/desk/sign-in\?next=/desk/inbox"))
    phone.locator("form[action='/desk/sign-in/link']").get_by_label("Email").fill("wren@blog.example")
    phone.get_by_role("button", name="Email me a sign-in link").click()
    expect(phone.get_by_role("status")).to_contain_text("a sign-in link is on its way")
    wait_until(lambda: box.messages, "the sign-in mail")  # the outbox worker sends it
    message = email.message_from_string(box.messages[0], policy=email.policy.default)
    assert message["To"] == "wren@blog.example" and message["From"] == "Parlour <desk@blog.example>"
    assert message["Subject"] == "Your Parlour sign-in link"
    link = re.search(r"(http://\S+/desk/sign-in/link\?token=\S+)", message.get_content())
    assert link
    url = link.group(1).replace("127.0.0.1", "localhost")
    phone.goto(url)
    phone.get_by_role("button", name="Sign in").click()
    expect(phone.locator("h1"), phone.locator("main").inner_html()).to_contain_text("Inbox")

    again = browser.new_context().new_page()
    again.goto(url)
    again.get_by_role("button", name="Sign in").click()
    expect(again.locator("[data-code=invalid_sign_in_link]")).to_be_visible()

    phone.get_by_role("button", name="Sign out everywhere").click()
    owner.reload()
    expect(owner).to_have_url(re.compile("/desk/sign-in"))


@pytest.mark.slow
def test_inbox_on_a_phone_passes_axe_and_does_not_scroll_sideways(browser: Any, desk: str) -> None:
    from playwright.sync_api import expect

    reader_comment(desk, "A question with a very-long-unbroken-word-" + "x" * 60 + "?", "Ada")
    reader_comment(desk, "Hello from the garden.", "Bea")
    # bypass_csp: the desk allows no inline script, and axe-core is injected as one.
    page = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, bypass_csp=True
    ).new_page()
    page.goto(desk + "/desk/setup")
    assert axe_violations(page, shadow=False) == []
    set_up_owner(page, desk)
    expect(page.locator(".item")).to_have_count(2)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    assert axe_violations(page, shadow=False) == []
    page.emulate_media(color_scheme="dark")
    assert axe_violations(page, shadow=False) == []


def reader_reply(base: str, body: str, name: str, parent_id: int) -> dict[str, Any]:
    response = httpx.post(
        base + "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": body, "author_name": name, "parent_id": parent_id},
        headers={"Origin": BLOG},
    )
    assert response.status_code == 201, response.text
    comment: dict[str, Any] = response.json()["comment"]
    return comment


@pytest.mark.slow
def test_the_inbox_leads_with_what_waits_shows_what_each_answers_and_charts_the_weeks_on_a_phone(
    browser: Any, desk: str
) -> None:
    from playwright.sync_api import expect

    ada = reader_comment(desk, "When do I sow the beans?", "Ada")
    chat = reader_reply(desk, "Mine went in last week, Ada.", "Bo", ada["id"])
    asks = reader_reply(desk, "Wren, is April too late for <b>peas</b>", "Cy", ada["id"])
    page = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, bypass_csp=True
    ).new_page()
    set_up_owner(page, desk)
    expect(page.locator("h1")).to_contain_text("2 waiting for a reply")
    items = page.locator(".inbox > li")
    expect(items).to_have_count(2)
    assert items.evaluate_all("(lis) => lis.map((li) => li.id)") == [
        f"item-{ada['id']}",
        f"item-{asks['id']}",
    ]
    expect(page.locator(f"#item-{chat['id']}")).to_have_count(0)  # readers talking among themselves
    answers = page.locator(f"#item-{asks['id']} .answers")
    expect(answers).to_contain_text("Answering Ada:")
    expect(answers.locator("blockquote")).to_have_text("When do I sow the beans?")
    expect(page.locator(f"#item-{ada['id']} .answers")).to_have_count(0)  # it starts the conversation

    chart = page.get_by_role("img", name="Comments, your replies and your reply rate, week by week")
    expect(chart).to_be_visible()
    expect(chart.locator("desc")).to_contain_text("This week: 3 comments, 0 replies, 0% answered.")
    expect(chart.locator("rect")).to_have_count(16)
    # The items come first: the chart follows the list in the page.
    assert page.evaluate(
        "() => !!(document.querySelector('.inbox').compareDocumentPosition(document.querySelector('.chart svg'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING)"
    )
    box = chart.bounding_box()
    assert box is not None and box["width"] <= 360 and box["height"] > 60
    page.get_by_text("The figures as a table").click()
    expect(page.locator(".weeks table tbody tr")).to_have_count(8)
    expect(page.locator(".weeks table tbody tr").last.locator("td").first).to_have_text("3")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    assert axe_violations(page, shadow=False) == []
    page.emulate_media(color_scheme="dark")
    assert axe_violations(page, shadow=False) == []


@pytest.mark.slow
def test_moderator_sets_hold_all_and_clears_the_queue_with_the_keyboard(browser: Any, desk: str) -> None:
    from playwright.sync_api import expect

    page = browser.new_context(bypass_csp=True).new_page()  # bypass_csp: for the axe script only
    set_up_owner(page, desk)
    page.get_by_role("link", name="Sites").click()
    page.get_by_role("link", name="Blog").click()
    expect(page.locator("pre.snippet").first).to_contain_text('data-site="blog"')
    page.get_by_label("Hold every comment for review").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert axe_violations(page, shadow=False) == []

    first = reader_comment(desk, "First, held", "Ada")
    second = reader_comment(desk, "Second, held", "Bea")
    third = reader_comment(desk, "Buy cheap things", "Spammer")
    assert first["held"] and second["held"] and third["held"]
    page.get_by_role("link", name="Queue").click()
    expect(page.locator("h1")).to_contain_text("3 held for review")
    assert axe_violations(page, shadow=False) == []
    page.keyboard.press("j")
    page.keyboard.press("a")
    expect(page.locator(f"#held-{first['id']}")).to_have_text("Approved: it is published.")
    page.locator(f"#held-{second['id']}").focus()
    page.keyboard.press("x")
    page.locator(f"#held-{third['id']}").focus()
    page.keyboard.press("x")
    page.get_by_role("button", name="Spam ticked").click()
    expect(page.get_by_role("status").first).to_have_text("Done: 2 comments.")
    expect(page.locator(".empty")).to_have_text("Nothing waits for review.")

    thread = httpx.get(desk + "/api/v1/comments", params={"site": "blog", "thread": "/post"}).json()
    assert [c["body"] for c in thread["comments"]] == ["First, held"]
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("table.audit tbody tr")).to_have_count(4)  # settings, approve, spam, spam


@pytest.mark.slow
def test_every_desk_page_fits_a_phone_and_passes_axe(
    browser: Any, desk: str, db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from parlour.services import webhooks
    from parlour.store import webhooks as hook_store

    # A webhook whose receiver is down: the site's page shows a failed delivery.
    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="desk"))
    try:
        webhooks.add(ctx, "blog", f"http://127.0.0.1:{free_port()}/a/rather/long/path/to/the/receiver")
        reader_comment(desk, "Is there a book you would recommend?", "Ada")

        def tried() -> bool:
            with ctx.db.read() as tx:
                return any(d.attempts for d in hook_store.pending(tx))

        wait_until(tried, "a webhook delivery to fail")
    finally:
        ctx.close()
    page = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, bypass_csp=True
    ).new_page()
    set_up_owner(page, desk)
    expect(page.locator("h1")).to_contain_text("Inbox")
    page.goto(desk + "/desk/search?q=book")
    expect(page.locator(".results .item")).to_have_count(1)
    expect(page.get_by_role("status")).to_have_text("1 comment found.")
    reader = page.locator("a[href^='/desk/readers']").first.get_attribute("href")
    for path in ["/desk/inbox", "/desk/queue", "/desk/posts", "/desk/search?q=book", "/desk/sites", "/desk/sites/blog",
                 "/desk/audit", "/desk/mail", reader, "/desk/sign-in"]:  # fmt: skip
        page.goto(desk + str(path))
        expect(page.locator("h1")).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, path
        assert axe_violations(page, shadow=False) == [], path


WAITING = [  # fresh comments on the demo post, for the inbox's screenshot
    ("Lotte", "Maren, would you share which hedge you planted along the north fence? Ours keeps thinning."),
    ("Amir", "First time commenting. I left the asters standing this year and the goldfinches came back."),
    ("Hedda", "Could you write one day about keeping notes on a garden? I never know what to write down."),
]


@pytest.mark.slow
def test_the_inbox_with_the_demo_conversation_waiting_reads_well_and_takes_the_docs_screenshot(
    browser: Any, desk: str, db_url: str, tmp_path: Path
) -> None:
    """docs/desk.md's picture of the inbox is taken here: `PARLOUR_UPDATE_SCREENSHOTS=1 make pytest`
    refreshes docs/images/desk-inbox.png."""
    from playwright.sync_api import expect

    from parlour.services import demo
    from test_widget import keep_screenshot

    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="desk"))
    try:
        demo.load_demo(ctx, [BLOG])
    finally:
        ctx.close()
    for name, body in WAITING:
        response = httpx.post(
            desk + "/api/v1/comments",
            json={"site": demo.SITE, "thread": demo.THREAD, "body": body, "author_name": name},
            headers={"Origin": BLOG},
        )
        assert response.status_code == 201, response.text
    page = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1).new_page()
    set_up_owner(page, desk)
    items = page.locator(".inbox > li")
    expect(items.first).to_be_visible()
    waiting = items.count()
    assert waiting >= len(WAITING)
    expect(page.locator("h1")).to_contain_text(f"{waiting} waiting for a reply")
    for name, _ in WAITING:
        expect(items.filter(has_text=name).locator("textarea")).to_be_visible()
    expect(items.locator(".tag").first).to_have_text("Asks you something")
    expect(items.first.locator("header")).to_contain_text(demo.TITLE)
    page.evaluate("() => window.scrollTo(0, 0)")
    keep_screenshot(page, "desk-inbox.png", tmp_path, db_url)
