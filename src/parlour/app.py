"""The composition root: `create_app(settings)` wires settings, services and the web edge.

No module-level state: each app owns its context (engine, caches), opened in the lifespan.
Run it with `parlour serve`, or `uvicorn --factory parlour.app:create_app` (settings from
the environment).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.routing import Route

from parlour import __version__
from parlour.services import inbox, logs, notifications, stopping, webhooks, writer_mail
from parlour.services.consumers import ConsumerWorker
from parlour.services.context import Context, open_context
from parlour.services.mail import MailWorker
from parlour.services.webhook_delivery import WebhookWorker
from parlour.settings import Settings
from parlour.web import openapi
from parlour.web.cors import SiteCors
from parlour.web.errors import HANDLERS
from parlour.web.guard import BodyGuard
from parlour.web.observe import Observe
from parlour.web.reads import HotReads
from parlour.web.routes import hot_endpoints, routes


class _AppOrigins:
    """The allowed-origin set of the app's context, looked up per request."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    def __contains__(self, origin: object) -> bool:
        assert self.app is not None
        ctx: Context = self.app.state.ctx
        return origin in ctx.sites


def create_app(settings: Settings | None = None, context: Context | None = None) -> FastAPI:
    """A Parlour ASGI app. Pass a `context` to share one (tests); else one is opened on start."""
    settings = settings or (context.settings if context else Settings.from_env())
    logs.configure(settings)
    metrics = None
    if settings.metrics_port:  # served on its own port by `parlour serve` (services/metrics.py)
        from parlour.services.metrics import Metrics

        metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        app.state.ctx = context or open_context(settings)
        # Everything made at start lives as long as the process: keep it out of the
        # garbage collector's full passes, which otherwise walk it again and again.
        gc.freeze()
        ctx: Context = app.state.ctx
        if metrics is not None:
            metrics.watch(ctx)
        ctx.start_push()
        worker = ConsumerWorker(
            ctx.db,
            [
                inbox.CONSUMER,
                notifications.ReplyMail(ctx),
                writer_mail.CommentMail(ctx),
                webhooks.WebhookConsumer(ctx),
            ],
            ctx.now,
        )
        ctx.threads.listen(lambda _changes: worker.wake())
        worker.start()
        mailer = MailWorker(ctx)
        mailer.start()
        digests = writer_mail.DigestWorker(ctx)
        digests.start()
        hooks = WebhookWorker(ctx)
        hooks.start()
        restore_signals = stopping.end_streams_when_told_to_stop(ctx.live)
        try:
            yield
        finally:
            restore_signals()
            await hooks.stop()
            await digests.stop()
            await mailer.stop()
            await worker.stop()
            await ctx.live.close()
            if metrics is not None:
                metrics.flush()
            ctx.stop_push()
            if owned:
                ctx.close()

    origins = _AppOrigins()
    table = routes()
    app = FastAPI(
        title="Parlour",
        version=__version__,
        routes=table,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        exception_handlers=HANDLERS,
        lifespan=lifespan,
        # `/x/` for `/x` is redirected by web/errors.py, with a path of its own: Starlette's
        # redirect wrote the address from the request's Host header.
        redirect_slashes=False,
        # No OpenTelemetry provider is configured; checking for one costs ~20 µs a request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        middleware=[
            Middleware(
                Observe,
                metrics=metrics,
                # In text, granian writes the access lines (cli/server.py).
                access_log=settings.access_log and settings.log_format == "json",
                paths=frozenset(r.path for r in table if isinstance(r, Route) and "{" not in r.path),
            ),
            Middleware(SiteCors, origins=origins),
            Middleware(HotReads, endpoints=hot_endpoints(table)),
            Middleware(BodyGuard, max_bytes=settings.request_max_bytes),
        ],
    )
    origins.app = app
    if context is not None:
        app.state.ctx = context
    app.state.metrics = metrics
    openapi.install(app)
    return app
