"""Turning a request into what the services need: who is asking, and from where."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from parlour.domain import errors
from parlour.domain.model import Actor, Role
from parlour.services import accounts, sites
from parlour.services.context import Context
from parlour.settings import Settings

READER_HEADER = "x-parlour-reader"
SSO_HEADER = "x-parlour-sso"  # a token signed by the writer's site: services/sso.py
ACCOUNT_HEADER = "x-parlour-account"  # a reader's email sign-in: services/reader_accounts.py
T = TypeVar("T")


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def from_trusted_proxy(request: Request, settings: Settings) -> bool:
    """Did this request come straight from one of the configured proxies?"""
    peer = request.client.host if request.client else None
    return settings.trust_proxy and peer is not None and _in(peer, settings.proxy_networks())


def client_address(request: Request, settings: Settings) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the
    rightmost address in X-Forwarded-For that is not itself a trusted proxy. Addresses
    to its left were written by the client and can be anything, and a client talking to
    Parlour directly cannot set its address at all."""
    peer = request.client.host if request.client else "unknown"
    if not from_trusted_proxy(request, settings):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    networks = settings.proxy_networks()
    for hop in reversed(hops):
        if not _in(hop, networks):
            return hop
    return hops[0] if hops else peer


def _in(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def actor(request: Request, token: str | None = None, *, new_reader: bool = False) -> Actor:
    """Who is asking. A writer token is resolved here; any other bearer token is returned
    to the caller to check as an edit token. With `new_reader` (POST /api/v1/readers), a
    reader token that is no longer valid is no reason to refuse the browser a new one."""
    ctx = context(request)
    reader = None if new_reader else request.headers.get(READER_HEADER)
    reader_id = ctx.signer.reader_id(reader) if reader else None
    if reader and reader_id is None:
        raise errors.InvalidToken(
            "The reader token is not valid here; ask POST /api/v1/readers for a new one.",
            header="X-Parlour-Reader",
        )
    host = request.headers.get("host")
    site_id, user_id, role = _writer(ctx, token)
    return Actor(
        ip_hash=ctx.signer.ip_hash(client_address(request, ctx.settings)),
        reader_id=reader_id,
        writer_site=site_id,
        origin=request.headers.get("origin"),
        own_origin=f"{request.url.scheme}://{host}" if host else None,
        writer_user=user_id,
        writer_role=role,
        sso=request.headers.get(SSO_HEADER) or None,
        account=request.headers.get(ACCOUNT_HEADER) or None,
    )


def _writer(ctx: Context, token: str | None) -> tuple[str | None, int | None, Role | None]:
    """The site a bearer token acts for as its writer, the desk account behind it and its
    role: an API token acts as the site's owner, with no account; the widget's token from
    the desk as its account, with that account's role. Nothing for any other token (an
    edit token, checked later)."""
    if not token:
        return None, None, None
    if sites.is_writer_token(token):
        return sites.site_for_writer_token(ctx, token), None, Role.OWNER
    if accounts.is_widget_token(token):
        grant = accounts.widget_grant(ctx, token)
        return grant.site_id, grant.user_id, grant.role
    return None, None, None


async def call(ctx: Context, service: Callable[[], T]) -> T:
    """Run a service call from an async endpoint: inline on SQLite, in a worker thread on
    PostgreSQL (`Database.run` decides)."""
    return await ctx.db.run(service)


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def none_match(header: bytes | str | None, etag: bytes | str) -> bool:
    """Whether an If-None-Match header names `etag` (RFC 9110, 13.1.2): "*", or a list of
    tags compared weakly, so that `W/"x"` (what a proxy's gzip makes of `"x"`) matches."""
    if not header:
        return False
    raw = header.encode("latin-1") if isinstance(header, str) else header
    tag = etag.encode("latin-1") if isinstance(etag, str) else etag
    if raw == tag:  # what a browser sends back, the common case
        return True
    opaque = tag.removeprefix(b"W/")
    return any(t == b"*" or t.removeprefix(b"W/") == opaque for t in (p.strip() for p in raw.split(b",")))
