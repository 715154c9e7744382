"""Personas for the writer's desk: sign in through the real forms, post with the CSRF token."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from parlour.app import create_app
from parlour.domain.model import Role
from parlour.services import accounts
from parlour.services.context import Context

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_user(ctx: Context, email: str, *, owner: bool = False, moderator_of: tuple[str, ...] = ()) -> str:
    accounts.create_user(ctx, email, PASSWORD, is_owner=owner)
    for site_id in moderator_of:
        accounts.give_role(ctx, email, site_id, Role.MODERATOR)
    return email


OPEN: list[TestClient] = []  # closed after each test (conftest.py): their apps' workers stop


def desk_client(ctx: Context) -> TestClient:
    """A browser of its own (cookies), on https so Secure cookies are kept."""
    client = TestClient(create_app(context=ctx), base_url="https://parlour.test", follow_redirects=False)
    client.__enter__()
    OPEN.append(client)
    return client


def close_desk_clients() -> None:
    """Stop the apps of the desk clients a test opened: a running app's mail and event
    workers would otherwise go on working on the next test's database (PostgreSQL's is
    shared by the tests of one worker)."""
    while OPEN:
        OPEN.pop().__exit__(None, None, None)


def csrf(client: TestClient, page: str = "/desk/sign-in") -> str:
    found = _CSRF.search(client.get(page, follow_redirects=True).text)
    assert found, page
    return found.group(1)


def desk_post(
    client: TestClient, path: str, data: dict[str, Any] | None = None, page: str = "/desk/inbox"
) -> Any:
    return client.post(path, data={"csrf": csrf(client, page), **(data or {})})


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/desk/sign-in",
        data={"csrf": csrf(client), "email": email, "password": password, "next": "/desk/inbox"},
    )
