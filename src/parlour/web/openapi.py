"""The OpenAPI document at /api/v1/openapi.json.

FastAPI documents its own routes; the two thin read endpoints are plain Starlette routes
for speed, so they are described here by signature-only route objects that never serve.
Tests validate real responses against this document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from parlour import __version__
from parlour.web.schemas import ERRORS, CountsOut, PageOut

Sort = Annotated[str, Query(pattern="^(oldest|newest|top)$", description="oldest (default), newest or top.")]


def _read_comments_doc(
    site: Annotated[str, Query(description="The site id.")],
    thread: Annotated[str, Query(description="The thread key (the page's path).")],
    sort: Sort = "oldest",
    limit: Annotated[int | None, Query(ge=1, description="Top-level comments per page.")] = None,
    replies_limit: Annotated[
        int | None, Query(ge=1, description="Replies kept under each top-level comment.")
    ] = None,
    cursor: Annotated[
        str | None, Query(description="`next_cursor` or `replies_cursor` from a previous page.")
    ] = None,
    root: Annotated[
        int | None, Query(description="Page through the replies under this top-level comment.")
    ] = None,
    until: Annotated[
        int | None,
        Query(description="A permalink: run the page on until it holds this comment's conversation."),
    ] = None,
) -> None:
    """A page of a thread: top-level comments (pinned first, then by `sort`) with their
    replies nested. An unknown thread of a known site is an empty thread."""


def _read_counts_doc(
    site: Annotated[str, Query(description="The site id.")],
    thread: Annotated[list[str], Query(description="Thread keys; repeat the parameter (at most 100).")],
) -> None:
    """Published comment counts for several threads; unknown threads count 0."""


DOC_ROUTES = [
    APIRoute(
        "/api/v1/comments", _read_comments_doc, methods=["GET"], response_model=PageOut, responses=ERRORS,
        tags=["read"], name="read_comments", summary="Read a thread",
    ),
    APIRoute(
        "/api/v1/counts", _read_counts_doc, methods=["GET"], response_model=CountsOut, responses=ERRORS,
        tags=["read"], name="read_counts", summary="Count comments",
    ),
]  # fmt: skip


def install(app: FastAPI) -> None:
    """Make `app.openapi()` include the thin routes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title="Parlour API",
                version=__version__,
                description="Comments, replies and hearts for writers and their readers. Errors share one "
                'envelope: `{"error": {"code", "message", "details"}}`.',
                routes=[*DOC_ROUTES, *app.routes],
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
