"""The widget in a real browser, on a host page of another origin, as on a real blog."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from parlour.services import sites
from parlour.services.context import open_context
from parlour.settings import Settings
from servers import running_parlour, served_database

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed",
)


@pytest.fixture
def parlour(db_url: str, tmp_path: Path) -> Iterator[str]:
    with running_parlour(served_database(db_url, tmp_path), tmp_path / "serve.log", secret="widget") as base:
        yield base


@pytest.fixture
def blog(parlour: str, db_url: str, tmp_path: Path) -> Iterator[str]:
    """A blog post on its own origin with the one-line snippet; its origin is allowed."""
    root = tmp_path / "blog"
    root.mkdir()
    (root / "index.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Blog</title></head>
<body><ul><li><a href="/post" data-parlour-count>Comments</a></li>
<li><a href="/quiet" data-parlour-count>Comments</a></li>
<li><span data-parlour-count="/post">Comments</span></li></ul>
<script async src="{parlour}/count.js" data-site="blog"></script></body></html>""",
        encoding="utf-8",
    )
    (root / "post.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A post</title></head>
<body><h1>A post</h1><div id="parlour-comments"></div>
<script async src="{parlour}/embed.js" data-site="blog" data-thread="/post"></script></body></html>""",
        encoding="utf-8",
    )
    (root / "dark.html").write_text(
        f"""<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Dunkel</title></head>
<body style="background:#111"><div id="parlour-comments"></div>
<script async src="{parlour}/embed.js" data-site="blog" data-thread="/post" data-theme="dark"></script></body></html>""",
        encoding="utf-8",
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        sites.create_site(ctx, "blog", "Blog", "Wren", [origin])
    finally:
        ctx.close()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin + "/post.html"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def page(blog: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(blog)
        yield tab
        browser.close()


@pytest.mark.slow
def test_reader_posts_replies_and_hearts_across_origins_with_hostile_text_shown_as_text(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    widget = page.locator("#parlour-comments")
    expect(widget.locator(".count")).to_have_text("0 comments")
    compose = widget.locator(".new form")
    compose.locator("input[name=author_name]").fill("<img src=x onerror=alert('name')>")
    compose.locator("textarea").fill("<script>alert('body')</script> and **bold**")
    compose.locator("button[type=submit]").click()
    comment = widget.locator("li.comment").first
    expect(comment.locator(".name")).to_have_text("<img src=x onerror=alert('name')>")
    expect(comment.locator(".body")).to_contain_text("<script>alert('body')</script>")
    expect(comment.locator(".body strong")).to_have_text("bold")
    assert widget.locator("img, script").count() == 0

    comment.locator("button.reply").click()
    reply_form = comment.locator("form")
    reply_form.locator("textarea").fill("A reply")
    reply_form.locator("button[type=submit]").click()
    expect(comment.locator(".replies li.comment .body")).to_have_text("A reply")

    comment.locator("button.heart").first.click()
    expect(comment.locator("button.heart").first).to_have_text("♥ 1")

    page.reload()
    expect(widget.locator(".count")).to_have_text("2 comments")
    expect(widget.locator(".new input[name=author_name]")).to_have_value("<img src=x onerror=alert('name')>")


@pytest.mark.slow
def test_reader_edits_and_deletes_own_comment_and_takes_a_heart_back(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    widget = page.locator("#parlour-comments")
    compose = widget.locator(".new form")
    compose.locator("textarea").fill("Teh typo")
    compose.locator("button[type=submit]").click()
    comment = widget.locator("li.comment").first
    expect(comment.locator(".body")).to_have_text("Teh typo")

    comment.locator("button.heart").click()
    expect(comment.locator("button.heart")).to_have_text("♥ 1")
    comment.locator("button.heart").click()
    expect(comment.locator("button.heart")).to_have_text("♥ 0")

    comment.locator("button.edit").click()
    comment.locator("form.editing textarea").fill("The *fix*")
    comment.locator("form.editing button[type=submit]").click()
    expect(comment.locator(".body em")).to_have_text("fix")

    page.reload()
    comment = widget.locator("li.comment").first
    expect(comment.locator(".body")).to_have_text("The fix")
    comment.locator("button.delete").click()
    expect(comment.locator(".removed")).to_be_visible()


@pytest.mark.slow
def test_index_page_gets_every_count_in_one_request(page, blog: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    compose = page.locator("#parlour-comments .new form")
    for text in ["One", "Two"]:
        compose.locator("textarea").fill(text)
        compose.locator("button[type=submit]").click()
        expect(page.locator("#parlour-comments li.comment .body", has_text=text)).to_be_visible()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(blog.replace("/post.html", "/index.html"))
    counts = page.locator("[data-parlour-count]")
    expect(counts.nth(0)).to_have_text("2 comments")
    expect(counts.nth(1)).to_have_text("0 comments")
    expect(counts.nth(2)).to_have_text("2 comments")
    assert len([url for url in requests if "/api/v1/counts" in url]) == 1


@pytest.mark.slow
def test_dark_theme_and_relative_times_in_the_pages_language(page, blog: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    compose = page.locator("#parlour-comments .new form")
    compose.locator("textarea").fill("Guten Abend")
    compose.locator("button[type=submit]").click()
    time = page.locator("#parlour-comments li.comment time").first
    expect(time).to_have_text("now")
    assert time.get_attribute("datetime", timeout=5000)
    assert time.get_attribute("title")  # the exact time, on hover
    page.goto(blog.replace("/post.html", "/dark.html"))
    time = page.locator("#parlour-comments li.comment time").first
    expect(time).to_have_text("jetzt")
    expect(page.locator("#parlour-comments .count")).to_have_text("1 Kommentar")
    expect(page.locator("#parlour-comments .new button[type=submit]")).to_have_text("Kommentar senden")
    expect(page.locator("#parlour-comments li.comment button.reply").first).to_have_text("Antworten")
    colour = page.locator("#parlour-comments .name").first.evaluate("node => getComputedStyle(node).color")
    assert colour == "rgb(244, 244, 245)"
