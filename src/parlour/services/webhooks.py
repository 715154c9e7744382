"""Webhooks: a site's comment changes posted to addresses its owner chose, signed per
the Standard Webhooks specification (https://www.standardwebhooks.com/).

1. Adding. Only the instance's operator adds one (`parlour webhook add`): the address is
   theirs to choose, private networks included, so it is checked for form only (http
   or https, a host, no user or password in it). Each webhook gets its own signing
   secret (`whsec_` and 32 random bytes in base64), printed once and stored, since every
   delivery is signed with it.
2. Enqueueing. `WebhookConsumer` is a durable consumer of the event record: each comment
   published (posted and shown, approved from the queue, or restored), edited, removed
   or held becomes one delivery per active webhook of its site that wants that type, in
   the transaction that moves the consumer's cursor, so exactly once. Its payload (the
   comment's public shape, services/views.py, and its thread's) and its message id (the
   `webhook-id` header) are fixed then. A batch of events costs one query when no site
   in it has a webhook.
3. Sending: services/webhook_delivery.py.
4. The log. A site's owners (and the instance's) see each webhook's latest deliveries on
   the site's desk page; moderators do not.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from parlour.domain import errors
from parlour.domain.model import Event, Role, Site, User, Webhook, WebhookDelivery
from parlour.services import accounts
from parlour.services import sites as site_service
from parlour.services.clock import iso
from parlour.services.context import Context
from parlour.services.views import comment_on, public_thread
from parlour.store import Tx
from parlour.store import comments as comment_store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store
from parlour.store import webhooks as store

# What the event record says happened, as the webhook's type.
TYPES = {
    "posted": "comment.published",
    "published": "comment.published",  # approved from the queue
    "restored": "comment.published",  # shown again after a moderator removed it
    "edited": "comment.edited",
    "removed": "comment.removed",
    "held": "comment.held",
}
EVENT_TYPES = ("comment.published", "comment.edited", "comment.removed", "comment.held")
IMPORTED_MS = 3_600_000  # a comment this much older than its "posted" event was imported
LOG_LIMIT = 20  # deliveries per webhook on the desk's page
URL_MAX = 2000


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: `whsec_` and base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str) -> str:
    """An address to post to: http or https, with a host, without a user or password (the
    receiver checks the signature instead), and no fragment."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise errors.InvalidWebhookUrl(field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > URL_MAX:
        raise errors.InvalidWebhookUrl(field="url")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise errors.InvalidWebhookUrl(
            "A webhook address carries no user or password: the receiver checks each message's "
            "signature instead.",
            field="url",
        )
    if parts.fragment or any(c.isspace() or ord(c) < 32 for c in url) or port == 0:
        raise errors.InvalidWebhookUrl(field="url")
    return url


def check_types(types: Sequence[str]) -> tuple[str, ...] | None:
    """The event types a webhook is limited to; None (every type) when none are given."""
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise errors.InvalidInput(
            f"Unknown event type {unknown[0]!r}: choose from {', '.join(EVENT_TYPES)}.", field="event"
        )
    return tuple(dict.fromkeys(types)) or None


def add(ctx: Context, site_id: str, url: str, types: Sequence[str] = ()) -> Webhook:
    """A new webhook for the site, with a new secret (the caller shows it once)."""
    url, events = check_url(url), check_types(types)
    with ctx.db.write() as tx:
        site_service.require_site(tx, site_id)
        return store.add_webhook(tx, site_id, url, new_secret(), events, ctx.now())


@dataclass(frozen=True, slots=True)
class Listed:
    """A webhook as the command line lists it: never its secret."""

    id: int
    site_id: str
    url: str
    events: tuple[str, ...] | None
    created_at: int
    disabled_at: int | None
    last: WebhookDelivery | None


def list_webhooks(ctx: Context, site_id: str | None = None) -> list[Listed]:
    with ctx.db.read() as tx:
        if site_id is not None:
            site_service.require_site(tx, site_id)
        found = store.list_webhooks(tx, site_id)
        last = store.last_of_each(tx, [w.id for w in found])
    return [
        Listed(w.id, w.site_id, w.url, w.events, w.created_at, w.disabled_at, last.get(w.id)) for w in found
    ]


def remove(ctx: Context, webhook_id: int) -> Webhook:
    """Delete a webhook and its deliveries, sent or waiting: nothing more goes out."""
    with ctx.db.write() as tx:
        found = store.get_webhook(tx, webhook_id)
        if found is None:
            raise errors.UnknownWebhook()
        store.remove_webhook(tx, webhook_id)
    return found


def pause(ctx: Context, webhook_id: int, paused: bool) -> Webhook:
    """Stop sending to a webhook (its deliveries wait, and new ones are not made) or
    start again."""
    with ctx.db.write() as tx:
        found = store.get_webhook(tx, webhook_id)
        if found is None:
            raise errors.UnknownWebhook()
        store.set_disabled(tx, webhook_id, ctx.now() if paused else None)
        updated = store.get_webhook(tx, webhook_id)
    assert updated is not None
    return updated


@dataclass(frozen=True, slots=True)
class Logged:
    """A webhook on the desk's site page, with its latest deliveries (never its secret)."""

    id: int
    url: str
    events: tuple[str, ...] | None
    created_at: int
    disabled_at: int | None
    deliveries: list[WebhookDelivery]


def delivery_log(ctx: Context, user: User, site_id: str) -> list[Logged]:
    """The site's webhooks and their latest deliveries: for its owners only (the
    instance's included), since the payloads and the receivers' answers are theirs."""
    if accounts.require_site(ctx, user, site_id) is not Role.OWNER:
        raise errors.NotPermitted("Only the site's owners see its webhooks.")
    with ctx.db.read() as tx:
        return [
            Logged(w.id, w.url, w.events, w.created_at, w.disabled_at, store.latest(tx, w.id, LOG_LIMIT))
            for w in store.list_webhooks(tx, site_id)
        ]


def payload(tx: Tx, site: Site, event: Event, event_type: str) -> dict[str, object] | None:
    """What a receiver is sent about one event: the comment and its thread as readers
    see them (services/views.py: never an email, address hash or reader key), as they
    stand now. None when there is nothing to say (the comment is gone)."""
    assert event.comment_id is not None
    comment = comment_store.get_comment(tx, event.comment_id)
    if comment is None:
        return None
    if event.kind == "posted" and comment.created_at < event.created_at - IMPORTED_MS:
        return None  # an imported comment: old news to every receiver
    thread = thread_store.get_thread_by_id(tx, comment.thread_id)
    if thread is None:
        return None
    shape = comment_on(comment, site)
    del shape["replies"]  # always empty here: each reply has a message of its own
    return {
        "type": event_type,
        "timestamp": iso(event.created_at),
        "data": {
            "site": site.id,
            "thread": public_thread(site.id, thread.key, thread, site),
            "comment": shape,
        },
    }


def message_id() -> str:
    """A delivery's `webhook-id`: chosen once, the same on every retry."""
    return "msg_" + secrets.token_hex(16)


class WebhookConsumer:
    """The consumer that turns comment events into deliveries."""

    name = "webhooks"

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def handle(self, tx: Tx, batch: Sequence[Event]) -> None:
        wanted = [e for e in batch if e.kind in TYPES and e.comment_id is not None]
        if not wanted:
            return
        hooks = store.active_for_sites(tx, {e.site_id for e in wanted})
        if not hooks:
            return  # the usual case: one query for the whole batch, and nothing else
        by_site: dict[str, list[Webhook]] = {}
        for hook in hooks:
            by_site.setdefault(hook.site_id, []).append(hook)
        # From this transaction, not the process's site directory, which may not know a
        # site made a moment ago in another process.
        sites = {site_id: site_store.get_site(tx, site_id) for site_id in by_site}
        new: list[store.NewDelivery] = []
        for event in wanted:
            event_type = TYPES[event.kind]
            site = sites.get(event.site_id)
            targets = [
                h
                for h in by_site.get(event.site_id, ())
                if h.wants(event_type) and h.created_at <= event.created_at
            ]
            if not targets or site is None:
                continue
            body = payload(tx, site, event, event_type)
            if body is None:
                continue
            text = orjson.dumps(body).decode()
            new.extend(store.NewDelivery(h.id, message_id(), event_type, text) for h in targets)
        store.enqueue(tx, new, self._ctx.now())
