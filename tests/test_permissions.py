"""Who reaches what: the writer, a moderator of another site, a reader and a stranger,
through the desk's pages and through the API, on both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from desk_helpers import desk_client, desk_post, make_user, sign_in
from factories import error_code, make_site, new_reader, post
from parlour.services import accounts
from parlour.services.context import Context

SECRET = "Only for the blog's people"


@dataclass
class World:
    ctx: Context
    writer: TestClient
    moderator: TestClient
    stranger: TestClient
    comment: dict[str, Any]
    held: dict[str, Any]
    reader_key: str


@pytest.fixture
def world(ctx: Context, client: TestClient) -> Iterator[World]:
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    make_user(ctx, "wren@blog.example", owner=True)
    make_user(ctx, "mo@other.example", moderator_of=("other",))
    comment = post(client, SECRET, author_name="Ada", headers=new_reader(client))["comment"]
    clients = [desk_client(ctx) for _ in range(3)]
    sign_in(clients[0], "wren@blog.example")
    sign_in(clients[1], "mo@other.example")
    settings = {
        "name": "Blog",
        "writer_name": "Wren",
        "origins": "https://blog.example",
        "moderation": "hold_all",
    }
    desk_post(clients[0], "/desk/sites/blog", settings, page="/desk/sites/blog")
    held = post(client, "Held, " + SECRET)["comment"]
    found = re.search(
        r'href="/desk/readers\?key=([^"]+)"', clients[0].get("/desk/search", params={"q": "blog"}).text
    )
    assert found
    yield World(ctx, clients[0], clients[1], clients[2], comment, held, found.group(1))
    for c in clients:
        c.__exit__(None, None, None)


PAGES = ["/desk/inbox", "/desk/queue", "/desk/posts", "/desk/search?q=blog", "/desk/sites", "/desk/audit"]


def test_stranger_reaches_no_desk_page_and_no_desk_action(world: World) -> None:
    for page in [
        *PAGES,
        "/desk/mail",
        "/desk/sites/blog",
        f"/desk/readers?key={world.reader_key}",
        "/desk/widget?site=blog",
    ]:
        response = world.stranger.get(page)
        assert response.status_code == 303 and response.headers["location"].startswith("/desk/sign-in"), page
    cid = world.comment["id"]
    for path in [
        f"/desk/inbox/{cid}/reply", f"/desk/inbox/{cid}/heart", f"/desk/inbox/{cid}/done",
        f"/desk/comments/{cid}/remove", f"/desk/comments/{cid}/restore", f"/desk/comments/{cid}/block",
        "/desk/queue", "/desk/sites",
        "/desk/sites/blog", "/desk/sites/blog/lock", "/desk/sites/blog/blocks", "/desk/sites/blog/unblock",
        "/desk/sign-out-everywhere",
    ]:  # fmt: skip
        assert (
            desk_post(
                world.stranger, path, {"body": "x", "id": world.held["id"]}, page="/desk/sign-in"
            ).status_code
            == 401
        ), path


def test_moderator_of_another_site_sees_and_touches_nothing_of_this_one(world: World) -> None:
    for page in PAGES:
        response = world.moderator.get(page)
        assert response.status_code == 200 and SECRET not in response.text, page
    for page in [
        "/desk/sites/blog",
        f"/desk/readers?key={world.reader_key}",
        "/desk/search?site=blog",
        "/desk/mail",
    ]:
        assert world.moderator.get(page).status_code == 403, page
    assert world.moderator.get("/desk/widget?site=blog&origin=https://blog.example").status_code == 403
    cid, held = world.comment["id"], world.held["id"]
    for path, data in [
        (f"/desk/inbox/{cid}/reply", {"body": "mine now"}), (f"/desk/inbox/{cid}/heart", {"on": "1"}),
        (f"/desk/inbox/{cid}/done", {}), (f"/desk/comments/{cid}/remove", {}),
        (f"/desk/comments/{cid}/restore", {}),
        (f"/desk/comments/{cid}/block", {"kind": "address"}), ("/desk/queue", {"id": held, "action": "approve"}),
        ("/desk/sites/blog", {"moderation": "publish"}), ("/desk/sites/blog/lock", {"thread": "/post", "locked": "1"}),
        ("/desk/sites/blog/blocks", {"kind": "email", "value": "a@b.c"}), ("/desk/sites/blog/unblock", {"block": "1"}),
        ("/desk/sites", {"site_id": "mine"}),
    ]:  # fmt: skip
        response = desk_post(world.moderator, path, data)
        assert response.status_code == 403, path
    assert SECRET in world.writer.get("/desk/inbox").text  # nothing changed for her
    assert f'id="held-{held}"' in world.writer.get("/desk/queue").text
    assert "approve" not in world.writer.get("/desk/audit").text.split("<tbody>")[1].split("</tbody>")[0]


def test_only_the_sites_own_people_act_as_its_writer_through_the_api(
    world: World, client: TestClient
) -> None:
    cid = world.comment["id"]
    moderator = accounts.session_user(world.ctx, world.moderator.cookies.get("parlour_session"))
    assert moderator is not None
    other_token, _ = accounts.widget_token(world.ctx, moderator, "other", "https://other.example")
    as_other = {"Authorization": f"Bearer {other_token}"}
    assert error_code(client.put(f"/api/v1/comments/{cid}/pin", headers=as_other)) == "not_permitted"
    assert error_code(client.delete(f"/api/v1/comments/{cid}", headers=as_other)) == "not_permitted"
    with pytest.raises(Exception, match="access"):
        accounts.widget_token(world.ctx, moderator, "blog", "https://blog.example")
    reader = new_reader(client)
    assert client.put(f"/api/v1/comments/{cid}/pin", headers=reader).status_code in (401, 403)
    assert error_code(client.delete(f"/api/v1/comments/{cid}")) == "invalid_token"  # a stranger
    grant, rest = other_token.removeprefix("ws2.").split(".", 1)
    forged = f"ws2.{int(grant) + 1}.{rest}"  # another grant's number under this one's signature
    assert error_code(
        client.put(f"/api/v1/comments/{cid}/pin", headers={"Authorization": f"Bearer {forged}"})
    ) == ("invalid_token")
