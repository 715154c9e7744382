"""The phone check: every page of the writer's desk, at 360 px wide, full of real content
(long titles, long names, a hundred of everything), fits the screen: no sideways scroll,
and no element reaches past its edge. The pages come from the route table, so a new desk
page is checked as soon as it exists (and fails here until it is given an address)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from starlette.routing import Route

from parlour.domain.model import Moderation
from parlour.services import accounts, moderation, sites, webhooks
from parlour.services.context import open_context
from parlour.settings import Settings
from parlour.store import outbox
from parlour.store import sites as site_store
from parlour.web.routes import routes
from servers import chromium, free_port, running_parlour
from test_widget import pytestmark  # noqa: F401  (skip without Chromium)

BLOG = "https://a-rather-long-subdomain-for-the-journal.blog.example"
SITE = "an-uncommonly-long-site-identifier-for-a-garden-journal-2026"  # 61 of at most 64
OWNER = "wren.who.writes.about.the.garden.in.every.weather@a-long-mail-domain.example"
PASSWORD = "correct horse battery"
WIDTH = 360

# Titles and names as people write them, and as they break layouts: long words without a
# space, long phrases, and markup that must stay text.
TITLES = [
    "A Very Long Post Title About Overwintering Tender Perennials, Dahlias, Cannas and Other Frost-Shy Friends",
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    '<b>Why</b> the compost heap is the heart of the garden & other "truths" — ' + "x" * 90,
]
NAMES = [
    "Bartholomew Featherstonehaugh-Cholmondeley of the Lesser Allotments",
    "Q" * 72,
    '<script>Ada</script> "the gardener" & friends',
]


def desk_pages() -> list[str]:
    """Every page of the desk a person opens (GET), from the one route table."""
    found = {
        route.path
        for route in routes()
        if isinstance(route, Route)
        and route.path.startswith("/desk")
        and not route.path.startswith("/desk/assets/")
        and "GET" in (route.methods or ())
    }
    return sorted(found)


@dataclass
class Desk:
    """A served desk full of content, with where each page's example lives."""

    base: str
    state: dict[str, Any]
    addresses: dict[str, str] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)  # the setup page, measured before setup


def overflow(page: Any) -> dict[str, Any]:
    """The document's width, and the elements whose box reaches past the viewport (or is
    cut off by an ancestor that hides what overflows), unless inside a scrolling region."""
    return dict(
        page.evaluate(
            """() => {
      const width = document.documentElement.clientWidth;
      const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
      const out = [];
      for (const el of document.body.querySelectorAll("*")) {
        if (el.closest(".skip")) continue;  // the skip link waits off screen until focused
        const style = getComputedStyle(el);
        if (style.display === "none" || style.visibility === "hidden") continue;
        const box = el.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;
        let scrolls = false, cut = null;  // scrolls: reachable, or hidden on purpose
        for (let up = el.parentElement; up && up !== document.documentElement; up = up.parentElement) {
          const x = getComputedStyle(up).overflowX;
          if (x === "auto" || x === "scroll") { scrolls = true; break; }
          if (x === "hidden" || x === "clip") {
            const outer = up.getBoundingClientRect();
            if (outer.width <= 1 && outer.height <= 1) { scrolls = true; break; }  // for screen readers only
            if (box.right > outer.right + 1 || box.left < outer.left - 1) cut = up;
            break;
          }
        }
        if (scrolls) continue;
        if (box.right > width + 1 || box.left < -1) out.push(name(el) + " spans " + Math.round(box.left) + ".." + Math.round(box.right));
        else if (cut) out.push(name(el) + " is cut off by " + name(cut));
      }
      return {scrollWidth: document.documentElement.scrollWidth, width, overflowing: out.slice(0, 8)};
    }"""
        )
    )


def phone(browser: Any, state: dict[str, Any] | None = None) -> Any:
    return browser.new_context(
        viewport={"width": WIDTH, "height": 740}, is_mobile=True, storage_state=state
    ).new_page()


def fill(base: str, database: str) -> dict[str, str]:
    """A hundred of everything on one site, as the owner: comments waiting for a reply,
    held comments, posts, blocks (and their audit lines), failed mail, widget sign-ins, a
    failing webhook. Returns the example addresses of the pages that need one."""
    ctx = open_context(Settings(database=database, secret="phone"))
    try:
        owner = accounts.sign_in(ctx, OWNER, PASSWORD, "phone-test")
        # A webhook whose receiver is down: the site's page lists failed deliveries.
        webhooks.add(ctx, SITE, f"http://127.0.0.1:{free_port()}/{'a/rather/long/path/' * 6}receiver")
        with httpx.Client(base_url=base, headers={"Origin": BLOG}) as api:
            reader = api.post("/api/v1/readers").json()["reader_token"]

            def comment(i: int) -> dict[str, Any]:
                response = api.post(
                    "/api/v1/comments",
                    headers={"X-Parlour-Reader": reader} if i % 2 else {},
                    json={
                        "site": SITE, "thread": f"/2026/{i:03d}/{'a-long-path-segment-' * 4}{i}/",
                        "title": f"{TITLES[i % 3]} ({i})", "author_name": f"{NAMES[i % 3]} {i}",
                        "author_email": f"reader.number.{i}.with.a.long.address@{'long' * 8}.example",
                        "body": f"Comment {i}: does the {'everlasting' * 8} rosemary need "
                        + ("a cold frame? " if i > 100 else "more sun? ")
                        + "A question with a link: https://example.org/" + "path/" * 20,
                    },
                )  # fmt: skip
                assert response.status_code == 201, response.text
                return dict(response.json()["comment"])

            for i in range(1, 201):
                assert comment(i)["held"] == (i > 100)  # the held word (full_desk)
        for i in range(100):
            moderation.block(
                ctx, owner, SITE, "email", f"troublemaker.{i}.{'x' * 40}@example.com", "Kept " + "on " * 30, 7
            )
        with ctx.db.write() as tx:
            for i in range(100):
                message = outbox.enqueue(
                    tx, f"someone.{i}.{'y' * 50}@example.org", "New comment: " + TITLES[i % 3], "Hello",
                    ctx.now(), f"<phone.{i}@parlour>",
                )  # fmt: skip
                outbox.mark_failed_for_good(
                    tx, message, "550 5.1.1 " + "No such mailbox here " * 8, ctx.now()
                )
        for _ in range(3):
            accounts.widget_token(ctx, owner, SITE, BLOG)
    finally:
        ctx.close()
    return {
        "/desk/sites/{site_id}": f"/desk/sites/{SITE}",
        "/desk/sites/{site_id}/import": f"/desk/sites/{SITE}/import",
        "/desk/search": "/desk/search?q=rosemary",
        "/desk/widget": f"/desk/widget?site={SITE}&origin={BLOG}",
        "/desk/sign-in/link": "/desk/sign-in/link?token=" + "t" * 43,
    }


@contextmanager
def served_full_desk(database: str, tmp: Path, browser: Any) -> Iterator[Desk]:
    """`parlour serve` on `database`, set up through its pages on a phone, full of content."""
    from playwright.sync_api import expect

    with running_parlour(database, tmp / "serve.log", secret="phone", public_host="localhost") as served:
        base = served.replace("127.0.0.1", "localhost")  # a secure context, as https would be
        ctx = open_context(Settings(database=database, secret="phone"))
        try:
            sites.create_site(ctx, SITE, "The Long Afternoon: Notes on Gardening Through " + "Weather " * 12,
                              "Wren " + "W" * 60, [BLOG])  # fmt: skip
            with ctx.db.write() as tx:  # before the server first reads the site
                site_store.update_moderation(
                    tx, SITE, moderation=Moderation.PUBLISH, held_words=("cold frame",), rejected_words=(),
                    max_links=None, close_after_days=None, edit_window=None, writer_heart=True,
                    writer_avatar=None,
                )  # fmt: skip
            code = accounts.setup_code(ctx)
        finally:
            ctx.close()
        page = phone(browser)
        page.goto(base + "/desk/setup")
        page.get_by_label("Setup code").fill("not the code")
        page.get_by_label("Email").fill(OWNER)
        page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
        page.get_by_role("button", name="Create the owner's account").click()
        expect(page.locator("[data-code=wrong_setup_code]")).to_be_visible()
        setup = overflow(page)
        page.get_by_label("Setup code").fill(code)
        page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
        page.get_by_role("button", name="Create the owner's account").click()
        expect(page.locator("h1")).to_contain_text("Inbox")
        state = page.context.storage_state()
        addresses = fill(base, database)
        page.goto(base + "/desk/search?q=rosemary")
        # The reader with a reader identity, who wrote every odd comment: a hundred of them.
        reader = page.get_by_role("link", name=re.compile(" 199$")).get_attribute("href")
        addresses["/desk/readers"] = str(reader)
        page.goto(base + f"/desk/sites/{SITE}/import")
        page.get_by_label("Format").select_option("paste")
        page.get_by_label("Or, for a comment section copied from a page, paste it here").fill(
            "\n".join(f"{NAMES[i % 3]}\n{TITLES[i % 3]}\nReply" for i in range(100))
        )
        page.get_by_label(re.compile("The thread's key")).fill("/" + "pasted-" * 20)
        page.get_by_role("button", name="Import").click()
        expect(page).to_have_url(re.compile(r"/desk/imports/\d+$"))
        addresses["/desk/imports/{import_id}"] = page.url.removeprefix(base)
        page.context.close()
        yield Desk(base, state, addresses, setup)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def full_desk(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    worker_id: str,
    testrun_uid: str,
    browser: Any,
) -> Iterator[Desk]:
    """One served desk per database for the whole module, set up through its pages."""
    from conftest import create_pg_database, drop_pg_database

    tmp = tmp_path_factory.mktemp("phone")
    if request.param == "sqlite":
        database, drop = f"sqlite:///{tmp / 'phone.db'}", None
    else:
        name = f"parlour_phone_{testrun_uid[:8]}_{worker_id}".replace("-", "_")
        database, drop = create_pg_database(name), name
    try:
        with served_full_desk(database, tmp, browser) as desk:
            yield desk
    finally:
        if drop is not None:
            drop_pg_database(drop)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.mark.slow
@pytest.mark.parametrize("path", desk_pages())
def test_every_desk_page_fits_a_phone_with_a_hundred_long_items(
    browser: Any, full_desk: Desk, path: str
) -> None:
    if path == "/desk/setup":
        measured = full_desk.setup  # measured before the owner's account existed
    else:
        assert "{" not in path or path in full_desk.addresses, f"give {path} an example address here"
        page = phone(browser, full_desk.state)
        page.goto(full_desk.base + full_desk.addresses.get(path, path))
        assert page.locator("h1").is_visible(), path
        measured = overflow(page)
        page.context.close()
    assert measured["scrollWidth"] <= measured["width"] == WIDTH, (path, measured)
    assert measured["overflowing"] == [], (path, measured)
