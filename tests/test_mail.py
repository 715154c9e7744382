"""Outgoing mail through a real SMTP server (aiosmtpd): `parlour mail test`, the Message-ID
a message keeps across retries, and messages refused for good, on both databases."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from parlour.cli.main import main
from parlour.services import mail
from parlour.services.context import Context
from parlour.store import outbox
from servers import free_port, kill_hard, parlour_process, served_database
from smtp_server import Server, running_smtp


def run_cli(*args: str, env: dict[str, str | None]) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_parlour_mail_test_sends_through_the_configured_server_with_the_password_from_a_file(
    smtp: tuple[Server, int], tmp_path: Path
) -> None:
    server, port = smtp
    secret = tmp_path / "smtp-url"
    # The password holds characters a URL must escape: they arrive as typed.
    secret.write_text(f"smtp://wren%40blog.example:p%40ss%3Aw%2Frd@127.0.0.1:{port}\n")
    result = run_cli(
        "mail", "test", "reader@example.com", "--database", "sqlite:///unused.db",
        env={"PARLOUR_SMTP_URL": None, "PARLOUR_SMTP_URL_FILE": str(secret), "PARLOUR_MAIL_FROM": "Wren <wren@blog.example>"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Sent to reader@example.com through 127.0.0.1:{port}" in result.output
    assert server.logins == [(b"wren@blog.example", b"p@ss:w/rd")]
    [message] = server.received
    assert message["To"] == "reader@example.com" and message["Subject"] == "Parlour mail test"
    assert message["From"] == "Wren <wren@blog.example>"
    assert str(message["Message-ID"]).endswith("@blog.example>") and message["Date"]


def test_parlour_mail_test_says_what_went_wrong(smtp: tuple[Server, int]) -> None:
    server, port = smtp
    server.refuse_recipients.add("nobody@example.com")
    refused = run_cli(
        "mail", "test", "nobody@example.com", env={"PARLOUR_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    )
    assert refused.exit_code == 1 and "No such mailbox here" in refused.output
    unset = run_cli(
        "mail", "test", "reader@example.com", env={"PARLOUR_SMTP_URL": None, "PARLOUR_SMTP_URL_FILE": None}
    )
    assert unset.exit_code == 1 and "PARLOUR_SMTP_URL is not set" in unset.output
    wrong = run_cli("mail", "test", "not an address", env={"PARLOUR_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    assert wrong.exit_code == 1 and "invalid_email" in wrong.output
    plain = run_cli(  # this server offers no STARTTLS: required, nothing goes out in clear
        "mail", "test", "reader@example.com", env={"PARLOUR_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=required"}
    )  # fmt: skip
    assert plain.exit_code == 1 and "STARTTLS" in plain.output.upper()
    assert server.received == []


def enqueue(ctx: Context, recipient: str) -> str:
    with ctx.db.write() as tx:
        return mail.enqueue(tx, ctx, recipient, "A reply to your comment", "Wren replied.")


def test_a_message_retried_after_a_temporary_refusal_keeps_its_message_id(
    make_ctx: Any, smtp: tuple[Server, int]
) -> None:
    server, port = smtp
    ctx: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{port}", mail_from="Parlour <mail@blog.example>")
    server.data_answers.append("451 4.3.0 Try again later")
    message_id = enqueue(ctx, "reader@example.com")
    assert asyncio.run(mail.send_due(ctx)) == 0  # refused for now
    assert server.refused_data == [message_id] and server.received == []
    assert asyncio.run(mail.send_due(ctx)) == 0  # not due again yet
    start = ctx.now()
    ctx.now = lambda: start + 61_000  # type: ignore[method-assign]
    assert asyncio.run(mail.send_due(ctx)) == 1
    [message] = server.received
    assert message["Message-ID"] == message_id  # the same message, as the server can tell
    with ctx.db.read() as tx:
        assert outbox.pending(tx) == [] and outbox.failed(tx) == []


def test_a_message_the_server_refuses_for_good_is_not_retried(
    make_ctx: Any, smtp: tuple[Server, int]
) -> None:
    server, port = smtp
    ctx: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{port}")
    server.refuse_recipients.add("gone@example.com")
    enqueue(ctx, "gone@example.com")
    kept = enqueue(ctx, "reader@example.com")
    assert asyncio.run(mail.send_due(ctx)) == 1  # the other message still goes out
    assert [m["Message-ID"] for m in server.received] == [kept]
    start = ctx.now()
    ctx.now = lambda: start + 30 * 86_400_000  # type: ignore[method-assign]
    assert asyncio.run(mail.send_due(ctx)) == 0
    with ctx.db.read() as tx:
        assert outbox.pending(tx) == []
        [(message, error, _when)] = outbox.failed(tx)
    assert message.recipient == "gone@example.com" and error is not None and "No such mailbox" in error


def test_a_stopping_server_gives_back_the_mail_it_could_not_finish_for_another_to_send_at_once(
    make_ctx: Any, smtp: tuple[Server, int]
) -> None:
    """A server stopping (a rolling restart) while its mail server does not answer: the
    message's claim is given back, not left to lapse after CLAIM_STALE_MS."""
    import socket

    from sqlalchemy import select

    server, port = smtp
    with socket.socket() as mute:  # accepts, never greets
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        stopping: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{mute.getsockname()[1]}")
        enqueue(stopping, "ada@example.com")

        def claimed() -> bool:
            with stopping.db.read() as tx:
                return tx.execute(select(outbox.outbox.c.claimed_at)).scalar_one() is not None

        async def start_then_stop() -> None:
            worker = mail.MailWorker(stopping)
            worker.start()
            while not claimed():
                await asyncio.sleep(0.01)
            await worker.stop()

        asyncio.run(start_then_stop())
    assert not claimed()
    other: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{port}")
    assert asyncio.run(mail.send_due(other)) == 1
    assert [m["To"] for m in server.received] == ["ada@example.com"]


def test_a_message_that_keeps_failing_is_given_up_after_max_attempts(make_ctx: Any, tmp_path: Path) -> None:
    ctx: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    enqueue(ctx, "reader@example.com")
    start = ctx.now()
    for attempt in range(mail.MAX_ATTEMPTS):
        ctx.now = lambda attempt=attempt: start + attempt * 86_400_000  # type: ignore[misc]
        assert asyncio.run(mail.send_due(ctx)) == 0
    with ctx.db.read() as tx:
        assert outbox.pending(tx) == []
        [(message, _error, _when)] = outbox.failed(tx)
    assert message.attempts == mail.MAX_ATTEMPTS


def test_the_desk_shows_the_mail_given_up_on_to_the_owners_only(ctx: Context) -> None:
    from desk_helpers import desk_client, make_user, sign_in
    from factories import make_site

    make_site(ctx)
    with ctx.db.write() as tx:
        mail.enqueue(tx, ctx, "gone@example.com", "Your Parlour sign-in link", "A link.")
        [message] = outbox.pending(tx)
        outbox.mark_failed_for_good(
            tx, message.id, "gone@example.com: 550 5.1.1 No such <mailbox>", ctx.now()
        )
    owner, moderator = desk_client(ctx), desk_client(ctx)
    sign_in(owner, make_user(ctx, "wren@blog.example", owner=True))
    sign_in(moderator, make_user(ctx, "kit@blog.example", moderator_of=("blog",)))
    page = owner.get("/desk/mail")
    assert page.status_code == 200
    row = page.text.split("<tbody>")[1].split("</tbody>")[0]
    assert "gone@example.com" in row and "Your Parlour sign-in link" in row
    assert "550 5.1.1 No such &lt;mailbox&gt;" in row  # the server's words, escaped
    assert 'href="/desk/mail"' in owner.get("/desk/inbox").text
    assert moderator.get("/desk/mail").status_code == 403
    assert 'href="/desk/mail"' not in moderator.get("/desk/inbox").text


def test_mail_to_one_address_waits_past_its_hourly_share_and_is_never_dropped(
    make_ctx: Any, smtp: tuple[Server, int]
) -> None:
    server, port = smtp
    ctx: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{port}", mail_rate_limit=2)
    start = ctx.now()
    ctx.now = lambda: start  # type: ignore[method-assign]
    first, second, third = (enqueue(ctx, "busy@example.com") for _ in range(3))
    other = enqueue(ctx, "calm@example.com")
    assert asyncio.run(mail.send_due(ctx)) == 3
    assert [m["Message-ID"] for m in server.received] == [first, second, other]
    ctx.now = lambda: start + 3_599_000  # type: ignore[method-assign]
    assert asyncio.run(mail.send_due(ctx)) == 0  # still inside the hour
    ctx.now = lambda: start + 3_600_000  # type: ignore[method-assign]
    assert asyncio.run(mail.send_due(ctx)) == 1
    assert server.received[-1]["Message-ID"] == third
    with ctx.db.read() as tx:
        assert outbox.pending(tx) == [] and outbox.failed(tx) == []


class Unwelcoming(Server):
    """A server whose trouble is its own or the setup's: the message is not to blame."""

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: Any
    ) -> Any:
        if self.answer.startswith("554 5.7.0"):
            return [self.answer]
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return self.answer


@pytest.mark.parametrize(
    "answer", ["554 5.7.0 Your address is on a block list", "554 5.7.1 Relay access denied"]
)
def test_a_refusal_that_is_the_servers_or_the_setups_is_retried_not_given_up(
    make_ctx: Any, answer: str
) -> None:
    handler = Unwelcoming(answer)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        ctx: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{port}")
        enqueue(ctx, "reader@example.com")
        assert asyncio.run(mail.send_due(ctx)) == 0
    finally:
        controller.stop()
    with ctx.db.read() as tx:
        assert outbox.failed(tx) == []
        [waiting] = outbox.pending(tx)
    assert waiting.attempts == 1  # tried again later, once the setup is fixed


def test_a_share_counts_what_another_process_holds_claimed(make_ctx: Any, smtp: tuple[Server, int]) -> None:
    server, port = smtp
    ctx: Context = make_ctx(smtp_url=f"smtp://127.0.0.1:{port}", mail_rate_limit=1)
    enqueue(ctx, "busy@example.com")
    later = enqueue(ctx, "busy@example.com")
    now = ctx.now()
    with ctx.db.write() as tx:  # another process claims the first, and is still sending it
        [held] = outbox.claim(tx, now, now - mail.CLAIM_STALE_MS, 1, outbox.PerRecipient(1))
    assert asyncio.run(mail.send_due(ctx)) == 0  # the second would be the address's second
    assert server.received == []
    with ctx.db.read() as tx:
        assert {m.message_id for m in outbox.pending(tx)} == {held.message_id, later}


@pytest.mark.parametrize(
    "url", ["smtp://mail.example?starttls=require", "smtps://mail.example?starttls=required", "smtp://h?x=1"]
)
def test_a_mail_server_url_with_an_unknown_option_is_refused_at_start(url: str) -> None:
    from parlour.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="starttls=required"):
        Settings.from_env({"PARLOUR_SMTP_URL": url, "PARLOUR_SECRET": "x"})


class Stalling(Server):
    """Takes its time over one recipient's message at one step: `rcpt` (before the message's
    text is sent) or `data` (after its final dot, before the answer), so that the sending
    process can be killed right there."""

    def __init__(self, slow: str, step: str) -> None:
        super().__init__()
        self.slow, self.step = slow, step
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.seen: list[str] = []  # Message-IDs, one per message the server took

    async def _stall(self, address: str, step: str) -> None:
        if address == self.slow and step == self.step and not self.stalled.is_set():
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        await self._stall(address, "rcpt")
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # The server has the whole message now: it keeps it, whatever becomes of the client.
        answer = await super().handle_DATA(server, session, envelope)
        self.seen.append(str(self.received[-1]["Message-ID"]))
        await self._stall(envelope.rcpt_tos[0], "data")
        return answer


@pytest.mark.slow
@pytest.mark.parametrize("step", ["rcpt", "data"])
def test_a_kill_9_while_sending_loses_no_message_and_sends_none_twice(
    db_url: str, tmp_path: Path, make_ctx: Any, step: str
) -> None:
    """Killed before the message's final dot, the message is sent again; killed after
    it (the server has it, its answer not yet read), it is never sent again."""
    handler = Stalling("b@example.org", step)
    with running_smtp(handler) as port:
        database = served_database(db_url, tmp_path)
        smtp_url = f"smtp://127.0.0.1:{port}"
        with parlour_process(database, tmp_path / "serve.log", env={"PARLOUR_SMTP_URL": smtp_url}) as (
            _,
            process,
        ):
            ctx: Context = make_ctx(database=database, smtp_url=smtp_url)
            with ctx.db.write() as tx:
                sent = [mail.enqueue(tx, ctx, f"{who}@example.org", "A reply", "Words.") for who in "abc"]
            assert handler.stalled.wait(30), (tmp_path / "serve.log").read_text()
            kill_hard(process)
        handler.release.set()
        # Another process takes over once the dead one's claims have lapsed.
        later = ctx.now() + mail.CLAIM_STALE_MS + 1
        ctx.now = lambda: later  # type: ignore[method-assign]
        while asyncio.run(mail.send_due(ctx)):
            pass
        with ctx.db.read() as tx:
            assert outbox.pending(tx) == []
        assert sorted(handler.seen) == sorted(sent)  # each Message-ID once, none lost
