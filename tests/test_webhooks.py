"""Webhooks, received by a real HTTP server that checks every signature with the Standard
Webhooks reference library, on both databases: what is sent for which change, retries
under one webhook-id, giving up, sites without webhooks, the command line and the desk."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from desk_helpers import desk_client, make_user, sign_in
from factories import make_site, post, within, writer_headers
from parlour.app import create_app
from parlour.cli.main import main
from parlour.domain import errors
from parlour.domain.model import Role
from parlour.services import accounts, consumers, moderation, webhook_delivery, webhooks
from parlour.services.context import Context
from parlour.store import events
from parlour.store import webhooks as store
from plans import statements_run


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    payload: Any  # as the reference library verified and parsed it; None if it did not verify
    error: str | None


class Receiver:
    """A real HTTP server on a free port. Each POST is verified with
    `standardwebhooks.Webhook(secret).verify(body, headers)` (a bad signature is answered
    400); then the next of `answers` is the status (204 once they run out)."""

    def __init__(self) -> None:
        self.secret = ""
        self.answers: list[int] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload, error = Webhook(receiver.secret).verify(body, headers), None
                except WebhookVerificationError as exc:
                    payload, error = None, str(exc)
                with receiver._lock:
                    receiver.received.append(Received(headers, body, payload, error))
                    status = 400 if error else (receiver.answers.pop(0) if receiver.answers else 204)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", "http://127.0.0.1:9/elsewhere")
                answer = b"x" * 100_000 if status >= 500 else b""
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/parlour"

    def payloads(self) -> list[Any]:
        assert all(r.error is None for r in self.received), [r.error for r in self.received]
        return [r.payload for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()
        thread.join(5)


@pytest.fixture
def quiet(ctx: Context) -> TestClient:
    """The API without its background workers (no lifespan): the test drains and sends."""
    return TestClient(create_app(context=ctx), base_url="http://parlour.test")


def hook(ctx: Context, receiver: Receiver, site: str = "blog", types: tuple[str, ...] = ()) -> int:
    added = webhooks.add(ctx, site, receiver.url, types)
    receiver.secret = added.secret
    return added.id


def catch_up(ctx: Context, consumer: webhooks.WebhookConsumer | None = None) -> None:
    """Hand the consumer every event so far. On PostgreSQL an event is read once every
    older transaction has ended, in any database of the server (another test worker's
    too), so this drains until the cursor has passed the newest event."""
    consumer = consumer or webhooks.WebhookConsumer(ctx)
    with ctx.db.read() as tx:
        newest = tx.execute(text("SELECT tx_id, id FROM events ORDER BY tx_id DESC, id DESC LIMIT 1")).first()

    def passed() -> None:
        consumers.drain(ctx.db, consumer, ctx.now)
        with ctx.db.read() as tx:
            assert newest is None or events.cursor(tx, consumer.name) >= tuple(newest)

    within(15, passed)


def deliver(ctx: Context) -> int:
    """Turn the events so far into deliveries, and send what is due."""
    catch_up(ctx)
    return asyncio.run(webhook_delivery.send_due(ctx))


def make_due(ctx: Context) -> None:
    """Skip the wait before the next retry (the receiver checks the timestamp is recent,
    so the clock cannot be moved hours ahead)."""
    with ctx.db.write() as tx:
        tx.execute(
            text("UPDATE webhook_deliveries SET due_at = 0 WHERE delivered_at IS NULL AND failed_at IS NULL")
        )


def test_each_change_arrives_signed_with_its_type_and_the_comments_public_shape(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    first = post(quiet, "First!", author_name="Ada", author_email="ada@private.example", title="A post")
    assert deliver(ctx) == 1
    cid, token = first["comment"]["id"], first["edit_token"]
    auth = {"Authorization": f"Bearer {token}"}
    edit = quiet.patch(f"/api/v1/comments/{cid}", json={"body": "First, edited"}, headers=auth)
    assert edit.status_code == 200
    assert deliver(ctx) == 1
    assert quiet.delete(f"/api/v1/comments/{cid}", headers=writer_headers(ctx)).status_code == 200
    assert deliver(ctx) == 1
    published, edited, removed = receiver.payloads()
    assert [published["type"], edited["type"], removed["type"]] == [
        "comment.published", "comment.edited", "comment.removed",
    ]  # fmt: skip
    assert published["data"]["site"] == "blog"
    assert published["data"]["thread"]["key"] == "/post" and published["data"]["thread"]["title"] == "A post"
    comment = published["data"]["comment"]
    assert comment["id"] == cid and comment["author"]["name"] == "Ada" and "replies" not in comment
    assert comment["body"] == "First!" and comment["html"] == "<p>First!</p>\n"
    assert published["timestamp"].endswith("Z")
    assert edited["data"]["comment"]["body"] == "First, edited" and edited["data"]["comment"]["edited_at"]
    assert removed["data"]["comment"]["removed"] is True and removed["data"]["comment"]["body"] == ""
    for got in receiver.received:
        assert b"ada@private.example" not in got.body and b"ip_hash" not in got.body
        assert got.headers["content-type"] == "application/json"
        assert got.headers["user-agent"].startswith("Parlour/")
        assert got.headers["webhook-id"].startswith("msg_")
        assert got.headers["webhook-signature"].startswith("v1,")
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 3
    assert deliver(ctx) == 0  # each change once


def test_a_held_comment_arrives_as_held_and_its_approval_as_published(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
    form = {
        "name": "Blog",
        "writer_name": "Wren",
        "origins": "https://blog.example",
        "moderation": "hold_all",
    }
    moderation.save_settings(ctx, owner, "blog", moderation.read_settings(form))
    held = post(quiet, "Wait for me", author_name="Bo")["comment"]
    assert deliver(ctx) == 1
    moderation.decide(ctx, owner, [held["id"]], "approve")
    assert deliver(ctx) == 1
    [was_held, approved] = receiver.payloads()
    assert was_held["type"] == "comment.held" and was_held["data"]["comment"]["held"] is True
    assert approved["type"] == "comment.published" and approved["data"]["comment"]["held"] is False
    assert approved["data"]["comment"]["id"] == held["id"]


def test_a_retry_after_a_500_keeps_the_webhook_id_and_is_signed_again(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    receiver.answers = [500]
    post(quiet, "Hello")
    assert deliver(ctx) == 0
    with ctx.db.read() as tx:
        [waiting] = store.pending(tx)
    assert waiting.attempts == 1 and waiting.last_status == 500 and waiting.last_error is not None
    assert waiting.last_error.startswith("500 ") and len(waiting.last_error) <= 500  # the body was capped
    assert waiting.due_at - ctx.now() == pytest.approx(webhook_delivery.SCHEDULE_MS[0], abs=2_000)
    real = ctx.now
    ctx.now = lambda: real() + 1_000  # type: ignore[method-assign]
    assert deliver(ctx) == 0 and len(receiver.received) == 1  # not due yet
    ctx.now = lambda: real() + 61_000  # type: ignore[method-assign]
    assert deliver(ctx) == 1
    first, second = receiver.received
    assert first.error is None and second.error is None  # both verified
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 60
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert first.body == second.body
    with ctx.db.read() as tx:
        assert store.pending(tx) == []
        [webhook] = webhooks.list_webhooks(ctx)
    assert webhook.last is not None and webhook.last.delivered_at and webhook.last.last_status == 204


def test_a_delivery_is_given_up_after_max_attempts_on_the_suggested_schedule(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    receiver.answers = [503] * webhook_delivery.MAX_ATTEMPTS
    post(quiet, "Hello")
    waits = []
    for _ in range(webhook_delivery.MAX_ATTEMPTS):
        before = ctx.now()
        assert deliver(ctx) == 0
        with ctx.db.read() as tx:
            waits.extend(round((d.due_at - before) / 1000) for d in store.pending(tx))
        make_due(ctx)
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert len(receiver.received) == webhook_delivery.MAX_ATTEMPTS
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert deliver(ctx) == 0 and len(receiver.received) == webhook_delivery.MAX_ATTEMPTS
    [listed] = webhooks.list_webhooks(ctx)
    assert listed.last is not None and listed.last.failed_at is not None and listed.last.last_status == 503


def test_a_410_gone_gives_up_at_once_and_pauses_the_webhook(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    receiver.answers = [410]
    post(quiet, "Hello")
    assert deliver(ctx) == 0
    post(quiet, "Anyone?")
    make_due(ctx)
    assert deliver(ctx) == 0
    assert len(receiver.received) == 1
    [listed] = webhooks.list_webhooks(ctx)
    assert listed.disabled_at is not None
    webhooks.pause(ctx, listed.id, False)
    post(quiet, "Back again")
    assert deliver(ctx) == 1  # only what came after it was resumed


def test_a_claim_left_by_a_dead_process_is_taken_over_under_the_same_webhook_id(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    post(quiet, "Hello")
    catch_up(ctx)
    now = ctx.now()
    with ctx.db.write() as tx:  # claimed by a process that died before sending
        [taken] = store.claim(tx, now, now - webhook_delivery.CLAIM_STALE_MS, webhook_delivery.CLAIM_BATCH)
    assert asyncio.run(webhook_delivery.send_due(ctx)) == 0
    real = ctx.now
    ctx.now = lambda: real() + webhook_delivery.CLAIM_STALE_MS + 1_000  # type: ignore[method-assign]
    assert asyncio.run(webhook_delivery.send_due(ctx)) == 1
    [got] = receiver.received
    assert got.error is None and got.headers["webhook-id"] == taken.delivery.message_id
    [listed] = webhooks.list_webhooks(ctx)
    assert listed.last is not None and listed.last.attempts == 2


def test_finished_deliveries_are_forgotten_after_30_days(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    post(quiet, "Delivered")
    assert deliver(ctx) == 1
    receiver.answers = [500]
    post(quiet, "Still being tried")
    assert deliver(ctx) == 0
    assert webhook_delivery.prune(ctx) == 0
    real = ctx.now
    ctx.now = lambda: real() + webhook_delivery.KEEP_MS + 60_000  # type: ignore[method-assign]
    assert webhook_delivery.prune(ctx) == 1
    with ctx.db.read() as tx:
        [left] = store.pending(tx)
        assert [d.id for d in store.latest(tx, left.webhook_id, 10)] == [left.id]


def test_a_redirect_is_not_followed(ctx: Context, quiet: TestClient, receiver: Receiver) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    receiver.answers = [302]
    post(quiet, "Hello")
    assert deliver(ctx) == 0
    with ctx.db.read() as tx:
        [waiting] = store.pending(tx)
    assert waiting.last_status == 302 and "not followed" in str(waiting.last_error)
    assert len(receiver.received) == 1


def test_a_paused_webhook_keeps_its_deliveries_until_resumed(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    webhook_id = hook(ctx, receiver)
    post(quiet, "Before the pause")
    catch_up(ctx)
    webhooks.pause(ctx, webhook_id, True)
    post(quiet, "During the pause")
    assert deliver(ctx) == 0 and receiver.received == []
    webhooks.pause(ctx, webhook_id, False)
    assert deliver(ctx) == 1
    assert [p["data"]["comment"]["body"] for p in receiver.payloads()] == ["Before the pause"]


def test_a_webhook_of_another_site_hears_nothing_and_a_type_filter_holds(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    hook(ctx, receiver, "other")
    post(quiet, "On the blog")
    assert deliver(ctx) == 0 and receiver.received == []
    with ctx.db.read() as tx:
        assert store.pending(tx) == []
    edits_only = Receiver()
    webhooks.add(ctx, "blog", edits_only.url, ["comment.edited"])
    post(quiet, "Still nothing for it")
    catch_up(ctx)
    with ctx.db.read() as tx:
        assert store.pending(tx) == []
    edits_only.server.server_close()


def test_a_batch_costs_one_statement_when_its_sites_have_no_webhook(ctx: Context, quiet: TestClient) -> None:
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    webhooks.add(ctx, "other", "https://hooks.example/other")
    consumer = webhooks.WebhookConsumer(ctx)
    catch_up(ctx, consumer)  # past the sites' own events
    for count in (1, 20):
        for n in range(count):
            post(quiet, f"Comment {count}.{n}")

        def batch_of_posts(count: int = count) -> list[Any]:
            with ctx.db.read() as tx:
                batch = events.read_after(tx, *events.cursor(tx, consumer.name), consumers.BATCH)
            assert len(batch) == count and {e.kind for e in batch} == {"posted"}
            return batch

        batch = within(15, batch_of_posts)
        with ctx.db.write() as tx:
            ran = statements_run(tx, lambda batch=batch, tx=tx: consumer.handle(tx, batch))
            events.save_cursor(tx, consumer.name, batch[-1].tx_id, batch[-1].id, ctx.now())
        assert len(ran) == 1, ran  # which sites have webhooks: one query for the batch
    with ctx.db.read() as tx:
        assert store.pending(tx) == []


def test_a_running_server_delivers_on_its_own(client: TestClient, ctx: Context, receiver: Receiver) -> None:
    make_site(ctx)
    hook(ctx, receiver)
    post(client, "Hello from the widget")

    def arrived() -> Any:
        assert len(receiver.received) == 1
        return receiver.payloads()[0]

    assert within(15, arrived)["type"] == "comment.published"


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example/x", "https://user:pw@hooks.example/x", "https://@hooks.example/x", "hooks.example/x",
     "https:///x", "https://hooks.example/x#frag", "https://hooks.example/a b", "https://hooks.example:99999/"],
)  # fmt: skip
def test_a_webhook_address_must_be_plain_http_or_https(ctx: Context, url: str) -> None:
    make_site(ctx)
    with pytest.raises(errors.InvalidWebhookUrl):
        webhooks.add(ctx, "blog", url)


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_command_line_adds_lists_pauses_and_removes_webhooks(db_url: str, ctx: Context) -> None:
    make_site(ctx)
    added = run("webhook", "add", "--site", "blog", "--url", "https://hooks.example/p", "--database", db_url)
    assert added.exit_code == 0, added.output
    secret = added.output.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    Webhook(secret)  # the reference library takes it
    webhook_id = added.output.split()[1]
    listed = run("webhook", "list", "--database", db_url)
    assert (
        listed.exit_code == 0 and "https://hooks.example/p" in listed.output and "none yet" in listed.output
    )
    assert secret not in listed.output and secret.removeprefix("whsec_")[:12] not in listed.output
    filtered = run("webhook", "add", "--site", "blog", "--url", "http://10.0.0.5/in", "--event",
                   "comment.held", "--database", db_url)  # fmt: skip
    assert filtered.exit_code == 0 and "comment.held" in filtered.output
    assert run("webhook", "pause", webhook_id, "--database", db_url).exit_code == 0
    assert "paused since" in run("webhook", "list", "--site", "blog", "--database", db_url).output
    assert run("webhook", "resume", webhook_id, "--database", db_url).exit_code == 0
    removed = run("webhook", "remove", webhook_id, "--database", db_url)
    assert removed.exit_code == 0 and "removed" in removed.output
    left = run("webhook", "list", "--database", db_url).output
    assert "hooks.example/p" not in left and "10.0.0.5" in left


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["add", "--site", "nope", "--url", "https://hooks.example/p"], "unknown_site"),
        (["add", "--site", "blog", "--url", "https://me:pw@hooks.example/p"], "invalid_webhook_url"),
        (["add", "--site", "blog", "--url", "https://hooks.example/p", "--event", "comment.liked"], "invalid_input"),
        (["list", "--site", "nope"], "unknown_site"),
        (["remove", "4242"], "unknown_webhook"),
        (["pause", "99999999999999999999"], "unknown_webhook"),
    ],
)  # fmt: skip
def test_the_command_line_says_what_is_wrong_and_exits_non_zero(
    db_url: str, ctx: Context, args: list[str], code: str
) -> None:
    make_site(ctx)
    result = run("webhook", *args, "--database", db_url)
    assert result.exit_code == 1 and f"({code})" in result.output
    assert webhooks.list_webhooks(ctx) == []


def test_the_sites_owners_see_the_delivery_log_and_moderators_do_not(
    ctx: Context, quiet: TestClient, receiver: Receiver
) -> None:
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    hook(ctx, receiver)
    receiver.answers = [500, 500]  # the retry 5 s later fails too, however slow the rest is
    post(quiet, "Hello")
    deliver(ctx)
    make_user(ctx, "wren@blog.example", owner=True)
    make_user(ctx, "sam@blog.example")
    accounts.give_role(ctx, "sam@blog.example", "blog", Role.OWNER)
    make_user(ctx, "kit@blog.example")
    kit = accounts.give_role(ctx, "kit@blog.example", "blog", Role.MODERATOR)
    make_user(ctx, "mo@other.example", moderator_of=("other",))
    owner, site_owner, moderator, other = (desk_client(ctx) for _ in range(4))
    for client, email in [(owner, "wren@blog.example"), (site_owner, "sam@blog.example"),
                          (moderator, "kit@blog.example"), (other, "mo@other.example")]:  # fmt: skip
        sign_in(client, email)
    for client in (owner, site_owner):
        page = client.get("/desk/sites/blog")
        assert page.status_code == 200
        section = page.text.split('id="webhooks"')[1]
        assert receiver.url in section and "comment.published" in section
        assert "500 Internal Server Error" in section and "retrying" in section
        assert receiver.secret not in page.text and "whsec_" not in page.text
    page = moderator.get("/desk/sites/blog")
    assert page.status_code == 200
    assert 'id="webhooks"' not in page.text and receiver.url not in page.text
    assert other.get("/desk/sites/blog").status_code == 403
    with pytest.raises(errors.NotPermitted):
        webhooks.delivery_log(ctx, kit, "blog")
