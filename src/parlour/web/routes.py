"""The one route table, grouped by trust. Each group says what guards it."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from parlour.web import (
    api,
    desk,
    desk_imports,
    desk_inbox,
    desk_moderation,
    events,
    feeds,
    mail_pages,
    pages,
    reader_pages,
    reads,
)
from parlour.web.schemas import (
    ERRORS,
    CommentEnvelope,
    HeartOut,
    PostedOut,
    PreviewOut,
    ReaderOut,
    WriterTokenOut,
)

V1 = "/api/v1"


def _api(path: str, endpoint: Any, method: str, model: Any, status: int = 200, **extra: Any) -> APIRoute:
    responses: dict[int | str, dict[str, Any]] = dict(ERRORS)
    if method == "POST" and model is PostedOut:
        responses[200] = {"model": model, "description": "The same comment was already posted: here it is."}
    return APIRoute(
        V1 + path, endpoint, methods=[method], response_model=model, status_code=status,
        responses=responses, **extra,
    )  # fmt: skip


def routes() -> list[BaseRoute]:
    # Public reads: cacheable, no credentials, CORS for any site's origin. The hot path.
    public_reads: list[BaseRoute] = [
        Route(V1 + "/comments", reads.read_comments, methods=["GET"]),
        Route(V1 + "/counts", reads.read_counts, methods=["GET"]),
        Route(V1 + "/events", events.thread_events, methods=["GET"]),
        Route("/comments.html", pages.thread_page, methods=["GET"]),
        Route("/feeds/{site_id}.atom", feeds.feed, methods=["GET"]),
        Route("/", pages.index_page, methods=["GET"]),
        Route("/demo", pages.demo_page, methods=["GET"]),
    ]
    # Commenter writes: JSON bodies only and size-capped (BodyGuard), CORS-preflighted,
    # origin-checked against the site, rate-limited per address in the services.
    commenter_writes: list[BaseRoute] = [
        _api("/comments", api.create_comment, "POST", PostedOut, 201, tags=["write"], summary="Post a comment"),
        _api("/comments/{comment_id}", api.edit_comment, "PATCH", CommentEnvelope, tags=["write"], summary="Edit a comment"),
        _api("/comments/{comment_id}", api.delete_comment, "DELETE", CommentEnvelope, tags=["write"], summary="Remove a comment"),
        _api("/comments/{comment_id}/heart", api.heart_comment, "PUT", HeartOut, tags=["hearts"], summary="Heart a comment"),
        _api("/comments/{comment_id}/heart", api.unheart_comment, "DELETE", HeartOut, tags=["hearts"], summary="Take a heart back"),
        _api("/comments/{comment_id}/pin", api.pin_comment, "PUT", CommentEnvelope, tags=["writer"], summary="Pin a comment"),
        _api("/comments/{comment_id}/pin", api.unpin_comment, "DELETE", CommentEnvelope, tags=["writer"], summary="Unpin a comment"),
        _api("/preview", api.preview_comment, "POST", PreviewOut, tags=["write"], summary="Preview a comment"),
        _api("/readers", api.create_reader, "POST", ReaderOut, 201, tags=["hearts"], summary="Get a reader identity"),
        _api("/writer-token", api.refresh_writer_token, "POST", WriterTokenOut, 201, tags=["writer"], summary="Refresh the widget's writer token"),
        _api("/writer-token", api.end_writer_token, "DELETE", None, 204, tags=["writer"], summary="Sign the writer out in the widget"),
        _api("/me", api.reader_me, "GET", None, tags=["readers"], summary="The signed-in reader, and their comments here"),
        _api("/me", api.reader_rename, "PATCH", None, tags=["readers"], summary="Change the reader's name"),
        _api("/me", api.reader_delete, "DELETE", None, tags=["readers"], summary="Delete the reader's account"),
        _api("/me/export", api.reader_export, "GET", None, tags=["readers"], summary="Everything Parlour holds about the reader"),
        _api("/me/sessions", api.reader_sign_out, "DELETE", None, 204, tags=["readers"], summary="Sign the reader out everywhere"),
    ]  # fmt: skip
    # The writer's desk: server-rendered pages for signed-in people. Session cookie,
    # CSRF token and same-origin check on every POST, no-store and a strict CSP (web/desk.py).
    writers_desk: list[BaseRoute] = [
        Route("/desk", desk.home, methods=["GET"]),
        Route("/desk/setup", desk.setup, methods=["GET", "POST"]),
        Route("/desk/sign-in", desk.sign_in, methods=["GET", "POST"]),
        Route("/desk/sign-in/link", desk.use_link, methods=["GET"]),
        Route("/desk/sign-in/link", desk.send_link, methods=["POST"]),
        Route("/desk/sign-in/link/use", desk.use_link, methods=["POST"]),
        Route("/desk/sign-out", desk.sign_out, methods=["POST"]),
        Route("/desk/sign-out-everywhere", desk.sign_out_everywhere, methods=["POST"]),
        Route("/desk/inbox", desk_inbox.inbox_page, methods=["GET"]),
        Route("/desk/inbox/{comment_id}/reply", desk_inbox.inbox_reply, methods=["POST"]),
        Route("/desk/inbox/{comment_id}/heart", desk_inbox.inbox_heart, methods=["POST"]),
        Route("/desk/inbox/{comment_id}/done", desk_inbox.inbox_mark_done, methods=["POST"]),
        Route("/desk/queue", desk_moderation.queue_page, methods=["GET"]),
        Route("/desk/queue", desk_moderation.queue_decide, methods=["POST"]),
        Route("/desk/comments/{comment_id}/remove", desk_moderation.remove_comment, methods=["POST"]),
        Route("/desk/comments/{comment_id}/restore", desk_moderation.restore_comment, methods=["POST"]),
        Route("/desk/comments/{comment_id}/block", desk_moderation.block_author, methods=["POST"]),
        Route("/desk/sites", desk_moderation.sites_page, methods=["GET", "POST"]),
        Route("/desk/sites/{site_id}", desk_moderation.site_page, methods=["GET", "POST"]),
        Route("/desk/sites/{site_id}/blocks", desk_moderation.block_reader, methods=["POST"]),
        Route("/desk/sites/{site_id}/unblock", desk_moderation.unblock_reader, methods=["POST"]),
        Route("/desk/sites/{site_id}/lock", desk_moderation.lock_thread, methods=["POST"]),
        Route("/desk/sites/{site_id}/widget-sign-ins", desk_moderation.end_widget_sign_in, methods=["POST"]),
        Route("/desk/sites/{site_id}/import", desk_imports.import_page, methods=["GET", "POST"]),
        Route("/desk/imports/{import_id}", desk_imports.review_page, methods=["GET", "POST"]),
        Route("/desk/audit", desk_moderation.audit_page, methods=["GET"]),
        Route("/desk/mail", desk_moderation.mail_page, methods=["GET"]),
        Route("/desk/posts", desk_inbox.posts_page, methods=["GET"]),
        Route("/desk/widget", desk_inbox.widget_handoff, methods=["GET"]),
        Route("/desk/search", desk_inbox.search_page, methods=["GET"]),
        Route("/desk/readers", desk_inbox.reader_page, methods=["GET"]),
        Route("/desk/assets/desk.css", pages.asset("desk.css"), methods=["GET"]),
        Route("/desk/assets/desk.js", pages.asset("desk.js"), methods=["GET"]),
        Route("/desk/assets/htmx-2.0.11.min.js", pages.asset("vendor/htmx-2.0.11.min.js"), methods=["GET"]),
    ]
    # Reply mail's links: a reader's signed token in the URL, a page with one button, the
    # button's POST (or a mail client's one-click POST, RFC 8058) acts. No session, no cache.
    # A reader's sign-in popup on Parlour's own origin: first-party pages (their cookie
    # names the browser), forms sent only from them, no cache, no Referer.
    reader_sign_in: list[BaseRoute] = [
        Route("/readers/sign-in", reader_pages.sign_in, methods=["GET", "POST"]),
        Route("/readers/sign-in/wait", reader_pages.wait, methods=["GET"]),
        Route("/readers/sign-in/link", reader_pages.use_link, methods=["GET", "POST"]),
        Route("/readers/assets/reader.js", pages.asset("reader.js"), methods=["GET"]),
    ]
    mail_links: list[BaseRoute] = [
        Route("/mail/confirm", mail_pages.confirm, methods=["GET", "POST"]),
        Route("/mail/leave", mail_pages.leave, methods=["GET", "POST"]),
    ]
    # Static assets: the widget, cacheable by anyone.
    assets: list[BaseRoute] = [
        Route("/embed.js", pages.asset("embed.js"), methods=["GET"]),
        Route("/embed.css", pages.asset("embed.css"), methods=["GET"]),
        Route("/count.js", pages.asset("count.js"), methods=["GET"]),
        *[
            Route(f"/i18n/{code}.json", pages.asset(f"i18n/{code}.json"), methods=["GET"])
            for code in ("en", "de", "fr", "es")
        ],
    ]
    # Internals: for operators and load balancers, never cached.
    internals: list[BaseRoute] = [
        Route("/-/health", api.health_check, methods=["GET"]),
        Route("/-/ready", api.ready_check, methods=["GET"]),
        Route("/-/version", api.version, methods=["GET"]),
    ]
    return [
        *public_reads,
        *commenter_writes,
        *writers_desk,
        *reader_sign_in,
        *mail_links,
        *assets,
        *internals,
    ]


def hot_endpoints(table: list[BaseRoute]) -> dict[str, reads.Endpoint]:
    """The bare read endpoints of the route table, by path, for the HotReads shortcut."""
    return {
        route.path: route.endpoint
        for route in table
        if isinstance(route, Route) and isinstance(route.endpoint, reads.Endpoint)
    }
