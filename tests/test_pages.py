"""The server-rendered thread page, for readers without JavaScript and for search engines."""

from __future__ import annotations

from pathlib import Path

import orjson
from starlette.testclient import TestClient

from factories import make_site, post, writer_headers
from parlour.services.context import Context


def test_thread_page_shows_comments_nested_with_the_author_mark(ctx: Context, client: TestClient) -> None:
    make_site(ctx, writer="Wren")
    cid = post(client, "A *kind* word", author_name="Ada", title="On rest")["comment"]["id"]
    post(client, "Thank you, Ada", parent_id=cid, headers=writer_headers(ctx))
    response = client.get("/comments.html", params={"site": "blog", "thread": "/post"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Comments on On rest" in html and "2 comments" in html
    assert "<em>kind</em>" in html and f'id="comment-{cid}"' in html
    assert 'Wren</span><span class="badge">Author</span>' in html


def test_hostile_name_and_body_are_shown_as_text(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "<script>alert('body')</script>", author_name="<img src=x onerror=alert('name')>")
    html = client.get("/comments.html", params={"site": "blog", "thread": "/post"}).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(" in html


def test_thread_page_links_to_the_next_page(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    for i in range(3):
        post(client, f"comment {i}")
    html = client.get("/comments.html", params={"site": "blog", "thread": "/post", "limit": "2"}).text
    assert 'rel="next"' in html and "comment 2" not in html


def test_thread_page_of_unknown_site_is_404(client: TestClient) -> None:
    assert client.get("/comments.html", params={"site": "nope", "thread": "/p"}).status_code == 404


def test_front_page_says_parlour_runs_and_links_the_demo(ctx: Context, client: TestClient) -> None:
    empty = client.get("/")
    assert (
        empty.status_code == 200
        and "Parlour is running" in empty.text
        and "parlour site create" in empty.text
    )
    make_site(ctx, "demo")
    page = client.get("/").text
    assert "/comments.html?site=demo&amp;thread=/welcome" in page and "/api/v1/docs" in page


def test_demo_page_embeds_the_widget_with_a_noscript_fallback(client: TestClient) -> None:
    html = client.get("/demo").text
    assert 'src="/embed.js" data-site="demo"' in html
    forged = client.get("/demo", headers={"Host": "evil.example"}).text
    assert "evil.example" not in forged
    assert "<noscript>" in html and "/comments.html?site=demo" in html
    script = client.get("/embed.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    again = client.get("/embed.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    weak = client.get("/embed.js", headers={"If-None-Match": f'"x", W/{script.headers["etag"]}'})
    assert weak.status_code == 304
    assert client.get("/embed.css").headers["content-type"].startswith("text/css")
    plain = client.get("/embed.js", headers={"Accept-Encoding": "identity"})
    packed = client.get("/embed.js", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip" and packed.text == plain.text  # httpx unzips
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    assert packed.headers["etag"] != plain.headers["etag"] and "Accept-Encoding" in packed.headers["vary"]


def test_every_language_file_has_every_string_english_has(client: TestClient) -> None:
    english = client.get("/i18n/en.json").json()
    for code in ["de", "fr", "es"]:
        strings = client.get(f"/i18n/{code}.json").json()
        assert set(strings) == set(english), code
        assert set(strings["errors"]) == set(english["errors"]), code
        for counted in ["comments", "newComments"]:
            assert set(strings[counted]) >= {"one", "other"}, (code, counted)
            assert all("{n}" in v for v in strings[counted].values()), (code, counted)
        assert "{name}" in strings["replyingTo"], code


def test_the_widgets_built_in_english_matches_en_json(client: TestClient) -> None:
    """English ships inside embed.js (no extra request); en.json is the translators' copy."""
    script = client.get("/embed.js").text
    english = client.get("/i18n/en.json").json()
    for key, value in [*english.items(), *english["errors"].items()]:
        if isinstance(value, str):
            assert f'{key}: "{value}"' in script, key
    for key in ["comments", "newComments"]:
        assert f"{key}: {{ one: {orjson.dumps(english[key]['one']).decode()}" in script, key


def test_scripts_are_served_without_their_comment_lines_and_with_their_code(client: TestClient) -> None:
    written = (Path(__file__).parents[1] / "src/parlour/web/static/embed.js").read_text(encoding="utf-8")
    served = client.get("/embed.js", headers={"Accept-Encoding": "identity"}).text
    kept = [line for line in written.splitlines() if not line.lstrip().startswith("//")]
    assert served.splitlines() == kept and len(kept) < len(written.splitlines())
    assert "new URL(script.src).origin" in served and "https://" in served  # code, and // in strings
    assert client.get("/embed.css").text == (
        Path(__file__).parents[1] / "src/parlour/web/static/embed.css"
    ).read_text(encoding="utf-8")
