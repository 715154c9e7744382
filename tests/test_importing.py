"""The import runner: records from any format become threads of comments, once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.testclient import TestClient

from factories import drain_all, make_site, post, read, walk, within
from parlour.cli.main import main
from parlour.domain import errors
from parlour.domain.imports import CommentRecord, Skipped, State, ThreadRecord, bad_file
from parlour.domain.model import Status
from parlour.services import importing
from parlour.services.context import Context
from parlour.store import events
from parlour.store import search as search_store
from parlour.store import threads as thread_store
from parlour.store.schema import comments, imported_comments, imports, outbox, webhook_deliveries
from parlour.store.schema import inbox as inbox_table

DAY = 86_400_000
T0 = 1_500_000_000_000  # 2017


def a_thread(n: int = 1, **fields: Any) -> ThreadRecord:
    fields.setdefault("url", f"https://old.example/post-{n}/")
    return ThreadRecord(source_id=f"t{n}", title=f"Post {n}", **fields)


def a_comment(n: int, thread: str = "t1", parent: int | None = None, **fields: Any) -> CommentRecord:
    fields.setdefault("body", f"Comment number {n}.")
    fields.setdefault("author_name", f"Reader {n}")
    return CommentRecord(
        source_id=f"c{n}", thread=thread, parent=None if parent is None else f"c{parent}",
        created_at=T0 + n * DAY, **fields,
    )  # fmt: skip


def run(ctx: Context, records: list[Any], **options: Any) -> importing.Report:
    options.setdefault("site_id", "blog")
    options.setdefault("format", "test")
    return importing.run(ctx, records, importing.Options(**options))


def count(ctx: Context, table: Any) -> int:
    with ctx.db.read() as tx:
        return int(tx.execute(select(func.count()).select_from(table)).scalar_one())


def conversation() -> list[Any]:
    """A post with a tree given in an awkward order: a reply before its parent."""
    return [
        a_thread(1),
        a_comment(3, parent=2, body="A reply to a reply."),
        a_comment(1),
        a_comment(2, parent=1, author_name="Wren", author_email="wren@blog.example"),
        a_comment(4, hearts=7),
    ]


@pytest.fixture
def site(ctx: Context) -> Iterator[str]:
    yield make_site(ctx)


def test_an_import_keeps_the_tree_dates_and_hearts(ctx: Context, client: TestClient, site: str) -> None:
    report = run(ctx, conversation(), writer_email="WREN@blog.example")
    assert (report.threads, report.threads_new, report.comments, report.replies, report.writer_replies) == (
        1,
        1,
        4,
        2,
        1,
    )
    page = read(client, thread="/post-1/")
    assert page["thread"]["comment_count"] == 4
    tops = page["comments"]
    assert [c["html"] for c in tops] == ["<p>Comment number 1.</p>\n", "<p>Comment number 4.</p>\n"]
    first = tops[0]
    assert first["created_at"].startswith("2017-07-15")
    reply = first["replies"][0]
    assert reply["author"]["is_writer"] and reply["author"]["name"] == "Wren"
    assert reply["replies"][0]["html"] == "<p>A reply to a reply.</p>\n"
    assert tops[1]["hearts"] == 7
    with ctx.db.read() as tx:
        thread = thread_store.get_thread(tx, "blog", "/post-1/")
        assert thread is not None and thread.title == "Post 1" and thread.comment_count == 4


def test_importing_the_same_records_again_adds_nothing(ctx: Context, site: str) -> None:
    run(ctx, conversation())
    again = run(ctx, [*conversation(), a_comment(5, parent=3)])
    assert (again.comments, again.already, again.threads_new, again.replies) == (1, 4, 0, 1)
    assert count(ctx, comments) == 5
    with ctx.db.read() as tx:
        parent_depth = tx.execute(
            select(comments.c.depth).where(comments.c.body == "Comment number 5.")
        ).scalar_one()
    assert parent_depth == 3  # under c3, which the first run stored


def test_a_dry_run_reports_everything_and_stores_nothing(ctx: Context, site: str) -> None:
    report = run(ctx, conversation(), dry_run=True)
    assert (report.comments, report.threads_new, report.dry_run) == (4, 1, True)
    assert count(ctx, comments) == 0 and count(ctx, imports) == 0 and count(ctx, imported_comments) == 0
    with ctx.db.read() as tx:
        assert thread_store.get_thread(tx, "blog", "/post-1/") is None


def test_states_go_where_they_belong(ctx: Context, client: TestClient, site: str) -> None:
    report = run(ctx, [
        a_thread(1),
        a_comment(1, state=State.PENDING),
        a_comment(2, state=State.SPAM),
        a_comment(3, state=State.REMOVED),
        a_comment(4, parent=3),
        a_comment(5, parent=1),  # a published reply to a held comment
    ])  # fmt: skip
    assert (report.held, report.spam, report.removed) == (1, 1, 1)
    page = read(client, thread="/post-1/")
    shown = walk(page["comments"])
    assert [c["removed"] for c in shown][:2] == [True, False]
    assert page["thread"]["comment_count"] == 2  # c4 under the removed c3, and c5 lifted to the top level
    with ctx.db.read() as tx:
        held = tx.execute(
            select(comments.c.status).where(comments.c.body == "Comment number 1.")
        ).scalar_one()
    assert held == Status.PENDING.value


def test_a_comment_without_words_is_kept_as_removed_so_its_replies_keep_their_place(
    ctx: Context, client: TestClient, site: str
) -> None:
    report = run(ctx, [
        a_thread(1),
        a_comment(1, body=""),  # Disqus's <message/>: answered
        a_comment(2, parent=1, body="An answer to nothing much."),
        a_comment(3, body="  \n "),  # answered by nobody
        a_comment(4, body="", state=State.SPAM),
    ])  # fmt: skip
    assert (report.comments, report.removed, report.spam, report.orphans) == (4, 2, 1, 0)
    page = read(client, thread="/post-1/")
    assert [(c["removed"], c["html"]) for c in page["comments"]] == [(True, "")]
    assert page["comments"][0]["replies"][0]["html"] == "<p>An answer to nothing much.</p>\n"
    assert page["thread"]["comment_count"] == 1


def test_imported_comments_mail_nobody_and_announce_one_event_per_thread(ctx: Context, site: str) -> None:
    from parlour.services import inbox, notifications, webhooks, writer_mail

    webhooks.add(ctx, "blog", "https://hooks.example/in", ())
    run(ctx, [*conversation(), a_thread(2), a_comment(9, thread="t2")])

    def two_imported() -> list[str]:  # on PostgreSQL, once no older transaction is open
        with ctx.db.read() as tx:
            kinds = [e.kind for e in events.read_after(tx, 0, 0, 100)]
        assert kinds.count("imported") == 2
        return kinds

    assert "posted" not in within(15, two_imported)
    for consumer in (
        inbox.CONSUMER,
        notifications.ReplyMail(ctx),
        writer_mail.CommentMail(ctx),
        webhooks.WebhookConsumer(ctx),
    ):
        drain_all(ctx, consumer)
    assert count(ctx, outbox) == 0 and count(ctx, webhook_deliveries) == 0
    with ctx.db.read() as tx:
        assert tx.execute(select(func.count()).select_from(inbox_table)).scalar_one() == 0


def test_map_url_rewrites_old_addresses_into_thread_keys(ctx: Context, site: str) -> None:
    run(ctx, [a_thread(1, url="http://old.example/blog/2019/caf%C3%A9/?utm=x"), a_comment(1)],
        map_url=(("http://old.example/blog/", "https://new.example/posts/"),))  # fmt: skip
    with ctx.db.read() as tx:
        assert thread_store.get_thread(tx, "blog", "/posts/2019/caf%C3%A9/") is not None


def test_thread_keys_are_percent_encoded_as_browsers_do() -> None:
    assert importing.thread_key_of("https://x.example/café déjà", ()) == "/caf%C3%A9%20d%C3%A9j%C3%A0"
    assert importing.thread_key_of("https://x.example", ()) == "/"
    assert importing.thread_key_of("/p/a-post?x=1#c", ()) == "/p/a-post"
    assert importing.thread_key_of("https://blog.example/?p=42", ()) == "/?p=42"  # WordPress, plain links
    assert importing.thread_key_of("http://blog.example/index.php?page_id=7#x", ()) == "/index.php?page_id=7"
    assert importing.thread_key_of("/?p=1", ()) == "/?p=1"
    # a blog installed in a folder, with plain links: each post its own thread
    assert importing.thread_key_of("https://b.example/site/?p=1000", ()) == "/site/?p=1000"
    assert (
        importing.thread_key_of("https://b.example/site/?page_id=7&lang=en", ()) == "/site/?page_id=7&lang=en"
    )
    assert importing.thread_key_of("https://b.example/site/?s=beans", ()) == "/site/"  # a search, not a post


def test_a_file_that_names_no_address_needs_a_thread_key(ctx: Context, site: str) -> None:
    records = [ThreadRecord(source_id="post"), a_comment(1, thread="post")]
    with pytest.raises(errors.InvalidParameter, match="--thread KEY"):
        run(ctx, records)
    assert count(ctx, comments) == 0
    report = run(ctx, records, thread_key="/p/named")
    assert report.comments == 1
    with ctx.db.read() as tx:
        assert thread_store.get_thread(tx, "blog", "/p/named") is not None


def test_a_thread_closed_in_its_old_home_is_locked(ctx: Context, site: str) -> None:
    run(ctx, [a_thread(1, closed=True), a_comment(1)])
    with ctx.db.read() as tx:
        thread = thread_store.get_thread(tx, "blog", "/post-1/")
    assert thread is not None and thread.locked


def test_skipped_records_and_unknown_threads_are_counted(ctx: Context, site: str) -> None:
    report = run(
        ctx,
        [
            a_thread(1),
            a_comment(1),
            Skipped("pingback"),
            Skipped("pingback"),
            a_comment(2, thread="nowhere"),
            a_comment(1),
        ],
    )
    assert report.skipped == {"pingback": 2, "thread not in the file": 1, "named twice in the file": 1}
    assert report.comments == 1


def test_a_cycle_of_parents_lands_at_the_top_level(ctx: Context, site: str) -> None:
    report = run(ctx, [a_thread(1), a_comment(1, parent=2), a_comment(2, parent=1)])
    assert report.comments == 2 and report.orphans >= 1


def test_a_writer_is_recognised_by_her_name_folded(ctx: Context, site: str) -> None:
    report = run(ctx, [a_thread(1), a_comment(1, author_name="ＷＲＥＮ")], writer_name="wren")
    assert report.writer_replies == 1


def test_a_broken_file_stores_nothing_even_after_good_records(ctx: Context, site: str) -> None:
    def records() -> Iterator[Any]:
        yield from conversation()
        raise bad_file("unexpected end of file", line=42)

    with pytest.raises(errors.InvalidImportFile, match="line 42"):
        run(ctx, records())  # type: ignore[arg-type]
    assert count(ctx, comments) == 0


def test_an_unknown_site_is_refused(ctx: Context) -> None:
    with pytest.raises(errors.UnknownSite):
        run(ctx, conversation(), site_id="nowhere")


def test_held_imports_open_a_review(ctx: Context, site: str) -> None:
    report = run(ctx, conversation(), format="paste")
    assert report.held == 4
    with ctx.db.read() as tx:
        review = tx.execute(select(imports.c.review).where(imports.c.id == report.import_id)).scalar_one()
    assert review == "pending"


def test_the_import_command_needs_a_known_format(db_url: str, tmp_path: Any) -> None:
    path = tmp_path / "x.txt"
    path.write_text("x")
    result = CliRunner().invoke(
        main, ["import", "nonsense", str(path), "--site", "blog", "--database", db_url]
    )
    assert result.exit_code == 2 and "nonsense" in result.output


def test_pins_and_rejections_come_along(ctx: Context, client: TestClient, site: str) -> None:
    report = run(ctx, [
        a_thread(1), a_comment(1), a_comment(2, pinned=True), a_comment(3, parent=2, pinned=True),
        a_comment(4, state=State.REJECTED),
    ])  # fmt: skip
    assert report.rejected == 1
    tops = read(client, thread="/post-1/")["comments"]
    assert [c["pinned"] for c in tops] == [True, False]  # a reply cannot be pinned
    assert not tops[0]["replies"][0]["pinned"] and len(tops) == 2


def test_imported_comments_and_later_ones_are_found_by_search(
    ctx: Context, client: TestClient, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "TX_COMMENTS", 2)  # several transactions
    records = [a_thread(1), a_thread(2)]
    records += [a_comment(n, thread=f"t{1 + n % 2}", body=f"Lantern number {n}.") for n in range(1, 8)]
    run(ctx, records)
    post(client, "A lantern posted after the import.", thread="/post-1/")
    with ctx.db.read() as tx:
        found = search_store.search_comments(tx, [site], "lantern")
        assert sorted(f.html for f in found) == sorted(
            [
                "<p>A lantern posted after the import.</p>\n",
                *(f"<p>Lantern number {n}.</p>\n" for n in range(1, 8)),
            ]
        )
        if ctx.db.is_sqlite:  # the search index agrees with the table
            tx.exec_driver_sql("INSERT INTO comments_fts(comments_fts, rank) VALUES ('integrity-check', 1)")


def test_a_batch_that_fails_stores_none_of_its_threads(
    ctx: Context, client: TestClient, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = importing.lifecycle.store_imported

    def fail_on_the_second_thread(tx: Any, site_: Any, thread: Any, placed: Any, now: int) -> Any:
        if thread.key == "/post-2/":
            raise RuntimeError("the disk is full")
        return stored(tx, site_, thread, placed, now)

    monkeypatch.setattr(importing.lifecycle, "store_imported", fail_on_the_second_thread)
    with pytest.raises(RuntimeError):
        run(ctx, [a_thread(1), a_thread(2), a_comment(1, body="Lantern one."), a_comment(2, thread="t2")])
    assert count(ctx, comments) == 0  # both threads were one transaction
    post(client, "A lantern posted after the failure.", thread="/post-1/")
    with ctx.db.read() as tx:
        assert [f.html for f in search_store.search_comments(tx, [site], "lantern")] == [
            "<p>A lantern posted after the failure.</p>\n"
        ]
