"""Readers who sign in with an email link from a popup on Parlour's origin: the link signs
in the browser that asked only; then their name is theirs, they change their comments
from any device, download everything Parlour holds about them and delete their account.
Both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from factories import BLOG, error_code, mail_bodies, make_site, post, read
from parlour.app import create_app
from parlour.services import sso
from parlour.services.context import Context

PUBLIC = "https://comments.example"


@pytest.fixture
def popup(make_ctx: Any) -> Iterator[tuple[TestClient, Context]]:
    """Parlour's own origin in the reader's browser (https: its cookie is Secure)."""
    ctx: Context = make_ctx(public_url=PUBLIC, smtp_url=None)
    make_site(ctx)
    with TestClient(create_app(context=ctx), base_url="https://parlour.test") as client:
        yield client, ctx


def mailed_link(ctx: Context, address: str) -> str:
    bodies = mail_bodies(ctx, address)
    found = re.search(r"https://comments\.example(/readers/sign-in/link\?token=[\w-]+)", bodies[-1])
    assert found, bodies
    return found.group(1)


def sign_in(client: TestClient, ctx: Context, address: str = "ada@example.org", name: str = "Ada") -> str:
    """The popup's whole flow; returns the session token it hands to the widget."""
    form = client.get("/readers/sign-in", params={"site": "blog", "origin": BLOG})
    assert form.status_code == 200 and 'name="email"' in form.text
    sent = client.post(
        "/readers/sign-in", data={"site": "blog", "origin": BLOG, "email": address, "name": name}
    )
    assert sent.status_code == 200 and "Check your email" in sent.text, sent.text
    assert client.get("/readers/sign-in/wait", params={"site": "blog"}).json() == {"status": "waiting"}
    link = mailed_link(ctx, address)
    page = client.get(link)  # a mail scanner's GET signs no one in
    assert page.status_code == 200 and "Sign me in" in page.text
    assert client.get("/readers/sign-in/wait", params={"site": "blog"}).json() == {"status": "waiting"}
    token = link.split("token=")[1]
    done = client.post("/readers/sign-in/link", data={"token": token})
    assert done.status_code == 200 and "You are signed in" in done.text, done.text
    answer = client.get("/readers/sign-in/wait", params={"site": "blog"}).json()
    assert answer["status"] == "done" and answer["name"] == name
    assert client.post("/readers/sign-in/link", data={"token": token}).status_code == 401  # once
    return str(answer["token"])


def test_a_reader_signs_in_by_email_link_and_comments_under_a_name_that_is_theirs(
    popup: tuple[TestClient, Context],
) -> None:
    client, ctx = popup
    session = sign_in(client, ctx)
    me = {"X-Parlour-Account": session}
    posted = post(client, "Signed in now", author_name="Someone else", headers=me)
    assert posted["comment"]["author"] == {
        "name": "Ada",
        "is_writer": False,
        "avatar_url": None,
        "verified": True,
    }
    taken = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "x", "author_name": "ada"}
    )
    assert taken.status_code == 409 and error_code(taken) == "name_taken"
    sso.set_who_may_comment(ctx, "blog", "signed-in")
    assert post(client, "Still may", headers=me)["comment"]["author"]["verified"]
    sso.set_who_may_comment(ctx, "blog", "members")  # members come from the writer's site
    refused = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "No"}, headers=me
    )
    assert refused.status_code == 403 and error_code(refused) == "commenting_restricted"


def test_the_link_signs_in_only_the_browser_that_asked(popup: tuple[TestClient, Context]) -> None:
    client, ctx = popup
    client.post("/readers/sign-in", data={"site": "blog", "origin": BLOG, "email": "ada@example.org"})
    token = mailed_link(ctx, "ada@example.org").split("token=")[1]
    with TestClient(client.app, base_url="https://parlour.test") as elsewhere:
        refused = elsewhere.post("/readers/sign-in/link", data={"token": token})
        assert refused.status_code == 401 and "browser where you asked" in refused.text
        assert elsewhere.get("/readers/sign-in/wait", params={"site": "blog"}).json() == {"status": "waiting"}
    other_site = client.post(
        "/readers/sign-in/link", data={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403  # a form of another site's page


def test_the_popup_hands_over_only_to_one_of_the_sites_origins(popup: tuple[TestClient, Context]) -> None:
    client, _ = popup
    page = client.get("/readers/sign-in", params={"site": "blog", "origin": "https://evil.example"})
    assert page.status_code == 403 and "does not list" in page.text
    assert client.get("/readers/sign-in", params={"site": "nope", "origin": BLOG}).status_code == 404


def test_a_signed_in_reader_changes_their_comments_from_any_device(popup: tuple[TestClient, Context]) -> None:
    client, ctx = popup
    me = {"X-Parlour-Account": sign_in(client, ctx)}
    comment_id = post(client, "Frist", headers=me)["comment"]["id"]
    post(client, "Not mine", author_name="Bo")
    mine = client.get("/api/v1/me", params={"site": "blog", "thread": "/post"}, headers=me).json()
    assert mine == {"account": {"email": "ada@example.org", "name": "Ada"}, "comments": [comment_id]}
    edited = client.patch(f"/api/v1/comments/{comment_id}", json={"body": "First"}, headers=me)
    assert edited.status_code == 200 and edited.json()["comment"]["body"] == "First"
    renamed = client.patch("/api/v1/me", params={"site": "blog"}, json={"name": "Ada L."}, headers=me)
    assert renamed.json()["account"]["name"] == "Ada L."
    assert post(client, "New name", headers=me)["comment"]["author"]["name"] == "Ada L."


def test_a_reader_downloads_everything_parlour_holds_about_them(popup: tuple[TestClient, Context]) -> None:
    client, ctx = popup
    me = {"X-Parlour-Account": sign_in(client, ctx)}
    post(client, "My *words*", headers=me, notify="replies")
    data = client.get("/api/v1/me/export", params={"site": "blog"}, headers=me)
    assert data.status_code == 200 and "attachment" in data.headers["content-disposition"]
    everything = data.json()
    assert everything["format"] == "parlour-reader-export/1"
    assert everything["account"]["email"] == "ada@example.org"
    assert [c["body"] for c in everything["comments"]] == ["My *words*"]
    assert everything["names"][0]["name"] == "Ada"
    assert everything["reply_mail"][0]["site"] == "blog"  # vouched by the sign-in: confirmed
    assert everything["reply_mail"][0]["confirmed_at"] is not None
    assert client.get("/api/v1/me/export", params={"site": "blog"}).status_code == 401


@pytest.mark.parametrize("choice", ["keep", "remove"])
def test_deleting_the_account_keeps_comments_as_a_former_reader_or_removes_them(
    popup: tuple[TestClient, Context], choice: str
) -> None:
    client, ctx = popup
    me = {"X-Parlour-Account": sign_in(client, ctx)}
    top = post(client, "Something personal", headers=me)["comment"]["id"]
    post(client, "An answer", parent_id=top, author_name="Bo")
    gone = client.request(
        "DELETE", "/api/v1/me", params={"site": "blog"}, json={"comments": choice}, headers=me
    )
    assert gone.status_code == 200 and gone.json() == {"deleted": True, "comments": 1}
    shown = read(client)["comments"][0]
    if choice == "keep":
        assert shown["author"] == {
            "name": "A former reader",
            "is_writer": False,
            "avatar_url": None,
            "verified": False,
        }
        assert shown["body"] == "Something personal"
    else:
        assert shown["removed"] is True and shown["body"] == "" and shown["replies"][0]["body"] == "An answer"
    ended = client.get("/api/v1/me", params={"site": "blog"}, headers=me)
    assert ended.status_code == 401 and error_code(ended) == "invalid_token"
    # The name is free again.
    assert post(client, "Hello", author_name="Ada")["comment"]["author"]["name"] == "Ada"
    bad = client.request(
        "DELETE", "/api/v1/me", params={"site": "blog"}, json={"comments": "maybe"}, headers=me
    )
    assert bad.status_code == 422


def test_a_session_works_on_its_own_site_only_and_signing_out_ends_it_everywhere(
    popup: tuple[TestClient, Context],
) -> None:
    client, ctx = popup
    make_site(ctx, "other", origins=("https://other.example",))
    me = {"X-Parlour-Account": sign_in(client, ctx)}
    elsewhere = client.post(
        "/api/v1/comments", json={"site": "other", "thread": "/p", "body": "Hi"},
        headers={**me, "Origin": "https://other.example"},
    )  # fmt: skip
    assert elsewhere.status_code == 401 and error_code(elsewhere) == "invalid_token"
    assert client.get("/api/v1/me/export", params={"site": "other"}, headers=me).status_code == 401
    assert client.delete("/api/v1/me/sessions", params={"site": "blog"}, headers=me).status_code == 204
    ended = client.get("/api/v1/me", params={"site": "blog"}, headers=me)
    assert ended.status_code == 401 and error_code(ended) == "invalid_token"


@pytest.mark.parametrize(
    "token", ["ra1." + "9" * 5000 + ".1.1.x", "ra1.1.1.1.\u0000", "ra1.-1.1.1.x", "r" * 10_000]
)
def test_a_hostile_session_token_is_a_401(popup: tuple[TestClient, Context], token: str) -> None:
    client, _ = popup
    for response in (
        client.get("/api/v1/me", params={"site": "blog"}, headers={"X-Parlour-Account": token}),
        client.post(
            "/api/v1/comments",
            json={"site": "blog", "thread": "/p", "body": "x"},
            headers={"X-Parlour-Account": token},
        ),
    ):
        assert response.status_code == 401 and error_code(response) == "invalid_token"
    assert client.get("/api/v1/me", params={"site": "\u0000"}).status_code == 404


def test_a_held_comment_of_a_leaving_reader_leaves_the_queue(popup: tuple[TestClient, Context]) -> None:
    from parlour.services import accounts, moderation

    client, ctx = popup
    owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
    form = {"name": "Blog", "writer_name": "Wren", "origins": BLOG, "moderation": "hold_all"}
    moderation.save_settings(ctx, owner, "blog", moderation.read_settings(form))
    me = {"X-Parlour-Account": sign_in(client, ctx)}
    assert post(client, "Waiting for review", headers=me)["comment"]["held"]
    assert len(moderation.queue(ctx, owner)) == 1
    gone = client.request(
        "DELETE", "/api/v1/me", params={"site": "blog"}, json={"comments": "remove"}, headers=me
    )
    assert gone.status_code == 200
    assert moderation.queue(ctx, owner) == []
