"""The writer's mail, through a real SMTP server (aiosmtpd), on both databases: each new
comment, a daily digest, and the Monday mail of comments still waiting for her answer."""

from __future__ import annotations

import email.message
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from factories import BLOG, drain_all, make_site, post, within, writer_headers
from parlour.domain import errors
from parlour.domain.model import Role, WriterMail
from parlour.services import accounts, moderation, writer_mail
from parlour.services.context import Context
from parlour.store import outbox
from smtp_server import Server

PUBLIC = "https://comments.example"
WREN = "wren@blog.example"
PAGE = BLOG + "/post"


@pytest.fixture
def mailing(client_for: Any, smtp: tuple[Server, int]) -> tuple[TestClient, Context, Server]:
    server, port = smtp
    client: TestClient = client_for(smtp_url=f"smtp://127.0.0.1:{port}", public_url=PUBLIC)
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    make_site(ctx)
    ctx.boss = accounts.create_user(ctx, "boss@instance.example", "correct horse battery", is_owner=True)  # type: ignore[attr-defined]
    accounts.create_user(ctx, WREN, "correct horse battery", is_owner=False)
    accounts.give_role(ctx, WREN, "blog", Role.OWNER)
    return client, ctx, server


def choose(
    ctx: Context, mode: WriterMail = WriterMail.EACH, unanswered: bool = True, hold: bool = False
) -> None:
    boss = ctx.boss  # type: ignore[attr-defined]
    form = {"name": "Blog", "writer_name": "Wren", "origins": BLOG, "writer_mail": mode.value,
            "moderation": "hold_all" if hold else "publish", "unanswered_mail": "1" if unanswered else ""}  # fmt: skip
    moderation.save_settings(ctx, boss, "blog", moderation.read_settings(form))


def settle(ctx: Context) -> None:
    drain_all(ctx, writer_mail.CommentMail(ctx))

    def sent() -> None:
        with ctx.db.read() as tx:
            assert outbox.pending(tx) == []

    within(15, sent)


def mails(server: Server, address: str = WREN) -> list[email.message.EmailMessage]:
    return [m for m in server.received if m["To"] == address]


def text_of(message: email.message.EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


def at(ctx: Context, when: str) -> int:
    """Set the context's clock to an ISO time (UTC); returns it in ms."""
    moment = int(datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp() * 1000)
    ctx.now = lambda: moment  # type: ignore[method-assign]
    return moment


def test_each_reader_comment_mails_the_sites_owner_and_her_own_replies_do_not(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    asked = post(client, "How do you *begin*?", author_name="Ada", author_email="ada@example.org", url=PAGE)
    (first,) = within(15, lambda: _at_least(server, 1))
    assert first["Subject"] == "Ada commented on “/post”"
    plain, html = text_of(first), text_of(first, "html")
    assert "> How do you *begin*?" in plain and "<em>begin</em>" in html
    assert f"{PAGE}#comment-{asked['comment']['id']}" in plain
    assert "ada@example.org" in plain and f"{PUBLIC}/desk/inbox" in plain
    assert f"{PUBLIC}/desk/sites/blog#mail" in plain
    post(client, "Slowly.", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    settle(ctx)
    assert len(mails(server)) == 1  # her own reply: no mail
    assert mails(server, "boss@instance.example") == []  # the site has an owner of its own


def _at_least(server: Server, count: int) -> list[email.message.EmailMessage]:
    found = mails(server)
    assert len(found) >= count
    return found


def test_a_held_comment_asks_the_writer_for_a_review(mailing: tuple[TestClient, Context, Server]) -> None:
    client, ctx, server = mailing
    choose(ctx, hold=True)
    post(client, "Please look", author_name="Bo")
    (held,) = within(15, lambda: _at_least(server, 1))
    assert held["Subject"] == "Held for review: Bo on “/post”"
    assert f"Approve or reject it: {PUBLIC}/desk/queue" in text_of(held)


def test_no_mail_for_each_comment_when_the_writer_chose_a_digest_or_none(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    for mode in (WriterMail.DAILY, WriterMail.OFF):
        choose(ctx, mode)
        post(client, f"Under {mode.value}", author_name="Bo")
    settle(ctx)
    assert mails(server) == []


def test_a_daily_digest_lists_the_days_comments_once_however_many_processes_look(
    mailing: tuple[TestClient, Context, Server], make_ctx: Any
) -> None:
    client, ctx, server = mailing
    choose(ctx, WriterMail.DAILY, unanswered=False)
    at(ctx, "2026-12-04T06:00:00")  # before the window: 2026-12-04 07:00 to 12-05 07:00 (UTC)
    post(client, "Too early for this digest", author_name="Old")
    at(ctx, "2026-12-04T18:00:00")
    post(client, "An evening thought", author_name="Ada")
    at(ctx, "2026-12-05T06:30:00")
    post(client, "Before dawn", author_name="Bo")
    post(client, "Mine", headers=writer_headers(ctx))  # the writer's own: not listed
    at(ctx, "2026-12-05T07:05:00")  # PARLOUR_DIGEST_HOUR is 7 (UTC)
    other: Context = make_ctx(smtp_url=ctx.settings.smtp_url, public_url=PUBLIC)
    at(other, "2026-12-05T07:06:00")
    assert writer_mail.send_digests(ctx) + writer_mail.send_digests(other) == 1
    settle(ctx)
    (digest,) = mails(server)
    assert digest["Subject"] == "2 new comments on Blog"
    plain = text_of(digest)
    assert "An evening thought" in plain and "Before dawn" in plain
    assert "Too early" not in plain and "Mine" not in plain
    assert writer_mail.send_digests(ctx) == 0  # sent for 2026-12-04 already


def test_the_monday_mail_lists_what_is_still_waiting_for_an_answer(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    choose(ctx, WriterMail.OFF)
    answered = post(client, "Answered one", author_name="Ada")
    post(client, "Thank you!", parent_id=answered["comment"]["id"], headers=writer_headers(ctx))
    post(client, "Still waiting", author_name="Bo")
    at(ctx, "2026-12-10T08:00:00")  # a Thursday: not the day for it
    assert writer_mail.send_digests(ctx) == 0
    at(ctx, "2026-12-07T06:59:00")  # a Monday, before the digest hour
    assert writer_mail.send_digests(ctx) == 0
    at(ctx, "2026-12-07T08:00:00")  # a Monday, after the digest hour
    assert writer_mail.send_digests(ctx) == 1
    assert writer_mail.send_digests(ctx) == 0
    settle(ctx)
    (weekly,) = mails(server)
    assert weekly["Subject"] == "1 comment still waiting for your answer on Blog"
    assert "Still waiting" in text_of(weekly) and "Answered one" not in text_of(weekly)
    at(ctx, "2026-12-14T08:00:00")  # the next Monday, the mail turned off
    choose(ctx, WriterMail.OFF, unanswered=False)
    assert writer_mail.send_digests(ctx) == 0


def test_the_desk_sets_the_writers_mail_and_refuses_a_made_up_choice(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    _, ctx, _ = mailing
    choose(ctx, WriterMail.DAILY, unanswered=False)
    site = ctx.sites.get("blog")
    assert site is not None and site.writer_mail is WriterMail.DAILY and site.unanswered_mail is False
    with pytest.raises(errors.InvalidInput) as refused:
        moderation.read_settings({"writer_mail": "hourly"})
    assert refused.value.details["field"] == "writer_mail"


def test_the_sites_owner_chooses_her_mail_on_the_sites_desk_page(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    from desk_helpers import desk_client, desk_post, sign_in

    _, ctx, _ = mailing
    owner = desk_client(ctx)
    assert sign_in(owner, WREN, "correct horse battery").status_code == 303
    form = {
        "name": "Blog",
        "writer_name": "Wren",
        "origins": BLOG,
        "moderation": "publish",
        "writer_mail": "daily",
    }
    saved = desk_post(owner, "/desk/sites/blog", form, page="/desk/sites/blog")
    assert saved.status_code in (200, 303), saved.text
    page = owner.get("/desk/sites/blog").text
    assert 'name="writer_mail" value="daily" checked' in page
    assert 'name="unanswered_mail" value="1">' in page  # left unticked: turned off
    site = ctx.sites.get("blog")
    assert site is not None and site.writer_mail is WriterMail.DAILY and not site.unanswered_mail
    refused = desk_post(owner, "/desk/sites/blog", {**form, "writer_mail": "hourly"}, page="/desk/sites/blog")
    assert refused.status_code == 422 and 'data-code="invalid_input"' in refused.text
