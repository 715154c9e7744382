"""Reply mail with double opt-in, through a real SMTP server (aiosmtpd), on both databases:
the confirmation and its one-button page, the reply mail itself (text and HTML, links,
threading headers, RFC 8058 one-click unsubscribe), who is mailed and when."""

from __future__ import annotations

import email.message
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from starlette.testclient import TestClient

from factories import BLOG, drain_all, error_code, make_site, post, within, writer_headers
from parlour.services import consumers, mail, notifications
from parlour.services.context import Context
from parlour.store import outbox
from smtp_server import Server

PUBLIC = "https://comments.example"
SENDER = "mail@blog.example"
PAGE = BLOG + "/post"


@pytest.fixture
def mailing(client_for: Any, smtp: tuple[Server, int]) -> tuple[TestClient, Context, Server]:
    server, port = smtp
    client: TestClient = client_for(
        smtp_url=f"smtp://127.0.0.1:{port}", public_url=PUBLIC, mail_from=f"Wren's blog <{SENDER}>"
    )
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    make_site(ctx)
    return client, ctx, server


def mails_to(server: Server, address: str) -> list[email.message.EmailMessage]:
    return [m for m in server.received if m["To"] == address]


def wait_for_mail(server: Server, address: str, count: int) -> list[email.message.EmailMessage]:
    def arrived() -> list[email.message.EmailMessage]:
        found = mails_to(server, address)
        assert len(found) >= count
        return found

    return within(15, arrived)


def settle(ctx: Context) -> None:
    """Everything the events ask for is in the outbox, and everything due was sent."""
    drain_all(ctx, notifications.ReplyMail(ctx))
    within(15, lambda: _outbox_empty(ctx))


def _outbox_empty(ctx: Context) -> None:
    with ctx.db.read() as tx:
        assert outbox.pending(tx) == []


def text_of(message: email.message.EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


def link_in(message: email.message.EmailMessage, path: str) -> str:
    found = re.search(re.escape(PUBLIC + path) + r"\?token=[\w.%-]+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def as_path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def confirm(client: TestClient, server: Server, address: str) -> None:
    (confirmation,) = wait_for_mail(server, address, 1)
    response = client.post(as_path(link_in(confirmation, "/mail/confirm")))
    assert response.status_code == 200 and "is confirmed" in response.text


def subscribe(
    client: TestClient, server: Server, address: str, body: str = "A question", **fields: Any
) -> Any:
    posted = post(client, body, author_email=address, author_name="Ada", url=PAGE, notify="replies", **fields)
    confirm(client, server, address)
    return posted


def test_a_reader_who_asks_for_replies_confirms_on_a_page_and_gets_the_writers_answer(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    asked = post(client, "How do you start?", author_email="ada@example.org", author_name="Ada",
                 url=PAGE, notify="replies")  # fmt: skip
    assert asked["notify"] == "requested"
    (confirmation,) = wait_for_mail(server, "ada@example.org", 1)
    assert confirmation["Subject"] == "Confirm your address for replies on Blog"
    link = link_in(confirmation, "/mail/confirm")
    assert link in text_of(confirmation, "html").replace("&amp;", "&")

    # Following the link (as a mail scanner does) confirms nothing: the page has a button.
    page = client.get(as_path(link))
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    post(client, "Before confirming", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 1  # still only the confirmation

    assert "is confirmed" in client.post(as_path(link)).text
    answer = post(client, "Slowly, *kindly*.", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    _, reply = wait_for_mail(server, "ada@example.org", 2)
    assert reply["Subject"] == "Wren replied to you on “/post”"
    assert reply["From"] == f"Wren's blog <{SENDER}>"
    assert reply["Auto-Submitted"] == "auto-generated"
    plain, html = text_of(reply), text_of(reply, "html")
    permalink = f"{PAGE}#comment-{answer['comment']['id']}"
    assert "Wren (the author) replied to your comment" in plain and "> Slowly, *kindly*." in plain
    assert permalink in plain and permalink in html
    assert "<em>kindly</em>" in html and "Author" in html
    # Threading: the mail answers the (virtual) mail of the comment it replies to.
    assert (
        reply["In-Reply-To"].startswith("<parlour.")
        and f".c{asked['comment']['id']}." in reply["In-Reply-To"]
    )
    assert reply["References"].split()[-1] == reply["In-Reply-To"]
    # RFC 8058: an https URI and a mailto, and one-click by POST.
    unsubscribe = [u.strip().strip("<>") for u in reply["List-Unsubscribe"].split(",")]
    assert unsubscribe[0].startswith(PUBLIC + "/mail/leave?token=")
    assert unsubscribe[1].startswith(f"mailto:{SENDER}?subject=unsubscribe%20mu1.")
    assert reply["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert reply["List-Id"] == '"Blog" <blog.comments.blog.example>'
    # On the wire the headers are as written: no encoded-words (RFC 2369 allows none).
    raw = server.raw[-1].split(b"\r\n\r\n")[0].decode("ascii")
    line = next(h for h in raw.split("\r\n") if h.startswith("List-Unsubscribe:"))
    assert line == f"List-Unsubscribe: <{unsubscribe[0]}>, <{unsubscribe[1]}>"
    assert "=?" not in line


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe_is_one_post_without_signing_in_and_ends_all_mail_from_the_site(
    mailing: tuple[TestClient, Context, Server], encoding: str
) -> None:
    client, ctx, server = mailing
    asked = subscribe(client, server, "ada@example.org")
    post(client, "First answer", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    _, reply = wait_for_mail(server, "ada@example.org", 2)
    target = reply["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    if encoding == "urlencoded":
        response = client.post(as_path(target), content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    else:
        response = client.post(as_path(target), files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200, response.text
    assert "no more email" in response.text
    post(client, "Second answer", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    other = post(client, "Elsewhere", thread="/other", author_email="ada@example.org", notify="thread")
    assert other["notify"] == "requested"  # asking again after leaving: confirmed afresh
    settle(ctx)
    assert [m["Subject"] for m in mails_to(server, "ada@example.org")][2:] == [
        "Confirm your address for replies on Blog"
    ]


def test_leaving_one_conversation_keeps_the_mail_of_another(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    here = subscribe(client, server, "ada@example.org")
    there = post(client, "Over there", thread="/there", author_email="ada@example.org", notify="replies")
    assert there["notify"] == "requested"  # the same answer: it does not tell who confirmed
    post(client, "Answer here", parent_id=here["comment"]["id"], headers=writer_headers(ctx))
    _, first = wait_for_mail(server, "ada@example.org", 2)
    page = client.get(as_path(link_in(first, "/mail/leave")))  # the first leave link: this conversation
    assert "No more email for this conversation" in page.text
    assert client.get(as_path(link_in(first, "/mail/leave"))).status_code == 200  # a GET changes nothing
    post(client, "Answer here again", parent_id=here["comment"]["id"], headers=writer_headers(ctx))
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 3  # the GET stopped nothing
    assert "No more email about" in client.post(as_path(link_in(first, "/mail/leave"))).text
    post(client, "Answer here, third", parent_id=here["comment"]["id"], headers=writer_headers(ctx))
    post(
        client, "Answer there", thread="/there", parent_id=there["comment"]["id"], headers=writer_headers(ctx)
    )
    settle(ctx)
    subjects = [m["Subject"] for m in mails_to(server, "ada@example.org")]
    assert subjects[3:] == ["Wren replied to you on “/there”"]


def test_a_held_reply_mails_no_one_until_approved_and_a_removed_one_never(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    from parlour.services import accounts, moderation

    client, ctx, server = mailing
    asked = subscribe(client, server, "ada@example.org")
    owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
    form = {"name": "Blog", "writer_name": "Wren", "origins": BLOG, "moderation": "hold_all"}
    moderation.save_settings(ctx, owner, "blog", moderation.read_settings(form))
    held = post(client, "A held answer", parent_id=asked["comment"]["id"], author_name="Bo")
    gone = post(client, "Soon removed", parent_id=asked["comment"]["id"], author_name="Cy")
    assert held["comment"]["held"] and gone["comment"]["held"]
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 1
    moderation.decide(ctx, owner, [gone["comment"]["id"]], "reject")
    moderation.decide(ctx, owner, [held["comment"]["id"]], "approve")
    _, reply = wait_for_mail(server, "ada@example.org", 2)
    assert reply["Subject"] == "Bo replied to you on “/post”"
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 2


def test_a_comment_removed_before_its_mail_went_out_mails_no_one(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    asked = subscribe(client, server, "ada@example.org")
    ctx_events = notifications.ReplyMail(ctx)
    consumers.drain(ctx.db, ctx_events, ctx.now)
    answer = post(client, "Oops", parent_id=asked["comment"]["id"], author_name="Bo")
    response = client.delete(f"/api/v1/comments/{answer['comment']['id']}", headers=writer_headers(ctx))
    assert response.status_code == 200
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 1


def test_a_thread_subscriber_hears_of_every_new_comment_there_but_not_of_their_own(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    mine = post(client, "Following along", author_email="Ada@Example.org", author_name="Ada",
                url=PAGE, notify="thread")  # fmt: skip
    confirm(client, server, "ada@example.org")  # an address is kept (and mailed) lower-cased
    first = post(client, "A new voice", author_name="Bo")
    post(client, "Me again", author_email="ada@example.org", author_name="Ada")  # their own: no mail
    second = post(client, "An answer to Bo", parent_id=first["comment"]["id"], author_name="Cy")
    settle(ctx)
    received = mails_to(server, "ada@example.org")
    assert [m["Subject"] for m in received[1:]] == [
        "New comment from Bo on “/post”",
        "New comment from Cy on “/post”",
    ]
    # Cy's mail answers Bo's in Ada's mailbox, and both hang from the conversation's root.
    bo, cy = received[1], received[2]
    assert cy["In-Reply-To"] == bo["Message-ID"]
    assert cy["References"].split()[0] == bo["References"].split()[0]
    assert f".c{second['comment']['id']}." in cy["Message-ID"]
    assert mine["comment"]["id"] != first["comment"]["id"]


def test_an_address_gets_one_confirmation_a_day_however_often_it_is_typed(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    for n in range(3):
        answer = post(client, f"Comment {n}", author_email="ada@example.org", notify="replies")
        assert answer["notify"] == "requested"
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"notify": "replies"}, "email_required"),
        ({"notify": "everything", "author_email": "ada@example.org"}, "invalid_request"),
        ({"notify": "replies", "author_email": "ada@example.org, eve@example.org"}, "invalid_email"),
        ({"notify": "replies", "author_email": "Eve <eve@example.org>"}, "invalid_email"),
    ],
)
def test_asking_for_mail_without_a_plain_address_is_refused_and_stores_nothing(
    mailing: tuple[TestClient, Context, Server], fields: dict[str, str], code: str
) -> None:
    client, _, _ = mailing
    response = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "Hi", **fields}
    )
    assert response.status_code in (400, 422), response.text
    assert error_code(response) == code
    assert client.get("/api/v1/comments", params={"site": "blog", "thread": "/post"}).json()["comments"] == []


def test_without_a_public_url_asking_for_mail_is_refused_before_anything_is_written(
    client_for: Any, smtp: tuple[Server, int]
) -> None:
    client: TestClient = client_for(smtp_url=f"smtp://127.0.0.1:{smtp[1]}", public_url=None)
    make_site(client.app.state.ctx)  # type: ignore[attr-defined]
    response = client.post("/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "Hi",
                                                     "author_email": "ada@example.org", "notify": "replies"})  # fmt: skip
    assert response.status_code == 409 and error_code(response) == "public_url_missing"
    assert client.get("/api/v1/comments", params={"site": "blog", "thread": "/post"}).json()["comments"] == []


@pytest.mark.parametrize(
    "token",
    ["", "mc1.1.1.x", "mu1.1.0.AAAA", "mu1.999999.0.", "mc1.-1.5.abc", "mu1.١.0.abc", "x" * 5000],
)
def test_a_forged_mail_link_is_a_clear_404_page_and_changes_nothing(
    mailing: tuple[TestClient, Context, Server], token: str
) -> None:
    client, _, _ = mailing
    for path in ("/mail/confirm", "/mail/leave"):
        for method in ("GET", "POST"):
            response = client.request(method, path, params={"token": token})
            assert response.status_code == 404, (path, method, response.text)
            assert "This link does not work" in response.text


def test_an_expired_confirmation_link_says_so(mailing: tuple[TestClient, Context, Server]) -> None:
    client, ctx, server = mailing
    post(client, "Hi", author_email="ada@example.org", notify="replies")
    (confirmation,) = wait_for_mail(server, "ada@example.org", 1)
    link = as_path(link_in(confirmation, "/mail/confirm"))
    start = ctx.now()
    ctx.now = lambda: start + (notifications.CONFIRM_DAYS + 1) * 86_400_000  # type: ignore[method-assign]
    response = client.post(link)
    assert response.status_code == 404 and "has expired" in response.text


def test_the_leave_link_of_one_reader_cannot_be_turned_into_anothers(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, _ = mailing
    token = notifications.leave_token(ctx, 1, 0)
    reader, thread, sig = token.split(".")[1:]
    forged = f"mu1.{int(reader) + 1}.{thread}.{sig}"
    assert client.post("/mail/leave", params={"token": forged}).status_code == 404
    assert parse_qs(urlsplit(f"{PUBLIC}/mail/leave?token={token}").query)["token"] == [token]


def test_without_smtp_reply_mail_is_written_to_the_log(
    client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client: TestClient = client_for(smtp_url=None, public_url=PUBLIC)
    ctx: Context = client.app.state.ctx  # type: ignore[attr-defined]
    make_site(ctx)
    with caplog.at_level("WARNING", logger="parlour.mail"):
        post(client, "Hi", author_email="ada@example.org", notify="replies")
        within(15, lambda: _outbox_empty(ctx))
    assert any("/mail/confirm?token=mc1." in r.getMessage() for r in caplog.records)
    assert mail.sender_domain(ctx.settings)


def test_parlour_mail_leave_applies_the_mailto_unsubscribe_subject(
    mailing: tuple[TestClient, Context, Server], db_url: str
) -> None:
    from click.testing import CliRunner

    from parlour.cli.main import main

    client, ctx, server = mailing
    asked = subscribe(client, server, "ada@example.org")
    post(client, "An answer", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    _, reply = wait_for_mail(server, "ada@example.org", 2)
    mailto = reply["List-Unsubscribe"].split(",")[1].strip().strip("<>")
    subject = unquote(parse_qs(urlsplit(mailto).query)["subject"][0])
    result = CliRunner().invoke(
        main, ["mail", "leave", subject, "--database", db_url], env={"PARLOUR_SECRET": "test-secret"}
    )
    assert result.exit_code == 0, result.output
    assert "No more reply mail to ada@example.org from Blog." in result.output
    post(client, "Another answer", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 2
    bad = CliRunner().invoke(main, ["mail", "leave", "mu1.1.0.nope", "--database", db_url],
                             env={"PARLOUR_SECRET": "test-secret"})  # fmt: skip
    assert bad.exit_code != 0 and "invalid_mail_link" in bad.output


def test_a_thread_title_with_line_breaks_still_makes_a_one_line_subject(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    asked = subscribe(client, server, "ada@example.org", title="Line one\r\nBcc: eve@example.org\nline two")
    post(client, "An answer", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    _, reply = wait_for_mail(server, "ada@example.org", 2)
    assert reply["Subject"] == "Wren replied to you on “Line one Bcc: eve@example.org line two”"
    assert reply["Bcc"] is None and [m["To"] for m in server.received] == ["ada@example.org"] * 2


def test_a_tampered_token_of_a_real_reader_is_refused(mailing: tuple[TestClient, Context, Server]) -> None:
    client, ctx, server = mailing
    asked = subscribe(client, server, "ada@example.org")
    post(client, "An answer", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    _, reply = wait_for_mail(server, "ada@example.org", 2)
    token = parse_qs(urlsplit(link_in(reply, "/mail/leave")).query)["token"][0]
    prefix, reader, thread, sig = token.split(".")
    for forged in (f"{prefix}.{reader}.0.{sig}", f"{prefix}.{reader}.{thread}.{sig[:-1]}A",
                   f"mc1.{reader}.{thread}.{sig}"):  # fmt: skip
        for path in ("/mail/leave", "/mail/confirm"):
            assert client.post(path, params={"token": forged}).status_code == 404, (forged, path)
    post(client, "Still mailed", parent_id=asked["comment"]["id"], headers=writer_headers(ctx))
    wait_for_mail(server, "ada@example.org", 3)


def test_leaving_the_site_ends_every_subscription_and_old_confirmation_links(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    first = subscribe(client, server, "ada@example.org")
    (confirmation,) = mails_to(server, "ada@example.org")
    old_link = as_path(link_in(confirmation, "/mail/confirm"))
    post(client, "An answer", parent_id=first["comment"]["id"], headers=writer_headers(ctx))
    _, reply = wait_for_mail(server, "ada@example.org", 2)
    site_leave = reply["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    assert client.post(as_path(site_leave)).status_code == 200
    # Someone types her address again elsewhere: a new confirmation goes to her, the old
    # link confirms nothing, and her first subscription does not come back.
    post(client, "Elsewhere", thread="/elsewhere", author_email="ada@example.org", notify="replies")
    assert client.post(old_link).status_code == 404
    _, _, second_confirmation = wait_for_mail(server, "ada@example.org", 3)
    assert client.post(as_path(link_in(second_confirmation, "/mail/confirm"))).status_code == 200
    post(client, "Another answer", parent_id=first["comment"]["id"], headers=writer_headers(ctx))
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 3


def test_posting_the_same_comment_again_to_ask_for_mail_records_the_request(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    first = post(client, "Same words", author_email="ada@example.org", author_name="Ada")
    assert first["notify"] is None
    again = post(client, "Same words", author_email="ada@example.org", author_name="Ada", notify="replies",
                 expect=200)  # fmt: skip
    assert again["comment"]["id"] == first["comment"]["id"] and again["notify"] == "requested"
    confirm(client, server, "ada@example.org")
    post(client, "An answer", parent_id=first["comment"]["id"], headers=writer_headers(ctx))
    wait_for_mail(server, "ada@example.org", 2)


def test_a_mentioned_reader_who_asked_for_mail_hears_of_it_once_and_never_of_their_own(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    client, ctx, server = mailing
    ada = subscribe(client, server, "ada@example.org", "Beans or peas first")["comment"]
    bo = post(client, "Peas, @Ada Lovelace? No: @Ada, peas.", author_name="Bo")["comment"]
    (mention,) = wait_for_mail(server, "ada@example.org", 2)[1:]
    assert mention["Subject"] == "Bo mentioned you on “/post”"
    plain = text_of(mention)
    assert "Bo mentioned you on “/post”" in plain and f"{PAGE}#comment-{bo['id']}" in plain
    assert "and Bo mentioned you" in plain
    # A reply to Ada's comment that mentions her too: one mail, the reply's.
    post(client, "Yes @Ada", author_name="Cy", parent_id=ada["id"])
    post(client, "As I, @Ada, said", author_email="ada@example.org", author_name="Ada")  # her own
    settle(ctx)
    subjects = [m["Subject"] for m in mails_to(server, "ada@example.org")[1:]]
    assert subjects == ["Bo mentioned you on “/post”", "Cy replied to you on “/post”"]


def test_a_held_mention_mails_no_one_until_it_is_published(
    mailing: tuple[TestClient, Context, Server],
) -> None:
    from parlour.services import accounts, moderation

    client, ctx, server = mailing
    subscribe(client, server, "ada@example.org")
    post(client, "Not asking for mail", author_name="Eve")
    owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
    form = {"name": "Blog", "writer_name": "Wren", "origins": BLOG, "moderation": "hold_all"}
    moderation.save_settings(ctx, owner, "blog", moderation.read_settings(form))
    held = post(client, "Quite right, @Ada and @Eve", author_name="Bo")["comment"]
    assert held["held"]
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 1
    moderation.decide(ctx, owner, [held["id"]], "approve")
    _, mention = wait_for_mail(server, "ada@example.org", 2)
    assert mention["Subject"] == "Bo mentioned you on “/post”"
    settle(ctx)
    assert len(mails_to(server, "ada@example.org")) == 2
