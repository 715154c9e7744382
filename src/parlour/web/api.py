"""The JSON API under /api/v1. Views parse, call one service, and answer."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Header, Path
from starlette.requests import Request
from starlette.responses import Response

from parlour import __version__
from parlour.domain import errors
from parlour.domain.model import MAX_ID
from parlour.services import accounts, health, posting, reader_accounts
from parlour.services.clock import iso
from parlour.web import http
from parlour.web.schemas import CommentEdit, CommentIn, PreviewIn, ReaderDelete, ReaderName

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retrying with the same key returns the first result."),
]
PREVIEW_SECONDS = 2.0  # a preview that takes longer is refused (the render runs in a worker thread)

CommentId = Annotated[int, Path(ge=1, le=MAX_ID)]


# Public reads live in web/reads.py (raw ASGI, the hot path).


# Commenter writes: JSON only (BodyGuard), origin-checked per site, rate-limited.


async def create_comment(
    request: Request, payload: CommentIn, idempotency_key: IdempotencyKey = None
) -> Response:
    """Post a comment or a reply. As the writer with her token; otherwise as a reader."""
    ctx, token = http.context(request), http.bearer(request)
    new = posting.NewComment(
        site=payload.site, thread=payload.thread, body=payload.body, parent_id=payload.parent_id,
        author_name=payload.author_name, author_email=payload.author_email, title=payload.title,
        url=payload.url, notify=payload.notify,
    )  # fmt: skip
    posted = await http.call(
        ctx, lambda: posting.post_comment(ctx, http.actor(request, token), new, idempotency_key)
    )
    return http.json(
        {"comment": posted.comment, "edit_token": posted.edit_token, "notify": posted.notify},
        status=201 if posted.created else 200,
    )


async def edit_comment(request: Request, comment_id: CommentId, payload: CommentEdit) -> Response:
    """Change a comment's text with its edit token (within the window) or the writer's token."""
    ctx, token = http.context(request), http.bearer(request)
    comment = await http.call(
        ctx, lambda: posting.edit_comment(ctx, http.actor(request, token), comment_id, token, payload.body)
    )
    return http.json({"comment": comment})


async def delete_comment(request: Request, comment_id: CommentId) -> Response:
    """Remove a comment; its replies stay, under a placeholder."""
    ctx, token = http.context(request), http.bearer(request)
    comment = await http.call(
        ctx, lambda: posting.remove_comment(ctx, http.actor(request, token), comment_id, token)
    )
    return http.json({"comment": comment})


async def heart_comment(request: Request, comment_id: CommentId) -> Response:
    """Heart a comment: once per reader identity (X-Parlour-Reader), or as the writer."""
    return await _heart(request, comment_id, True)


async def unheart_comment(request: Request, comment_id: CommentId) -> Response:
    """Take a heart back."""
    return await _heart(request, comment_id, False)


async def _heart(request: Request, comment_id: int, on: bool) -> Response:
    ctx, token = http.context(request), http.bearer(request)
    result = await http.call(ctx, lambda: posting.set_heart(ctx, http.actor(request, token), comment_id, on))
    return http.json(result)


async def pin_comment(request: Request, comment_id: CommentId) -> Response:
    """Pin a top-level comment first in its thread (the writer's token only)."""
    return await _pin(request, comment_id, True)


async def unpin_comment(request: Request, comment_id: CommentId) -> Response:
    """Unpin a comment (the writer's token only)."""
    return await _pin(request, comment_id, False)


async def _pin(request: Request, comment_id: int, on: bool) -> Response:
    ctx, token = http.context(request), http.bearer(request)
    comment = await http.call(
        ctx, lambda: posting.set_pinned(ctx, http.actor(request, token), comment_id, on)
    )
    return http.json({"comment": comment})


async def preview_comment(request: Request, payload: PreviewIn) -> Response:
    """The HTML a comment body would show, rendered and sanitised as if posted. Stores nothing."""
    ctx = http.context(request)
    actor = http.actor(request)
    try:
        html = await asyncio.wait_for(
            ctx.db.run(lambda: posting.preview(ctx, actor, payload.body), heavy=True), PREVIEW_SECONDS
        )
    except TimeoutError:
        raise errors.PreviewTooComplex(field="body") from None
    return http.json({"html": html})


async def create_reader(request: Request) -> Response:
    """A signed reader identity for this browser, kept in its local storage."""
    ctx = http.context(request)
    token = await http.call(ctx, lambda: posting.issue_reader(ctx, http.actor(request, new_reader=True)))
    return http.json({"reader_token": token}, status=201)


# The writer in the widget: her sign-in, handed over by the desk, stays short-lived.


async def refresh_writer_token(request: Request) -> Response:
    """Trade a still-valid widget writer token for a fresh one, while its desk grant stands."""
    ctx, token = http.context(request), http.bearer(request)
    actor = http.actor(request)
    token_and_expiry = await http.call(ctx, lambda: accounts.refresh_widget_token(ctx, token or "", actor))
    fresh, expires = token_and_expiry
    return http.json({"writer_token": fresh, "expires_at": iso(expires)}, status=201)


async def end_writer_token(request: Request) -> Response:
    """Sign the writer out in the widget: the grant behind the token ends."""
    ctx, token = http.context(request), http.bearer(request)
    await http.call(ctx, lambda: accounts.end_widget_token(ctx, token or ""))
    return Response(status_code=204)


# A reader signed in with an email link (X-Parlour-Account): services/reader_accounts.py.


def _account(request: Request) -> str | None:
    return request.headers.get(http.ACCOUNT_HEADER) or None


async def reader_me(request: Request, site: str, thread: str | None = None) -> Response:
    """The signed-in reader, and which comments of this thread are theirs (on any device)."""
    ctx, token = http.context(request), _account(request)
    return http.json(await http.call(ctx, lambda: reader_accounts.me(ctx, token, site, thread)))


async def reader_rename(request: Request, site: str, payload: ReaderName) -> Response:
    """Change the name the reader comments under, from now on."""
    ctx, token = http.context(request), _account(request)
    return http.json(await http.call(ctx, lambda: reader_accounts.rename(ctx, token, site, payload.name)))


async def reader_sign_out(request: Request, site: str) -> Response:
    """End every session of the reader, on every device."""
    ctx, token = http.context(request), _account(request)
    await http.call(ctx, lambda: reader_accounts.sign_out(ctx, token, site))
    return Response(status_code=204)


async def reader_export(request: Request, site: str) -> Response:
    """Everything Parlour holds about the reader, as a JSON file."""
    ctx, token = http.context(request), _account(request)
    data = await http.call(ctx, lambda: reader_accounts.export(ctx, token, site))
    return http.json(data, headers={"Content-Disposition": 'attachment; filename="parlour-my-data.json"',
                                    "Cache-Control": "no-store"})  # fmt: skip


async def reader_delete(request: Request, site: str, payload: ReaderDelete) -> Response:
    """End the reader's account; their comments removed, or kept as "a former reader"."""
    ctx, token = http.context(request), _account(request)
    count = await http.call(ctx, lambda: reader_accounts.delete(ctx, token, site, payload.comments))
    return http.json({"deleted": True, "comments": count})


# Internals under /-/.


async def health_check(request: Request) -> Response:
    """Alive: the process answers. Asks nothing of the database (that is /-/ready)."""
    ctx = http.context(request)
    body = {"status": "ok", "database": ctx.db.dialect, "version": __version__}
    return http.json(body, headers={"Cache-Control": "no-store"})


async def ready_check(request: Request) -> Response:
    """Ready: the database answers and carries this code's migrations (503 otherwise)."""
    ctx = http.context(request)
    ready = await http.call(ctx, lambda: health.readiness(ctx))
    body = {"status": "ready", "revision": ready.revision, "expected": ready.expected}
    return http.json(body, headers={"Cache-Control": "no-store"})


def version(_request: Request) -> Response:
    return http.json({"version": __version__})
