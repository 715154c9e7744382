"""Atom feeds of a site's and a thread's newest comments, read as feed readers read them:
by feedparser, and by a strict XML parser that holds them to RFC 4287's structure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import partial
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import urlsplit
from xml.etree import ElementTree

import feedparser
import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from factories import error_code, make_site, post, writer_headers
from parlour.domain.model import Status
from parlour.services import accounts, feeds, lifecycle, moderation
from parlour.services.clock import iso
from parlour.services.context import Context
from parlour.store import comments as comment_store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store
from plans import plan_steps, statements_run

PUBLIC = "https://comments.blog.example"
A = "{http://www.w3.org/2005/Atom}"
THR = "{http://purl.org/syndication/thread/1.0}"


@pytest.fixture
def public(client_for: Any) -> TestClient:
    """A client of a Parlour reached at PUBLIC (PARLOUR_PUBLIC_URL), with site `blog`."""
    client: TestClient = client_for(public_url=PUBLIC)
    make_site(client.app.state.ctx)  # type: ignore[attr-defined]
    return client


def context_of(client: TestClient) -> Context:
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


def fetch(
    client: TestClient, site: str = "blog", thread: str | None = None, **headers: str
) -> httpx.Response:
    params = {} if thread is None else {"thread": thread}
    return client.get(f"/feeds/{site}.atom", params=params, headers=headers)


def rfc3339(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def atom(response: httpx.Response) -> ElementTree.Element:
    """The feed, parsed strictly (expat: any ill-formed byte fails) and checked against
    RFC 4287's rules for a feed and its entries."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = ElementTree.fromstring(response.content)
    assert root.tag == A + "feed"
    for element in [root, *root.findall(A + "entry")]:
        for name in ("id", "title", "updated"):
            assert len(element.findall(A + name)) == 1, (element.tag, name)
        assert urlsplit(element.findtext(A + "id", "")).scheme == "tag"
        rfc3339(element.findtext(A + "updated"))
        assert len(element.findall(f"{A}link[@rel='alternate'][@type='text/html']")) <= 1
        for link in element.findall(A + "link"):
            assert urlsplit(link.get("href", "")).scheme in ("http", "https"), link.attrib  # absolute
    for entry in root.findall(A + "entry"):
        assert entry.findtext(f"{A}author/{A}name"), "every entry names its author (the feed has none)"
        rfc3339(entry.findtext(A + "published"))
        (content,) = entry.findall(A + "content")
        assert content.get("type") == "html"
    ids = [entry.findtext(A + "id") for entry in root.findall(A + "entry")]
    assert len(ids) == len(set(ids))
    return root


def read_feed(response: httpx.Response) -> Any:
    """The feed as feedparser reads it, which must be without complaint."""
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def entries(root: ElementTree.Element) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.findtext(A + "id"),
            "title": entry.findtext(A + "title"),
            "author": entry.findtext(f"{A}author/{A}name"),
            "html": entry.findtext(A + "content"),
            "link": entry.find(f"{A}link[@rel='alternate']").get("href")  # type: ignore[union-attr]
            if entry.find(f"{A}link[@rel='alternate']") is not None
            else None,
            "published": entry.findtext(A + "published"),
            "updated": entry.findtext(A + "updated"),
            "writer": entry.find(f"{A}category[@term='writer']") is not None,
            "in_reply_to": entry.find(THR + "in-reply-to"),
        }
        for entry in root.findall(A + "entry")
    ]


def bodies(root: ElementTree.Element) -> list[str]:
    return [str(e["html"]).strip() for e in entries(root)]


def owner(ctx: Context) -> Any:
    return accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)


def settings_form(**changes: str) -> dict[str, str]:
    return {
        "name": "Blog",
        "writer_name": "Wren",
        "origins": "https://blog.example",
        "writer_heart": "1",
        **changes,
    }


def test_a_thread_feed_lists_its_published_comments_newest_first_and_nothing_held(public: TestClient) -> None:
    ctx = context_of(public)
    wren = owner(ctx)
    moderation.save_settings(ctx, wren, "blog", moderation.read_settings(settings_form(held_words="hold me")))
    post(public, "First", author_name="Ada", title="On rest", url="https://blog.example/post")
    held = post(public, "Please hold me", author_name="Bo")["comment"]
    spam = post(public, "Also hold me", author_name="Cy")["comment"]
    post(public, "Second", author_name="Di")
    post(public, "Elsewhere", thread="/other")
    moderation.decide(ctx, wren, [spam["id"]], "spam")
    root = atom(fetch(public, thread="/post"))
    assert bodies(root) == ["<p>Second</p>", "<p>First</p>"]
    assert root.findtext(A + "title") == "Comments on On rest"
    assert [e["title"] for e in entries(root)] == ["Di on On rest", "Ada on On rest"]

    moderation.decide(ctx, wren, [held["id"]], "approve")  # published now: newest in the feed
    parsed = read_feed(fetch(public, thread="/post"))
    assert [e.content[0].value.strip() for e in parsed.entries] == [
        "<p>Please hold me</p>",
        "<p>Second</p>",
        "<p>First</p>",
    ]
    assert parsed.entries[0].author == "Bo"
    assert parsed.entries[0].link == f"https://blog.example/post#comment-{held['id']}"


def test_a_removed_comment_leaves_the_feed(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    gone = post(client, "Regrettable")["comment"]
    post(client, "Kept")
    assert client.delete(f"/api/v1/comments/{gone['id']}", headers=writer_headers(ctx)).status_code == 200
    assert bodies(atom(fetch(client, thread="/post"))) == ["<p>Kept</p>"]
    assert bodies(atom(fetch(client))) == ["<p>Kept</p>"]


def test_a_site_feed_lists_the_newest_comments_of_every_thread_titled_with_their_thread(
    public: TestClient,
) -> None:
    post(public, "On frost", title="First frost", url="https://blog.example/frost", thread="/frost")
    post(public, "On rain", title="Rain", thread="/rain")  # no address known: Parlour's own page
    make_site(context_of(public), "other", origins=("https://other.example",))
    public.post("/api/v1/comments", json={"site": "other", "thread": "/x", "body": "Not this site's"})
    root = atom(fetch(public))
    assert root.findtext(A + "title") == "Comments on Blog"
    found = entries(root)
    assert [(e["title"], e["html"].strip()) for e in found] == [
        ("Anonymous on Rain", "<p>On rain</p>"),
        ("Anonymous on First frost", "<p>On frost</p>"),
    ]
    assert found[0]["link"] == f"{PUBLIC}/comments.html?site=blog&thread=%2Frain#comment-2"
    assert found[1]["link"] == "https://blog.example/frost#comment-1"
    links = {link.get("rel"): link.get("href") for link in root.findall(A + "link")}
    assert links == {"self": f"{PUBLIC}/feeds/blog.atom", "alternate": "https://blog.example/"}
    thread_links = {link.get("rel"): link.get("href") for link in atom(fetch(public, thread="/frost")).findall(A + "link")}  # fmt: skip
    assert thread_links == {"self": f"{PUBLIC}/feeds/blog.atom?thread=%2Ffrost", "alternate": "https://blog.example/frost"}  # fmt: skip


def test_ids_stay_the_same_from_one_request_to_the_next_and_name_the_public_address(
    public: TestClient, client_for: Any
) -> None:
    first = post(public, "One")["comment"]
    post(public, "Two")
    before = atom(fetch(public, thread="/post"))
    again = atom(fetch(public, thread="/post"))
    post(public, "Three")
    after = atom(fetch(public, thread="/post"))
    ids = [e["id"] for e in entries(before)]
    assert ids == [e["id"] for e in entries(again)] == [e["id"] for e in entries(after)][1:]
    assert all(i.startswith("tag:comments.blog.example,") for i in ids)
    assert ids[-1].endswith(f":blog/comment/{first['id']}")
    assert before.findtext(A + "id") == after.findtext(A + "id")
    assert before.findtext(A + "id") != atom(fetch(public)).findtext(A + "id")  # the site's feed
    other_process = client_for(public_url=PUBLIC)  # another worker: the same ids
    assert [e["id"] for e in entries(atom(fetch(other_process, thread="/post")))] == [
        e["id"] for e in entries(after)
    ]


def test_without_a_public_url_a_feed_has_no_self_link_and_never_names_the_requests_host(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    post(client, "Hello", url="https://blog.example/post")
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    for thread in (None, "/post"):
        response = fetch(client, thread=thread, **forged)
        assert "evil.example" not in response.text and "parlour.test" not in response.text
        root = atom(response)
        assert root.find(f"{A}link[@rel='self']") is None
        assert root.findtext(A + "id", "").startswith("tag:parlour.invalid,")


def test_hostile_text_is_escaped_and_the_html_is_the_sanitised_rendering(
    public: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xss_corpus import corpus

    payloads = corpus()
    for i, payload in enumerate(payloads):
        name = payload if len(payload) <= 80 else f"Reader {i}"
        answer = public.post(
            "/api/v1/comments",
            json={
                "site": "blog",
                "thread": "/post",
                "body": payload,
                "author_name": name,
                "title": payload[:200],
            },
        )
        assert answer.status_code in (200, 201, 422), answer.text  # 200: a repeat
    monkeypatch.setattr(feeds, "FEED_SIZE", 1000)
    response = fetch(public, thread="/post")
    root = atom(response)
    found = entries(root)
    assert len(found) >= 150
    for entry in found:
        assert_harmless(entry["html"])
    names = {e["author"] for e in found}
    assert '<img src=x onerror="alert(1);window.__pwned=1">' in names  # text, shown as text
    parsed = read_feed(response)
    assert len(parsed.entries) == len(found)


class Surfaces(HTMLParser):
    """Every tag and attribute of a comment's HTML that is not on markup.py's allow-list."""

    TAGS: ClassVar[set[str]] = {
        "p", "br", "hr", "em", "strong", "del", "s", "a", "code", "pre", "blockquote",
        "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    }  # fmt: skip
    ATTRIBUTES: ClassVar[dict[str, set[str]]] = {
        "a": {"href", "title", "rel"},
        "ol": {"start"},
        "code": {"class"},
    }

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.TAGS:
            self.found.append(tag)
        for name, value in attrs:
            if name not in self.ATTRIBUTES.get(tag, set()):
                self.found.append(f"{tag} {name}")
            if name == "href" and urlsplit(value or "").scheme not in ("http", "https", "mailto", ""):
                self.found.append(f"{tag} href={value}")


def assert_harmless(html: str) -> None:
    surfaces = Surfaces()
    surfaces.feed(html)
    surfaces.close()
    assert surfaces.found == [], html


def test_stored_text_xml_cannot_carry_is_dropped_and_the_feed_stays_well_formed(
    public: TestClient,
) -> None:
    """An import stores what the old system had, control characters too (the API
    refuses them); XML 1.0 has no way to write most of them."""
    ctx = context_of(public)
    odd = "\x01\x08\x0b\x0c\x1b\x7f\ufffe\uffff"
    with ctx.db.write() as tx:
        site = site_store.get_site(tx, "blog")
        assert site is not None
        thread = thread_store.get_or_create_thread(tx, "blog", "/old", f"Old{odd} ]]> post", None, 1_000)
        author = lifecycle.Author(
            key="import:ann", ip_hash="import", name=f"Ann{odd}", email="ann@example.com"
        )
        text = lifecycle.Text("x", f"<p>Tab\there{odd} ]]> &amp; done</p>")
        lifecycle.create(tx, site, thread, None, author, text, Status.PUBLISHED, 2_000, created_at=1_500)
    for thread_key in (None, "/old"):
        response = fetch(public, thread=thread_key)
        (entry,) = entries(atom(response))
        assert entry["author"] == "Ann\x7f"  # DEL is allowed in XML 1.0
        assert entry["title"] == "Ann\x7f on Old\x7f ]]> post"
        assert entry["html"] == "<p>Tab\there\x7f ]]> &amp; done</p>"
        assert entry["published"] == "1970-01-01T00:00:01.500Z"
        read_feed(response)


def test_an_empty_feed_is_valid_and_dated_by_its_site_or_thread(public: TestClient) -> None:
    ctx = context_of(public)
    root = atom(fetch(public))
    assert entries(root) == []
    site = ctx.sites.get("blog")
    assert site is not None
    assert rfc3339(root.findtext(A + "updated")).timestamp() == site.created_at / 1000
    read_feed(fetch(public))
    wren = owner(ctx)
    moderation.save_settings(
        ctx, wren, "blog", moderation.read_settings(settings_form(moderation="hold_all"))
    )
    post(public, "Held, so the thread exists but shows nothing")
    thread_feed = atom(fetch(public, thread="/post"))
    assert entries(thread_feed) == []
    assert thread_feed.findtext(A + "updated") == atom(fetch(public, thread="/post")).findtext(A + "updated")


def test_unknown_sites_and_threads_get_404_and_a_bad_thread_parameter_a_4xx(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    post(client, "Hello")
    for path, status, code in [
        ("/feeds/nope.atom", 404, "unknown_site"),
        ("/feeds/nope.atom?thread=/post", 404, "unknown_site"),
        ("/feeds/..atom", 404, "unknown_site"),
        ("/feeds/blog.atom?thread=/never-commented", 404, "unknown_thread"),
        ("/feeds/blog.atom?thread=", 400, "invalid_parameter"),
        ("/feeds/blog.atom?thread=%20%20", 422, "invalid_thread_key"),
        ("/feeds/blog.atom?thread=/a%01b", 422, "invalid_thread_key"),
        ("/feeds/blog.atom?thread=" + "x" * 501, 422, "invalid_thread_key"),
        ("/feeds/blog.rss", 404, "not_found"),
    ]:
        response = client.get(path)
        assert (response.status_code, error_code(response)) == (status, code), path
        assert response.headers["cache-control"] == "no-store"


def test_the_writers_reply_is_marked_as_hers_and_names_the_comment_it_answers(
    public: TestClient,
) -> None:
    ctx = context_of(public)
    question = post(public, "A question?", author_name="Ada", author_email="ada@example.com")["comment"]
    post(public, "An answer.", parent_id=question["id"], headers=writer_headers(ctx))
    root = atom(fetch(public, thread="/post"))
    answer, asked = entries(root)
    assert (answer["author"], answer["writer"], answer["title"]) == ("Wren", True, "Wren (author) on /post")
    assert (asked["author"], asked["writer"]) == ("Ada", False)
    assert answer["in_reply_to"] is not None and answer["in_reply_to"].get("ref") == asked["id"]
    assert asked["in_reply_to"] is None
    parsed = read_feed(fetch(public, thread="/post"))
    assert [tag.term for tag in parsed.entries[0].tags] == ["writer"]
    text = fetch(public).text + fetch(public, thread="/post").text
    assert "ada@example.com" not in text and "@" not in text  # no email, no address hash
    with ctx.db.read() as tx:
        stored = comment_store.get_comment(tx, question["id"])
    assert stored is not None and stored.author_key not in text


def test_an_edit_updates_its_entry_and_the_feed(public: TestClient) -> None:
    ctx = context_of(public)
    created = post(public, "Teh typo")
    before = atom(fetch(public, thread="/post"))
    later = ctx.now() + 60_000  # a minute on, within the edit window
    ctx.now = lambda: later
    edited = public.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"body": "The fix"},
        headers={"Authorization": f"Bearer {created['edit_token']}"},
    )
    assert edited.status_code == 200, edited.text
    after = atom(fetch(public, thread="/post"))
    (entry,) = entries(after)
    assert entry["html"].strip() == "<p>The fix</p>"
    assert entry["updated"] == after.findtext(A + "updated") == iso(later)
    assert entry["published"] == entries(before)[0]["published"]


def test_an_unchanged_feed_answers_304_and_a_change_gives_it_a_new_etag(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    post(client, "One")
    for thread in ("/post", None):
        first = fetch(client, thread=thread)
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "public, max-age=300"
        assert first.headers["access-control-allow-origin"] == "*"
        again = fetch(client, thread=thread, **{"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        head = client.head(f"/feeds/blog.atom{'?thread=/post' if thread else ''}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == etag and head.headers["content-length"] == str(len(first.content))
    site_etag = fetch(client).headers["etag"]
    thread_etag = fetch(client, thread="/post").headers["etag"]
    post(client, "Two")
    assert fetch(client, thread="/post", **{"If-None-Match": thread_etag}).status_code == 200
    changed = fetch(client, **{"If-None-Match": site_etag})
    assert changed.status_code == 200 and bodies(atom(changed)) == ["<p>Two</p>", "<p>One</p>"]
    post(client, "Elsewhere", thread="/other")  # another thread of the site: a new site feed
    assert fetch(client, **{"If-None-Match": changed.headers["etag"]}).status_code == 200


def test_renaming_the_site_and_its_writer_reaches_a_cached_feed(ctx: Context, client: TestClient) -> None:
    from parlour.services import sites

    make_site(ctx)
    post(client, "Hello", headers=writer_headers(ctx))
    assert entries(atom(fetch(client)))[0]["author"] == "Wren"
    assert entries(atom(fetch(client, thread="/post")))[0]["author"] == "Wren"
    sites.update_site(ctx, "blog", name="The Blog", writer_name="Wren Ames")
    assert atom(fetch(client)).findtext(A + "title") == "Comments on The Blog"
    assert entries(atom(fetch(client)))[0]["author"] == "Wren Ames"
    assert entries(atom(fetch(client, thread="/post")))[0]["author"] == "Wren Ames"


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Feeds of 2 entries, sites looked for among the newest 3 comments of the instance."""
    monkeypatch.setattr(feeds, "FEED_SIZE", 2)
    monkeypatch.setattr(comment_store, "FEED_WINDOW", 3)
    yield


@pytest.mark.usefixtures("small_window")
def test_a_quiet_sites_feed_finds_its_comments_behind_a_busy_sites(ctx: Context, client: TestClient) -> None:
    make_site(ctx, "quiet")
    make_site(ctx, "busy")
    for body in ("Quiet one", "Quiet two", "Quiet three"):
        client.post("/api/v1/comments", json={"site": "quiet", "thread": "/q", "body": body})
    for i in range(5):
        client.post("/api/v1/comments", json={"site": "busy", "thread": f"/b{i % 2}", "body": f"Busy {i}"})
    assert bodies(atom(fetch(client, "quiet"))) == ["<p>Quiet three</p>", "<p>Quiet two</p>"]
    assert bodies(atom(fetch(client, "busy"))) == ["<p>Busy 4</p>", "<p>Busy 3</p>"]


def test_a_feed_never_reads_every_comment(ctx: Context, client: TestClient) -> None:
    """A thread's feed finds its comments by the thread; a site's looks through the
    instance's newest comments (from the end of an index, so it can stop early), and only a
    quiet site reads its own threads' comments: on SQLite's plan and PostgreSQL's."""
    make_site(ctx)
    make_site(ctx, "quiet")
    client.post("/api/v1/comments", json={"site": "quiet", "thread": "/q", "body": "Long ago"})
    for i in range(4):
        post(client, f"Comment {i}", thread=f"/t{i % 2}")
    with ctx.db.read() as tx:
        thread = thread_store.get_thread(tx, "blog", "/t0")
        assert thread is not None
        for site, thread_id, window, expected in [
            ("blog", thread.id, 3, 1),  # the thread's, sorted
            ("blog", None, 3, 2),  # the site's, from the newest of the instance
            ("quiet", None, 3, 3),  # not among the newest: its own threads'
        ]:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(comment_store, "FEED_WINDOW", window)
                statements = statements_run(
                    tx, partial(comment_store.latest_published, tx, site, thread_id, 2)
                )
            assert len(statements) == expected, (site, thread_id, statements)
            for n, (statement, params) in enumerate(statements):
                steps = plan_steps(ctx, tx, statement, params)
                plan = " ".join(steps)
                if ctx.db.is_sqlite:
                    assert not any(step.startswith("SCAN comments") for step in steps), steps
                else:
                    assert "Seq Scan on comments" not in plan, plan
                if thread_id is None and n < 2:  # the window: the index of publication times, newest first
                    assert "ix_comments_published" in plan, plan
                    assert "site_id=?" not in plan and "uq_threads_site_id_key" not in plan, plan
                    assert "TEMP B-TREE" not in plan, plan  # no sort: it stops at the limit


def test_the_no_js_page_links_its_threads_feed(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    empty = client.get("/comments.html", params={"site": "blog", "thread": "/post"}).text
    assert "application/atom+xml" not in empty  # no thread yet: no feed yet
    post(client, "Hello", title="On rest")
    page = client.get(
        "/comments.html", params={"site": "blog", "thread": "/post"}, headers={"Host": "evil.example"}
    ).text
    assert (
        '<link rel="alternate" type="application/atom+xml" title="Comments on On rest" '
        'href="/feeds/blog.atom?thread=%2Fpost">' in page
    )
    assert '<a href="/feeds/blog.atom?thread=%2Fpost" type="application/atom+xml">Comments feed</a>' in page
    assert "evil.example" not in page
    assert atom(client.get("/feeds/blog.atom?thread=%2Fpost")) is not None
