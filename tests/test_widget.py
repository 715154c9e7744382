"""The widget in a real browser, on a host page of another origin, as on a real blog."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from factories import PUSH_WINDOW, within
from parlour.domain.model import Status
from parlour.services import sites
from parlour.services.context import open_context
from parlour.settings import Settings
from servers import CHROMIUM, chromium, running_parlour, served_database

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed",
)


@pytest.fixture
def parlour(db_url: str, tmp_path: Path) -> Iterator[str]:
    with running_parlour(served_database(db_url, tmp_path), tmp_path / "serve.log", secret="widget") as base:
        yield base


def host_page(
    root: Path, name: str, parlour: str, attrs: str = "", lang: str = "en", style: str = ""
) -> None:
    """A page of the blog with the snippet (and its noscript link), as docs/embedding.md shows."""
    (root / name).write_text(
        f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>A post</title></head>
<body style="{style}"><main><h1>A post</h1><p>Words by the writer.</p>
<div id="parlour-comments"></div>
<script async src="{parlour}/embed.js" data-site="blog" data-thread="/post" {attrs}></script>
<noscript><a href="{parlour}/comments.html?site=blog&amp;thread=/post">Read the comments</a></noscript>
</main></body></html>""",
        encoding="utf-8",
    )


@pytest.fixture
def blog(parlour: str, db_url: str, tmp_path: Path) -> Iterator[str]:
    """A blog post on its own origin with the one-line snippet; its origin is allowed."""
    with serve_blog(parlour, db_url, tmp_path) as post_url:
        yield post_url


@contextlib.contextmanager
def serve_blog(parlour: str, db_url: str, tmp_path: Path) -> Iterator[str]:
    """Serve the blog's pages (index, post, dark, night, writer) on an origin of their own,
    made site `blog`'s; yields the post's URL."""
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
    host_page(root, "post.html", parlour)
    host_page(root, "dark.html", parlour, 'data-theme="dark"', lang="de", style="background:#fff")
    host_page(root, "night.html", parlour, lang="de", style="background:#111; color:#eee")
    # Parlour at `localhost` (a secure context, like https) for the desk's Secure cookies.
    host_page(root, "writer.html", parlour.replace("127.0.0.1", "localhost"))

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
    with chromium() as browser:
        tab = browser.new_context().new_page()
        tab.on("dialog", lambda dialog: dialog.accept())  # "Delete this comment?"
        tab.goto(blog)
        yield tab


@pytest.fixture
def browser(blog: str) -> Iterator[Any]:
    """A browser for tests that open several pages or set their own viewport."""
    with chromium() as launched:
        yield launched


def seed(parlour: str, blog: str, body: str, **fields: Any) -> dict[str, Any]:
    """Post a comment through the API, from the blog's origin, as another reader would."""
    origin = blog.rsplit("/", 1)[0]
    response = httpx.post(
        parlour + "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": body, **fields},
        headers={"Origin": origin},
    )
    assert response.status_code == 201, response.text
    comment: dict[str, Any] = response.json()["comment"]
    return comment


@pytest.mark.slow
def test_reader_posts_replies_and_hearts_across_origins_with_hostile_text_shown_as_text(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    widget = page.locator("#parlour-comments")
    expect(widget.locator(".count")).to_have_text("Write the first comment")
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
def test_a_reader_whose_identity_no_longer_holds_posts_with_a_new_one(page) -> None:  # type: ignore[no-untyped-def]
    """After the instance's secret changes, every stored reader identity is refused: the
    widget takes a new one and sends the comment again, rather than refusing it for good."""
    from playwright.sync_api import expect

    page.evaluate("localStorage.setItem('parlour:blog:reader', 'r1.someone.signed-with-an-old-secret')")
    widget = page.locator("#parlour-comments")
    compose = widget.locator(".new form")
    compose.locator("textarea").fill("Still here after the move")
    compose.locator("button[type=submit]").click()
    comment = widget.locator("li.comment").first
    expect(comment.locator(".body")).to_have_text("Still here after the move")
    comment.locator("button.heart").click()
    expect(comment.locator("button.heart")).to_have_text("♥ 1")
    stored = page.evaluate("localStorage.getItem('parlour:blog:reader')")
    assert stored and stored.startswith("r1.") and "old-secret" not in stored


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


@pytest.mark.slow
def test_the_threads_feed_is_linked_on_parlour_once_it_has_a_comment(page, parlour: str, blog: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    widget = page.locator("#parlour-comments")
    expect(widget.locator(".count")).to_have_text("Write the first comment")
    feed = widget.get_by_role("link", name="Comments feed")
    expect(feed).to_be_hidden()  # no thread yet, so no feed yet
    compose = widget.locator(".new form")
    compose.locator("textarea").fill("Worth following")
    compose.locator("button[type=submit]").click()
    expect(feed).to_be_visible()
    href = feed.get_attribute("href")
    assert href == f"{parlour}/feeds/blog.atom?thread=%2Fpost"  # absolute, on Parlour's origin
    assert feed.get_attribute("type") == "application/atom+xml"
    fetched = page.evaluate(
        "async (url) => { const r = await fetch(url); return [r.status, await r.text()]; }", href
    )
    assert fetched[0] == 200 and "Worth following" in fetched[1]  # readable from the blog's origin too
    page.goto(blog.replace("/post.html", "/dark.html"))  # in the page's language
    expect(widget.get_by_role("link", name="Feed der Kommentare")).to_have_attribute("href", href)


def shadow_focus(page: Any) -> str:
    """What has the keyboard focus inside the widget: tag and name/class."""
    result: str = page.evaluate(
        """() => { const a = document.getElementById('parlour-comments').shadowRoot.activeElement;
        return a ? `${a.tagName.toLowerCase()}.${a.getAttribute('name') || a.className}` : ''; }"""
    )
    return result


@pytest.mark.slow
def test_keyboard_alone_posts_replies_and_cancels_with_visible_focus(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    widget = page.locator("#parlour-comments")
    expect(widget.locator(".count")).to_have_text("Write the first comment")
    page.keyboard.press("Tab")
    assert shadow_focus(page) == "input.author_name"
    outline = page.evaluate(
        "() => getComputedStyle(document.getElementById('parlour-comments').shadowRoot.activeElement).outlineStyle"
    )
    assert outline == "solid"  # focus is visible
    page.keyboard.type("Kit")
    page.keyboard.press("Tab")
    assert shadow_focus(page) == "input.author_email"  # optional: no mail choice until typed
    page.keyboard.press("Tab")
    assert shadow_focus(page) == "textarea.body"
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Tab")
    assert shadow_focus(page) == "button."  # the Post button
    page.keyboard.press("Enter")
    comment = widget.locator("li.comment").first
    expect(comment.locator(".body")).to_have_text("Typed without a mouse")
    assert shadow_focus(page) == "li.comment target"  # the new comment, for screen readers too

    comment.locator("button.reply").focus()
    page.keyboard.press("Enter")
    assert shadow_focus(page) == "textarea.body"
    page.keyboard.type("Never mind")
    page.keyboard.press("Escape")
    expect(comment.locator("form")).to_have_count(0)
    assert shadow_focus(page) == "button.reply"
    page.keyboard.press("Enter")
    expect(comment.locator("form textarea")).to_have_value("Never mind")  # a cancelled draft is kept
    page.keyboard.press("Control+A")
    page.keyboard.type("A reply, sent with Ctrl+Enter")
    page.keyboard.press("Control+Enter")
    expect(comment.locator(".replies .body")).to_have_text("A reply, sent with Ctrl+Enter")


@pytest.mark.slow
def test_permalink_to_a_comment_on_a_later_page_scrolls_to_it_and_highlights_it(  # type: ignore[no-untyped-def]
    page, parlour: str, blog: str
) -> None:
    from playwright.sync_api import expect

    ids = [seed(parlour, blog, f"Comment number {n}")["id"] for n in range(56)]
    chain = ids[54]
    for n in range(3):
        chain = seed(parlour, blog, f"Deep reply {n}", parent_id=chain, author_name=f"R{n}")["id"]
    target = ids[53]
    page.goto(f"{blog}#comment-{target}")
    linked = page.locator(f"#comment-{target}")
    expect(linked).to_have_class(re.compile(r"\btarget\b"))  # (it may have arrived live too)
    expect(linked).to_be_in_viewport()
    page.goto(f"{blog}#comment-{chain}")
    expect(page.locator(f"#comment-{chain}")).to_have_class(re.compile(r"\btarget\b"))
    expect(page.locator(f"#comment-{chain}")).to_be_in_viewport()


@pytest.mark.slow
def test_a_mention_of_an_earlier_commenter_links_to_their_comment_and_highlights_it(  # type: ignore[no-untyped-def]
    page, parlour: str, blog: str
) -> None:
    from playwright.sync_api import expect

    ann = seed(parlour, blog, "Sow them in March.", author_name="Ann Marie")
    seed(parlour, blog, "Or in April.", author_name="Ann")
    seed(parlour, blog, "Tricky.", author_name="<b>Eve</b>")
    page.reload()
    widget = page.locator("#parlour-comments")
    compose = widget.locator(".new form")
    compose.locator("input[name=author_name]").fill("Bo")
    compose.locator("textarea").fill("I side with @Ann Marie, not @<b>Eve</b> or @Nobody.")
    compose.locator("button[type=submit]").click()
    mine = widget.locator("li.comment", has_text="I side with")
    link = mine.locator(".body a.mention").first
    expect(link).to_have_text("@Ann Marie")
    expect(mine.locator(".body a.mention")).to_have_count(2)
    expect(mine.locator(".body a.mention").nth(1)).to_have_text("@<b>Eve</b>")
    assert mine.locator(".body b").count() == 0
    link.click()
    expect(page.locator(f"#comment-{ann['id']}")).to_have_class("comment target")
    assert page.evaluate("location.hash") == f"#comment-{ann['id']}"


@pytest.mark.slow
def test_deep_replies_go_flat_with_replying_to_and_long_conversations_show_more(  # type: ignore[no-untyped-def]
    page, parlour: str, blog: str
) -> None:
    from playwright.sync_api import expect

    top = seed(parlour, blog, "Where it starts", author_name="Ada")["id"]
    chain = [top]
    for depth in range(1, 6):
        chain.append(
            seed(parlour, blog, f"Depth {depth}", parent_id=chain[-1], author_name=f"Depth{depth}")["id"]
        )
    busy = seed(parlour, blog, "A busy one", author_name="Bea")["id"]
    for n in range(52):
        seed(parlour, blog, f"Busy reply {n}", parent_id=busy)
    page.reload()
    depth3 = page.locator(f"#comment-{chain[3]}")
    depth5 = page.locator(f"#comment-{chain[5]}")
    expect(depth5).to_be_visible()
    # Depth 4 and 5 sit in the same list as depth 3, each saying whom it answers.
    same_list = depth5.evaluate(
        "(node, other) => node.parentNode === other.parentNode", depth3.element_handle()
    )
    assert same_list
    expect(depth5.locator(".to")).to_have_text("replying to Depth4")
    expect(page.locator(f"#comment-{chain[4]}").locator(".to")).to_have_text("replying to Depth3")
    expect(depth3.locator("header .to")).to_have_count(0)
    indent = depth5.evaluate("node => node.getBoundingClientRect().left")
    assert indent == depth3.evaluate("node => node.getBoundingClientRect().left")

    busy_li = page.locator(f"#comment-{busy}")
    expect(busy_li.locator(".replies > li.comment")).to_have_count(50)
    busy_li.locator("button.more-replies").click()
    expect(busy_li.locator(".replies > li.comment")).to_have_count(52)
    expect(busy_li.locator("button.more-replies")).to_have_count(0)


@pytest.mark.slow
def test_sort_switch_preview_and_errors_in_the_readers_language_keep_the_draft(  # type: ignore[no-untyped-def]
    page, parlour: str, blog: str
) -> None:
    from playwright.sync_api import expect

    first = seed(parlour, blog, "First")
    seed(parlour, blog, "Second")
    loved = seed(parlour, blog, "Third, and loved")
    reader = httpx.post(parlour + "/api/v1/readers").json()["reader_token"]
    httpx.put(f"{parlour}/api/v1/comments/{loved['id']}/heart", headers={"X-Parlour-Reader": reader})
    page.reload()
    widget = page.locator("#parlour-comments")
    thread = widget.locator(".thread > li.comment")
    expect(thread.first).to_contain_text("First")
    widget.locator(".sort select").select_option("newest")
    expect(thread.first).to_contain_text("Third, and loved")
    widget.locator(".sort select").select_option("top")
    expect(thread.first).to_contain_text("Third, and loved")
    expect(thread.nth(1)).to_contain_text("First")
    page.reload()
    expect(widget.locator(".sort select")).to_have_value("top")  # remembered
    assert first

    compose = widget.locator(".new form")
    compose.locator("textarea").fill("So **glad** <b>you</b> wrote")
    compose.locator("button.show-preview").click()
    expect(compose.locator(".preview strong")).to_have_text("glad")
    expect(compose.locator(".preview")).to_contain_text("<b>you</b>")

    page.goto(blog.replace("/post.html", "/night.html"))  # German
    compose = widget.locator(".new form")
    compose.locator("textarea").fill("x" * 10_001)
    compose.locator("button[type=submit]").click()
    expect(compose.locator(".error")).to_have_text("Dein Kommentar ist zu lang. Bitte kürze ihn.")
    page.reload()
    expect(widget.locator(".new textarea")).to_have_value("x" * 10_001)  # kept through the reload
    expect(widget.locator(".sort span")).to_have_text("Sortieren")
    expect(widget.locator("button.show-preview")).to_have_text("Vorschau")


@pytest.mark.slow
def test_new_comments_reach_another_open_page_in_place_marked_new(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, db_url: str, tmp_path: Path
) -> None:
    """Two readers on two Parlour processes sharing one database, as when scaled out."""
    from playwright.sync_api import expect

    with running_parlour(
        served_database(db_url, tmp_path), tmp_path / "second.log", secret="widget"
    ) as second:
        host_page(tmp_path / "blog", "other.html", second)
        writer = browser.new_context().new_page()
        reader = browser.new_context().new_page()
        reader.goto(blog)
        expect(reader.locator("#parlour-comments .count")).to_have_text("Write the first comment")
        writer.goto(blog.replace("/post.html", "/other.html"))
        compose = writer.locator("#parlour-comments .new form")
        compose.locator("textarea").fill("Hello from the other process")
        compose.locator("button[type=submit]").click()
        expect(writer.locator("#parlour-comments li.comment")).to_have_count(1)

        arrived = reader.locator("#parlour-comments li.comment.fresh")
        expect(arrived.locator(".body")).to_have_text("Hello from the other process", timeout=10_000)
        expect(arrived.locator(".fresh-mark")).to_have_text("New")
        expect(reader.locator("#parlour-comments .announce")).to_have_text(
            "1 new comment"
        )  # to screen readers
        expect(reader.locator("#parlour-comments .status")).to_be_hidden()  # no stale line below
        expect(reader.locator("#parlour-comments .count")).to_have_text("1 comment")
        expect(reader.locator("#parlour-comments button.live")).to_be_hidden()
        # The writer's own comment is not new to her, nor shown twice: once a later comment
        # by someone else arrives on her page, it is the only new one.
        seed(second, blog, "Someone else")
        expect(writer.locator("#parlour-comments li.comment.fresh .body")).to_have_text(
            "Someone else", timeout=10_000
        )
        expect(writer.locator("#parlour-comments li.comment")).to_have_count(2)
        expect(writer.locator("#parlour-comments .count")).to_have_text("2 comments")
        writer.context.close()  # its event stream ends with it


def axe_violations(page: Any, shadow: bool = True) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page, the widget's shadow root included."""
    import axe_playwright_python

    page.add_script_tag(path=str(Path(axe_playwright_python.__file__).parent / "axe.min.js"))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    # axe names an element inside a shadow root by a path of selectors: make sure it went in.
    assert not shadow or any(
        isinstance(node["target"][0], list) for rule in result["passes"] for node in rule["nodes"]
    )
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.slow
def test_axe_finds_no_serious_problem_in_light_dark_or_on_a_phone(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str
) -> None:
    from playwright.sync_api import expect

    top = seed(parlour, blog, "A question for **you**: [how](https://example.com)?", author_name="Ada")
    reply = seed(parlour, blog, "A reply", parent_id=top["id"])
    seed(parlour, blog, "Deeper", parent_id=reply["id"])
    for url, viewport in [
        (blog, {"width": 1280, "height": 900}),
        (blog.replace("/post.html", "/night.html"), {"width": 1280, "height": 900}),
        (blog, {"width": 360, "height": 740}),
    ]:
        page = browser.new_context(viewport=viewport).new_page()
        page.goto(url)
        expect(page.locator("#parlour-comments li.comment").first).to_be_visible()
        page.locator("#parlour-comments li.comment button.reply").first.click()  # forms open too
        assert axe_violations(page) == [], url


@pytest.mark.slow
def test_fits_a_360px_phone_and_follows_a_dark_page(browser, parlour: str, blog: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    parent = seed(parlour, blog, "Top " + "long words " * 30)["id"]
    for depth in range(6):
        parent = seed(parlour, blog, f"Reply {depth} " + "x" * 80, parent_id=parent)["id"]
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(blog)
    deepest = page.locator(f"#comment-{parent}")
    expect(deepest).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    box = deepest.locator(".body").bounding_box()
    assert box is not None and box["width"] >= 250  # still room to read at the deepest level
    assert page.locator("#parlour-comments .new textarea").bounding_box()["width"] <= 360  # type: ignore[index]
    theme = "el => el.shadowRoot.querySelector('section').dataset.theme"
    assert page.locator("#parlour-comments").evaluate(theme) == "light"
    page.emulate_media(color_scheme="dark")  # a dark system, but the page paints white
    page.reload()
    expect(deepest).to_be_visible()
    assert page.locator("#parlour-comments").evaluate(theme) == "light"
    page.goto(blog.replace("/post.html", "/night.html"))  # a dark page, no data-theme
    expect(page.locator("#parlour-comments li.comment").first).to_be_visible()
    assert page.locator("#parlour-comments").evaluate(theme) == "dark"
    page.evaluate("() => { document.body.style.background = '#fafafa'; }")
    page.wait_for_function(
        "() => document.getElementById('parlour-comments').shadowRoot.querySelector('section').dataset.theme === 'light'"
    )


@pytest.mark.slow
def test_no_cookies_are_set_or_sent_with_third_party_cookies_blocked(page, blog: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    sent: list[dict[str, str]] = []
    page.on("request", lambda request: sent.append(request.headers) if "/api/v1/" in request.url else None)
    page.reload()
    compose = page.locator("#parlour-comments .new form")
    compose.locator("textarea").fill("Works without cookies")
    compose.locator("button[type=submit]").click()
    comment = page.locator("#parlour-comments li.comment").first
    comment.locator("button.heart").click()
    expect(comment.locator("button.heart")).to_have_text("♥ 1")
    assert page.context.cookies() == []
    assert sent and all("cookie" not in headers for headers in sent)


def keep_screenshot(page: Any, name: str, tmp_path: Path, db_url: str, full_page: bool = False) -> Path:
    """Take a screenshot, check it is a real picture, and, with PARLOUR_UPDATE_SCREENSHOTS=1
    (on the SQLite run), keep it as docs/images/NAME for README and docs."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=full_page)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000, name
    width = page.viewport_size["width"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
    if os.environ.get("PARLOUR_UPDATE_SCREENSHOTS") == "1" and db_url.startswith("sqlite"):
        target = Path(__file__).parent.parent / "docs" / "images" / name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(shot, target)
    return shot


@pytest.mark.slow
def test_demo_page_shows_the_demo_thread_light_dark_and_on_a_phone_and_takes_the_screenshots(  # type: ignore[no-untyped-def]
    browser, parlour: str, db_url: str, tmp_path: Path
) -> None:
    """The page README points to right after `make run`. The widget's screenshots in README and
    docs/embedding.md are taken here: `PARLOUR_UPDATE_SCREENSHOTS=1 make pytest` refreshes
    docs/images/demo.png, demo-dark.png and demo-phone.png."""
    from playwright.sync_api import expect

    from parlour.services import demo

    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        loaded = demo.load_demo(ctx, [parlour])
    finally:
        ctx.close()
    looks = [
        ("demo.png", "light", {"viewport": {"width": 900, "height": 1100}}),
        ("demo-dark.png", "dark", {"viewport": {"width": 900, "height": 1100}, "color_scheme": "dark"}),
        ("demo-phone.png", "light", {"viewport": {"width": 360, "height": 780}, "is_mobile": True}),
    ]
    for name, theme, options in looks:
        # bypass_csp: for the axe script only.
        page = browser.new_context(device_scale_factor=1, bypass_csp=True, **options).new_page()
        page.goto(parlour + "/demo")
        widget = page.locator("#parlour-comments")
        expect(widget.locator(".count")).to_have_text(f"{loaded.comments} comments")
        expect(widget.locator(".badge").first).to_have_text("Author")
        expect(widget.locator("li.comment .pinned").first).to_have_text("Pinned")
        expect(widget.locator("li.comment .body").first).to_be_visible()
        expect(widget.locator(".new form textarea")).to_be_visible()
        assert widget.evaluate("(el) => el.shadowRoot.querySelector('section').dataset.theme") == theme, name
        # Parlour serves the demo itself, so its links are relative: never built from the Host header.
        assert '<noscript><a href="/comments.html?site=demo&amp;thread=/welcome">' in page.content()
        if name == "demo-phone.png":  # past the post, to the comments
            widget.locator(".count").evaluate("(el) => el.scrollIntoView()")
        else:
            page.evaluate("() => window.scrollTo(0, 0)")
        keep_screenshot(page, name, tmp_path, db_url)
        assert axe_violations(page) == [], name
        page.context.close()


@pytest.mark.slow
def test_held_comment_is_shown_to_its_author_only_until_approved(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from parlour.services import accounts, moderation

    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
        origin = blog.rsplit("/", 1)[0]
        form = {
            "name": "Blog",
            "writer_name": "Wren",
            "origins": origin,
            "moderation": "hold_all",
            "writer_heart": "1",
        }
        settings = moderation.read_settings(form)
        moderation.save_settings(ctx, owner, "blog", settings)

        author = browser.new_context().new_page()
        author.goto(blog)
        compose = author.locator("#parlour-comments .new form")
        compose.locator("textarea").fill("Please let this through")
        compose.locator("button[type=submit]").click()
        held = author.locator("#parlour-comments li.comment.held")
        note = "Your comment awaits review. Only you can see it until it is approved."
        expect(held.locator(".held-note")).to_have_text(note)
        expect(author.locator("#parlour-comments").get_by_text("awaits review")).to_have_count(1)  # said once
        # Nothing to reply to or heart before others can see it; hers to edit meanwhile.
        expect(held.locator("button.reply, button.heart")).to_have_count(0)
        expect(held.locator("button.edit")).to_be_visible()
        expect(author.locator("#parlour-comments .count")).to_have_text("0 comments")
        author.reload()
        expect(author.locator("#parlour-comments li.comment.held .body")).to_have_text(
            "Please let this through"
        )

        other = browser.new_context().new_page()
        other.goto(blog)
        expect(other.locator("#parlour-comments .count")).to_have_text("Write the first comment")
        expect(other.locator("#parlour-comments li.comment")).to_have_count(0)

        waiting = moderation.queue(ctx, owner)
        assert [h.html for h in waiting] == ["<p>Please let this through</p>\n"]
        moderation.decide(ctx, owner, [waiting[0].id], "approve")

        def counted() -> None:  # the server hears of the approval by a push
            answer = httpx.get(f"{parlour}/api/v1/counts", params={"site": "blog", "thread": "/post"})
            assert answer.json() == {"counts": {"/post": 1}}

        within(PUSH_WINDOW, counted)
        author.reload()
        expect(author.locator("#parlour-comments .count")).to_have_text("1 comment")
        expect(author.locator("#parlour-comments li.comment")).to_have_count(1)
        expect(author.locator("#parlour-comments li.comment.held")).to_have_count(0)
    finally:
        ctx.close()


@pytest.mark.slow
def test_writer_signed_in_to_the_desk_answers_hearts_pins_and_removes_in_the_widget(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, db_url: str, tmp_path: Path
) -> None:
    """Her desk session is a first-party cookie of Parlour's origin; the widget on her blog
    (another origin, third-party cookies blocked) gets a writer token through a popup."""
    from playwright.sync_api import expect

    from parlour.services import accounts, moderation

    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
    finally:
        ctx.close()
    thought = seed(parlour, blog, "A reader's thought", author_name="Ada")
    context = browser.new_context()
    desk = context.new_page()
    desk.goto(parlour.replace("127.0.0.1", "localhost") + "/desk/sign-in")
    desk.locator("form[action='/desk/sign-in']").get_by_label("Email").fill("wren@blog.example")
    desk.get_by_label("Password").fill("correct horse battery")
    desk.get_by_role("button", name="Sign in", exact=True).click()
    expect(desk.locator("h1")).to_contain_text("Inbox")

    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete this comment?"
    page.goto(blog.replace("post.html", "writer.html"))
    widget = page.locator("#parlour-comments")
    with page.expect_popup() as opened:
        widget.get_by_role("button", name="Are you the writer? Sign in").click()
    opened.value.wait_for_event("close")
    expect(widget.locator(".writer")).to_contain_text("You are signed in as the writer.")
    expect(widget.get_by_text("You are signed in as the writer.")).to_have_count(1)  # said once
    # The form she posts with needs no name or address, and no reader's sign-in is offered.
    expect(widget.locator(".new textarea")).to_be_visible()
    expect(widget.locator(".new input")).to_have_count(0)
    expect(widget.get_by_role("button", name="Sign in with your email")).to_have_count(0)

    comment = widget.locator(f"#comment-{thought['id']}")
    comment.get_by_role("button", name="Reply").click()
    reply_form = comment.locator("form")
    expect(reply_form.locator("input[name=author_name]")).to_have_count(0)
    reply_form.locator("textarea").fill("Thank you, Ada.")
    reply_form.locator("button[type=submit]").click()
    reply = comment.locator(".replies li.comment").first
    expect(reply.locator(".badge")).to_have_text("Author")
    expect(reply.locator(".name")).to_have_text("Wren")
    comment.locator("> article button.heart").click()
    expect(comment.locator("> article .liked")).to_be_visible()
    heart = comment.locator("> article button.heart")
    expect(heart).to_have_attribute("aria-pressed", "true")
    expect(heart).to_have_text("♥ 1")  # a filled heart counts hers, never 0
    comment.locator("> article button.pin").click()
    expect(comment.locator("> article button.pin")).to_have_attribute("aria-pressed", "true")

    # A locked thread: she may still answer, and is told first that readers may not.
    def lock(locked: bool) -> None:
        ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
        try:
            moderation.set_thread_locked(ctx, owner, "blog", "/post", locked)
        finally:
            ctx.close()

    lock(True)
    thread_says(parlour, "/post", locked=True)
    page.reload()
    expect(widget.locator(".new > *").first).to_have_text("This conversation is closed to new comments.")
    expect(widget.locator(".new form")).to_be_visible()
    expect(comment.get_by_role("button", name="Reply").first).to_be_visible()
    lock(False)
    thread_says(parlour, "/post", locked=False)

    other = seed(parlour, blog, "Something rude", author_name="Troll")
    page.reload()
    widget.locator(f"#comment-{other['id']} > article button.delete").click()
    expect(widget.locator(f"#comment-{other['id']} .removed")).to_be_visible()

    thread = httpx.get(parlour + "/api/v1/comments", params={"site": "blog", "thread": "/post"}).json()
    first = thread["comments"][0]
    assert first["id"] == thought["id"] and first["pinned"] and first["liked_by_writer"]
    assert first["replies"][0]["author"] == {
        "name": "Wren",
        "is_writer": True,
        "avatar_url": None,
        "verified": False,
    }
    assert all(c["domain"] in ("localhost",) for c in context.cookies())  # none on the blog's origin

    # Her token lives an hour; the open page trades it for a fresh one before it ends.
    first_token = page.evaluate("() => localStorage.getItem('parlour:blog:writer')")
    page.evaluate(
        "() => localStorage.setItem('parlour:blog:writer:expires', new Date(Date.now() + 4000).toISOString())"
    )
    page.reload()
    page.wait_for_function(
        "(old) => (localStorage.getItem('parlour:blog:writer') || old) !== old",
        arg=first_token,
        timeout=10_000,
    )
    fresh_token = page.evaluate("() => localStorage.getItem('parlour:blog:writer')")
    assert fresh_token.startswith("ws2.") and fresh_token != first_token
    # Signing out in the widget ends the sign-in on the server, not just in this browser.
    widget.get_by_role("button", name="Sign out as the writer").click()
    expect(widget.locator(".writer")).to_contain_text("Are you the writer? Sign in")
    expect(widget.locator(".new input[name=author_name]")).to_be_visible()  # a reader's form again
    ended = httpx.post(parlour + "/api/v1/writer-token", headers={"Authorization": f"Bearer {fresh_token}"})
    assert ended.status_code == 401 and ended.json()["error"]["code"] == "invalid_token"
    with page.expect_popup() as opened:
        widget.get_by_role("button", name="Are you the writer? Sign in").click()
    opened.value.wait_for_event("close")
    expect(widget.locator(".writer")).to_contain_text("You are signed in as the writer.")

    desk.get_by_role("button", name="Sign out everywhere").click()
    expect(desk.locator("h1"), desk.locator("main").inner_text()).to_have_text("Sign in")
    page.reload()
    widget.locator(f"#comment-{thought['id']} > article button.heart").click()
    expect(widget.locator(".writer")).to_contain_text("Are you the writer? Sign in")


@pytest.mark.slow
def test_a_reply_chain_five_thousand_deep_renders_and_its_deepest_permalink_works(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from parlour.domain.model import Status
    from parlour.services import lifecycle
    from parlour.store import sites as site_store
    from parlour.store import threads as thread_store

    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        with ctx.db.write() as tx:
            site = site_store.get_site(tx, "blog")
            assert site is not None
            thread = thread_store.get_or_create_thread(tx, "blog", "/post", "A post", None, ctx.now())
            parent = None
            for depth in range(5001):
                author = lifecycle.Author(key=f"a:{depth}", ip_hash="ip", name=f"Level{depth}")
                text = lifecycle.Text(f"Depth {depth}", f"<p>Depth {depth}</p>")
                parent = lifecycle.create(tx, site, thread, parent, author, text, Status.PUBLISHED, ctx.now())
            assert parent is not None
            deepest = parent.id
    finally:
        ctx.close()
    errors: list[str] = []
    page = browser.new_context().new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{blog}#comment-{deepest}")
    target = page.locator(f"#comment-{deepest}")
    expect(target).to_have_class("comment target", timeout=30_000)
    expect(target).to_be_in_viewport()
    expect(target.locator(".to")).to_have_text("replying to Level4999")
    assert errors == []
    nojs = page.context.new_page()
    nojs.goto(f"{parlour}/comments.html?site=blog&thread=/post")
    expect(nojs.locator("#comment-1")).to_contain_text("Depth 0")


FIND_SCRIPT_SURFACES = """() => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      for (const attr of el.attributes) {
        const name = attr.name.toLowerCase();
        const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
        if (name.startsWith('on')) found.push(`${el.tagName} ${name}`);
        if (/^(javascript|vbscript|data:text\\/html)/.test(value)) found.push(`${el.tagName} ${name}=${value.slice(0, 40)}`);
      }
      if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'BASE', 'META', 'FORM'].includes(el.tagName) && el.closest('.body')) {
        found.push(`<${el.tagName}> inside a comment`);
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return {found, pwned: window.__pwned === 1};
}"""


@pytest.mark.slow
def test_a_hostile_corpus_runs_no_script_in_the_widget_the_no_js_page_or_the_desk(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, db_url: str, tmp_path: Path
) -> None:
    """Over 150 hostile inputs from the classes of public XSS cheat sheets, as bodies and
    names, rendered by the widget (another origin), /comments.html and the desk pages."""
    from playwright.sync_api import expect

    from parlour.services import accounts
    from xss_corpus import corpus

    inputs = corpus()
    assert len(inputs) >= 150
    tops: list[int] = []
    posted = 0
    for i, payload in enumerate(inputs):
        fields: dict[str, Any] = {"author_name": payload if len(payload) <= 80 else f"Reader {i}"}
        if len(tops) >= 40:
            fields["parent_id"] = tops[i % 40]
        origin = blog.rsplit("/", 1)[0]
        answer = httpx.post(
            parlour + "/api/v1/comments",
            json={"site": "blog", "thread": "/post", "body": payload, **fields},
            headers={"Origin": origin},
        )
        if answer.status_code == 422:  # refused outright (a NUL, say): nothing to show
            continue
        assert answer.status_code == 201, answer.text
        posted += 1
        if "parent_id" not in fields:
            tops.append(answer.json()["comment"]["id"])
    assert posted >= 150
    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
    finally:
        ctx.close()

    dialogs: list[str] = []
    context = browser.new_context()
    context.on("page", lambda p: p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss())))
    page = context.new_page()
    page.goto(blog)
    expect(page.locator("#parlour-comments li.comment").first).to_be_visible()
    expect(page.locator("#parlour-comments li.comment")).to_have_count(posted, timeout=20_000)
    for item in page.locator("#parlour-comments li.comment .body").all()[:40]:
        item.hover()  # mouse-over handlers, if any got through
    pages = [
        f"{parlour}/comments.html?site=blog&thread=/post",
        f"{parlour}/comments.html?site=blog&thread=/post&limit=200",
    ]
    desk = context.new_page()
    desk.goto(parlour.replace("127.0.0.1", "localhost") + "/desk/sign-in")
    desk.locator("form[action='/desk/sign-in']").get_by_label("Email").fill("wren@blog.example")
    desk.get_by_label("Password").fill("correct horse battery")
    desk.get_by_role("button", name="Sign in", exact=True).click()
    expect(desk.locator("h1")).to_contain_text("Inbox")
    base = parlour.replace("127.0.0.1", "localhost")
    pages += [
        f"{base}/desk/inbox",
        f"{base}/desk/search?q=script",
        f"{base}/desk/search?q=img",
        f"{base}/desk/posts",
    ]
    checked = [page]
    for url in pages:
        other = desk if "/desk/" in url else context.new_page()
        other.goto(url)
        other.wait_for_load_state("load")
        result = other.evaluate(FIND_SCRIPT_SURFACES)
        assert result == {"found": [], "pwned": False}, url
        checked.append(other)
    result = page.evaluate(FIND_SCRIPT_SURFACES)
    assert result == {"found": [], "pwned": False}
    assert dialogs == []


@pytest.mark.slow
def test_a_reader_asks_for_replies_in_the_widget_confirms_by_mail_and_hears_of_the_answer(
    db_url: str, tmp_path: Path, smtp: tuple[Any, int]
) -> None:
    from playwright.sync_api import expect

    server, port = smtp
    database = served_database(db_url, tmp_path)
    env = {"PARLOUR_SMTP_URL": f"smtp://127.0.0.1:{port}", "PARLOUR_MAIL_FROM": "Blog <mail@blog.example>"}
    with (
        running_parlour(
            database, tmp_path / "serve.log", secret="widget", env=env, public_host="127.0.0.1"
        ) as base,
        serve_blog(base, db_url, tmp_path) as post_url,
        chromium() as browser,
    ):
        page = browser.new_context().new_page()
        page.goto(post_url)
        compose = page.locator("#parlour-comments .new form")
        choice = compose.locator("fieldset.notify")
        expect(choice).to_be_hidden()  # nothing to choose before an address is typed
        compose.locator("input[name=author_email]").fill("ada@example.org")
        expect(choice).to_be_visible()
        compose.get_by_label("Email me replies").check()
        compose.locator("textarea").fill("Where do I begin?")
        compose.locator("button[type=submit]").click()
        expect(page.locator("#parlour-comments .status")).to_contain_text("open the link we just sent")
        comment = page.locator("#parlour-comments li.comment").first
        expect(comment).to_contain_text("Where do I begin?")
        assert "ada@example.org" not in comment.inner_text()

        def mail(count: int) -> Any:
            assert len(server.received) >= count
            return server.received[count - 1]

        confirmation = within(20, lambda: mail(1))
        link = next(
            line
            for line in confirmation.get_body(("plain",)).get_content().split()
            if "/mail/confirm" in line
        )
        confirm_page = browser.new_context().new_page()
        confirm_page.goto(link)
        confirm_page.get_by_role("button", name="Confirm my address").click()
        expect(confirm_page.get_by_role("status")).to_contain_text("is confirmed")

        comment_id = int(comment.get_attribute("id").removeprefix("comment-"))
        seed(base, post_url, "Start small.", parent_id=comment_id, author_name="Bo")
        reply = within(20, lambda: mail(2))
        assert reply["To"] == "ada@example.org" and reply["Subject"] == "Bo replied to you on “A post”"
        page.reload()  # the address and the choice are remembered in this browser
        expect(compose.locator("input[name=author_email]")).to_have_value("ada@example.org")
        expect(compose.get_by_label("Email me replies")).to_be_checked()
        assert axe_violations(page) == []


@pytest.mark.slow
def test_members_only_comments_with_single_sign_on_from_the_writers_site(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, db_url: str, tmp_path: Path
) -> None:
    import time as clock

    import jwt
    from playwright.sync_api import expect

    from parlour.services import sso

    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        secret = sso.sso_secret(ctx, "blog")
        sso.set_who_may_comment(ctx, "blog", "members")
    finally:
        ctx.close()
    claims = {"sub": "m-1", "name": "Ada Lovelace", "exp": int(clock.time()) + 3600, "tier": "free"}
    signed = jwt.encode(claims, secret.encode(), algorithm="HS256")
    root = tmp_path / "blog"
    host_page(root, "member.html", parlour, f'data-sso="{signed}" data-sign-in="/login"')
    host_page(root, "guest.html", parlour, 'data-sign-in="/login"')
    seed_url = blog.rsplit("/", 1)[0]

    guest = browser.new_context().new_page()
    guest.goto(seed_url + "/guest.html")
    widget = guest.locator("#parlour-comments")
    gate = widget.locator(".new .gate")
    expect(gate).to_contain_text("Only members can comment here.")
    expect(gate.get_by_role("link", name="Sign in")).to_have_attribute("href", seed_url + "/login")
    expect(widget.locator(".new form")).to_be_hidden()
    assert axe_violations(guest) == []

    member = browser.new_context().new_page()
    member.goto(seed_url + "/member.html")
    compose = member.locator("#parlour-comments .new form")
    expect(compose.locator(".as")).to_have_text("Commenting as Ada Lovelace")
    expect(compose.locator("input[name=author_name]")).to_have_count(0)
    compose.locator("textarea").fill("A member's first word")
    compose.locator("button[type=submit]").click()
    mine = member.locator("#parlour-comments li.comment").first
    expect(mine.locator(".name")).to_have_text("Ada Lovelace")
    expect(mine.locator(".verified")).to_contain_text("Signed in")

    # A page that signs its reader in later hands the token over with one call.
    guest.reload()
    expect(widget.locator("button.reply")).to_be_hidden()
    guest.evaluate(
        "(token) => window.parlour.sso(token)",
        jwt.encode({**claims, "sub": "m-2", "name": "Bo"}, secret.encode(), algorithm="HS256"),
    )
    expect(gate).to_have_count(0)
    expect(widget.locator("button.reply").first).to_be_visible()
    widget.locator(".new textarea").fill("Signed in just now")
    widget.locator(".new button[type=submit]").click()
    expect(widget.locator("li.comment .body", has_text="Signed in just now")).to_be_visible()


@pytest.mark.slow
def test_a_reader_signs_in_from_the_widget_by_email_link_in_a_popup(  # type: ignore[no-untyped-def]
    db_url: str, tmp_path: Path
) -> None:

    from playwright.sync_api import expect

    from factories import mail_bodies

    database = served_database(db_url, tmp_path)
    # Parlour at `localhost` (a secure context, like https) for the popup's Secure cookie.
    with (
        running_parlour(database, tmp_path / "serve.log", secret="widget", public_host="localhost") as base,
        serve_blog(base.replace("127.0.0.1", "localhost"), db_url, tmp_path) as post_url,
        chromium() as browser,
    ):
        context = browser.new_context()
        page = context.new_page()
        page.goto(post_url)
        widget = page.locator("#parlour-comments")
        with page.expect_popup() as opened:
            widget.get_by_role("button", name="Sign in with your email").click()
        popup = opened.value
        popup.get_by_label("Your email address").fill("ada@example.org")
        popup.get_by_label("Your name, as readers will see it (the first time)").fill("Ada")
        popup.get_by_role("button", name="Email me a link").click()
        expect(popup.get_by_role("heading", name="Check your email")).to_be_visible()

        ctx = open_context(Settings(database=database, secret="widget"))
        try:

            def link() -> str:
                bodies = mail_bodies(ctx, "ada@example.org")
                found = re.search(
                    r"http://localhost:\d+/readers/sign-in/link\?token=[\w-]+", " ".join(bodies)
                )
                assert found
                return found.group(0)

            url = within(15, link)
        finally:
            ctx.close()
        mail_tab = context.new_page()  # the link, opened from the mail, in the same browser
        mail_tab.goto(url)
        mail_tab.get_by_role("button", name="Sign me in").click()
        expect(mail_tab.get_by_role("status")).to_contain_text("the comments there know you now")
        expect(widget.locator(".reader")).to_contain_text("Signed in as Ada", timeout=15_000)
        # The popup closes itself once it handed the session over (maybe already has):
        # wait in the browser's time, so that its events are seen.
        for _ in range(150):
            if popup.is_closed():
                break
            page.wait_for_timeout(100)
        assert popup.is_closed()

        compose = widget.locator(".new form")
        expect(compose.locator(".as")).to_have_text("Commenting as Ada")
        compose.locator("textarea").fill("Signed in by email")
        compose.locator("button[type=submit]").click()
        mine = widget.locator("li.comment").first
        expect(mine.locator(".verified")).to_contain_text("Signed in")

        # Another device: the same account, no edit token, still their comment to change.
        other = browser.new_context().new_page()
        other.goto(post_url)
        token = page.evaluate("() => localStorage.getItem('parlour:blog:account')")
        other.evaluate("(t) => { localStorage.setItem('parlour:blog:account', t); }", token)
        other.reload()
        expect(other.locator("#parlour-comments li.comment button.edit").first).to_be_visible()
        assert axe_violations(page) == []


def thread_says(parlour: str, key: str, **expected: Any) -> None:
    """Wait until the served thread (cached per process, told of writes by a push) says so."""

    def check() -> None:
        thread = httpx.get(f"{parlour}/api/v1/comments", params={"site": "blog", "thread": key}).json()[
            "thread"
        ]
        assert all(bool(thread[name]) == value for name, value in expected.items()), thread

    within(PUSH_WINDOW, check)


LIST_STYLES = """(node) => [...node.querySelectorAll('ol, ul')].map((list) => [
  list.tagName, getComputedStyle(list).listStyleType,
  [...list.children].map((item) => getComputedStyle(item).display).join(','),
])"""


@pytest.mark.slow
def test_numbered_lists_keep_their_numbers_and_the_section_takes_the_pages_font(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    host_page(tmp_path / "blog", "serif.html", parlour, style="font: 19px/1.7 Georgia, serif")
    host_page(
        tmp_path / "blog",
        "themed.html",
        parlour,
        style="font: 19px Georgia, serif; --parlour-font: 15px/1.4 monospace",
    )
    list_body = "Three tries:\n\n1. Fleece\n2. Straw\n3. Nothing\n\nAnd:\n\n- one\n- two"
    seed(parlour, blog, list_body, author_name="Ada")
    page = browser.new_context().new_page()
    page.goto(blog.replace("/post.html", "/serif.html"))
    widget = page.locator("#parlour-comments")
    posted = widget.locator("li.comment .body").first
    expect(posted.locator("ol > li")).to_have_count(3)
    numbered = [["OL", "decimal", "list-item,list-item,list-item"], ["UL", "disc", "list-item,list-item"]]
    assert posted.evaluate(LIST_STYLES) == numbered
    compose = widget.locator(".new form")
    compose.locator("textarea").fill(list_body)
    compose.locator("button.show-preview").click()
    expect(compose.locator(".preview ol > li")).to_have_count(3)
    assert compose.locator(".preview").evaluate(LIST_STYLES) == numbered
    font = "(node) => [getComputedStyle(node).fontFamily, getComputedStyle(node).fontSize]"
    assert posted.evaluate(font) == ["Georgia, serif", "19px"]  # the blog's, not a sans-serif
    assert compose.locator("textarea").evaluate(font)[0] == "Georgia, serif"
    page.goto(blog.replace("/post.html", "/themed.html"))  # unless she asks for another
    expect(posted).to_be_visible()
    assert posted.evaluate(font) == ["monospace", "15px"]

    page.goto(f"{parlour}/comments.html?site=blog&thread=/post")  # the page without JavaScript
    assert page.locator("#comment-1 .body").evaluate(LIST_STYLES) == numbered


@pytest.mark.slow
def test_a_blog_whose_origin_is_not_allowed_tells_the_writer_how_and_readers_calmly(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str
) -> None:
    from playwright.sync_api import expect

    seed(parlour, blog, "Only for the allowed origin")
    stranger = blog.replace("127.0.0.1", "localhost")  # the same pages, an origin no site lists
    origin = stranger.rsplit("/", 1)[0]
    page = browser.new_context().new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    for returning in (False, True):  # a returning reader's read carries headers: a preflight
        if returning:
            page.evaluate("() => localStorage.setItem('parlour:blog:reader', 'r1.from-before')")
        console.clear()
        page.goto(stranger)
        widget = page.locator("#parlour-comments")
        expect(widget.locator(".status")).to_have_text("Comments are not available on this page.")
        for part in [".count", ".sort", ".new", ".thread", ".writer", ".reader"]:
            expect(widget.locator(part)).to_be_hidden()  # nothing half-drawn
        hints = [text for text in console if text.startswith("Parlour:")]
        assert len(hints) == 1, console
        assert origin in hints[0] and f"parlour site set blog --origin {origin}" in hints[0]
        assert "Only for the allowed origin" not in page.content()
        assert axe_violations(page, shadow=False) == []


@pytest.mark.slow
def test_a_locked_or_closed_thread_says_it_is_closed_once_and_offers_no_reply(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str, db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from parlour.services import accounts, lifecycle, moderation
    from parlour.store import sites as site_store
    from parlour.store import threads as thread_store

    top = seed(parlour, blog, "Before the lock", author_name="Ada")
    seed(parlour, blog, "A reply before it", parent_id=top["id"])
    page = browser.new_context().new_page()
    page.goto(blog)
    widget = page.locator("#parlour-comments")
    expect(widget.locator("button.reply:visible")).to_have_count(2)
    closed = widget.get_by_text("This conversation is closed to new comments.")

    ctx = open_context(Settings(database=served_database(db_url, tmp_path), secret="widget"))
    try:
        owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
        moderation.set_thread_locked(ctx, owner, "blog", "/post", True)  # while the page is open
        widget.locator(".new textarea").fill("Too late")
        widget.locator(".new button[type=submit]").click()
        expect(closed).to_have_count(1)
        expect(widget.locator("button.reply:visible")).to_have_count(0)

        two_days_ago = ctx.now() - 2 * 86_400_000  # a thread the site's close_after_days has closed
        with ctx.db.write() as tx:
            site = site_store.get_site(tx, "blog")
            assert site is not None
            old = thread_store.get_or_create_thread(tx, "blog", "/old", "Old", None, two_days_ago)
            author = lifecycle.Author(key="a:old", ip_hash="ip", name="Bea")
            text = lifecycle.Text("From two days ago", "<p>From two days ago</p>")
            lifecycle.create(tx, site, old, None, author, text, Status.PUBLISHED, two_days_ago)
        form = {"name": "Blog", "writer_name": "Wren", "origins": blog.rsplit("/", 1)[0]}
        form |= {"moderation": "publish", "close_after_days": "1", "writer_heart": "1"}
        moderation.save_settings(ctx, owner, "blog", moderation.read_settings(form))
    finally:
        ctx.close()
    thread_says(parlour, "/post", locked=True)
    thread_says(parlour, "/old", closes_at=True)
    root = tmp_path / "blog"
    (root / "old.html").write_text((root / "post.html").read_text().replace('"/post"', '"/old"'))
    for url in [blog, blog.replace("/post.html", "/old.html")]:
        page.goto(url)
        expect(widget.locator("li.comment").first).to_be_visible()
        expect(closed).to_have_count(1)
        expect(closed).to_be_visible()
        expect(widget.locator("button.reply:visible")).to_have_count(0)
        expect(widget.locator(".new form")).to_be_hidden()


@pytest.mark.slow
def test_a_live_reply_in_a_long_thread_appears_in_place_without_moving_what_she_reads(  # type: ignore[no-untyped-def]
    browser, parlour: str, blog: str
) -> None:
    from playwright.sync_api import expect

    ids = [seed(parlour, blog, f"Thought {n}. " + "A long line of words. " * 12)["id"] for n in range(30)]
    page = browser.new_context(viewport={"width": 900, "height": 700}).new_page()
    page.goto(blog)
    widget = page.locator("#parlour-comments")
    reading = widget.locator(f"#comment-{ids[15]}")
    reading.evaluate("(node) => node.scrollIntoView()")  # she reads Thought 15
    top = "(node) => node.querySelector('article').getBoundingClientRect().top"
    where = reading.evaluate(top)

    seed(parlour, blog, "An answer far above", parent_id=ids[2])
    seed(parlour, blog, "An answer to what she reads", parent_id=ids[15])
    answer = reading.locator(".replies > li.comment")
    expect(answer.locator(".body")).to_have_text("An answer to what she reads", timeout=10_000)
    expect(widget.locator(f"#comment-{ids[2]} .replies .body")).to_have_text("An answer far above")
    expect(answer).to_have_class("comment fresh")
    expect(answer.locator(".fresh-mark")).to_have_text("New")
    expect(answer).to_be_in_viewport()
    assert abs(reading.evaluate(top) - where) < 1  # the page did not move under her
    expect(widget.locator(".count")).to_have_text("32 comments")
    expect(widget.locator("button.live")).to_be_hidden()

    # A new comment that belongs above her (newest first): the notice is where she is.
    widget.locator(".sort select").select_option("newest")
    expect(widget.locator(".thread > li.comment").first).to_contain_text("Thought 29")
    reading.evaluate("(node) => node.scrollIntoView()")
    seed(parlour, blog, "A newer thought")
    live = widget.locator("button.live")
    expect(live).to_have_text("1 new comment", timeout=10_000)
    expect(live).to_be_in_viewport()
    live.click()
    expect(widget.locator(".thread > li.comment").first).to_contain_text("A newer thought")


@pytest.mark.slow
def test_an_empty_thread_invites_the_first_comment_without_a_count_or_a_sort_box(page, blog: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    widget = page.locator("#parlour-comments")
    expect(widget.locator(".count")).to_have_text("Write the first comment")
    expect(widget.locator(".new form")).to_be_visible()
    expect(widget.locator(".sort")).to_be_hidden()
    expect(widget.get_by_text("0 comments")).to_have_count(0)
    assert axe_violations(page) == []
    for n, text in enumerate(["The first", "The second"], start=1):
        widget.locator(".new textarea").fill(text)
        widget.locator(".new button[type=submit]").click()
        expect(widget.locator(".count")).to_have_text(f"{n} comment" + ("s" if n > 1 else ""))
    expect(widget.locator(".sort")).to_be_visible()  # two comments can be sorted


@pytest.mark.slow
def test_her_own_comment_arriving_live_before_the_posts_answer_is_still_hers_to_edit(
    page, parlour: str, blog: str
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    widget = page.locator("#parlour-comments")
    seed(parlour, blog, "Someone else first")
    expect(widget.locator("li.comment.fresh")).to_have_count(1, timeout=10_000)  # the stream is open
    shown = """() => [...document.getElementById('parlour-comments').shadowRoot
        .querySelectorAll('li.comment .body')].some((b) => b.textContent.trim() === 'Mine')"""

    held: list[Any] = []

    def hold_the_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        held.append((route, route.fetch()))  # posted; the answer waits

    page.route("**/api/v1/comments", hold_the_answer)
    widget.locator(".new textarea").fill("Mine")
    widget.locator(".new button[type=submit]").click()
    page.wait_for_function(shown)  # the stream brought it first
    route, answer = held[0]
    route.fulfill(response=answer)
    expect(widget.locator(".new textarea")).to_have_value("")
    mine = widget.locator("li.comment", has_text="Mine")
    expect(mine).to_have_count(1)
    expect(mine.locator("button.edit")).to_be_visible()
    expect(mine).not_to_have_class("comment fresh")
    expect(widget.locator(".count")).to_have_text("2 comments")
