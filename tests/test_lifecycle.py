"""One comment lifecycle: every change writes its counters, its event and its audit line
together, in the caller's transaction, and an edit passes the checks a new comment does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from starlette.testclient import TestClient

from factories import error_code, make_site, post, read, writer_headers
from parlour.domain import errors
from parlour.domain.model import Actor, Event, Status
from parlour.services import consumers, inbox, lifecycle, moderation, posting
from parlour.services.context import Context
from parlour.store import Tx, audit, events
from parlour.store import comments as comment_store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store
from parlour.store.database import Database
from parlour.store.imports import COMMENT_COLUMNS
from plans import plan_steps, statements_run


def kinds(ctx: Context, comment_id: int) -> list[str]:
    with ctx.db.read() as tx:
        return [e.kind for e in events.for_comment(tx, comment_id)]


def settings_form(**changes: str) -> dict[str, str]:
    form = {"name": "Blog", "writer_name": "Wren", "origins": "https://blog.example", "writer_heart": "1"}
    return {**form, **changes}


@pytest.fixture
def owner(ctx: Context) -> Any:
    from parlour.services import accounts

    make_site(ctx)
    return accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)


def test_each_change_to_a_comment_writes_one_event_naming_it(
    ctx: Context, client: TestClient, owner: Any
) -> None:
    comment = post(client, "A first thought")["comment"]
    reply = post(client, "And a reply", parent_id=comment["id"])["comment"]
    posting.set_heart(ctx, Actor(ip_hash="w", writer_site="blog"), comment["id"], True)
    posting.set_pinned(ctx, Actor(ip_hash="w", writer_site="blog"), comment["id"], True)
    moderation.remove(ctx, owner, reply["id"], "off topic")
    moderation.restore(ctx, owner, reply["id"])
    assert kinds(ctx, comment["id"]) == ["posted", "hearted", "pinned"]
    assert kinds(ctx, reply["id"]) == ["posted", "removed", "restored"]
    with ctx.db.read() as tx:
        event = events.for_comment(tx, reply["id"])[0]
        thread = thread_store.get_thread(tx, "blog", "/post")
    assert thread is not None
    assert (event.site_id, event.thread_id) == ("blog", thread.id)


def test_removing_and_restoring_keep_the_counts_right(ctx: Context, client: TestClient, owner: Any) -> None:
    top = post(client, "Top")["comment"]
    reply = post(client, "Reply", parent_id=top["id"])["comment"]
    moderation.remove(ctx, owner, reply["id"])
    page = read(client)
    assert page["thread"]["comment_count"] == 1
    assert page["comments"][0]["reply_count"] == 0
    assert moderation.restore(ctx, owner, reply["id"]) is True
    assert moderation.restore(ctx, owner, reply["id"]) is False  # already shown: nothing changes
    page = read(client)
    assert page["thread"]["comment_count"] == 2
    assert page["comments"][0]["reply_count"] == 1
    assert [r["body"] for r in page["comments"][0]["replies"]] == ["Reply"]


def test_a_moderators_removal_and_its_audit_line_commit_together(
    ctx: Context, client: TestClient, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    comment = post(client, "Keep me")["comment"]

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(audit, "record", crash)
    with pytest.raises(RuntimeError):
        moderation.remove(ctx, owner, comment["id"], "spam")
    monkeypatch.undo()
    assert read(client)["comments"][0]["body"] == "Keep me"  # nothing of the removal stayed
    assert kinds(ctx, comment["id"]) == ["posted"]
    moderation.remove(ctx, owner, comment["id"], "spam")
    entries = moderation.audit_entries(ctx, owner)
    assert [(e.action, e.comment_id, e.reason) for e in entries][:1] == [("remove", comment["id"], "spam")]


def test_a_reply_from_the_inbox_writes_its_audit_line_in_its_own_transaction(
    ctx: Context, client: TestClient, owner: Any
) -> None:
    comment = post(client, "Do you have a reading list?")["comment"]
    answer = inbox.reply(ctx, owner, comment["id"], "Yes, at the end of the post.", "desk")
    entries = moderation.audit_entries(ctx, owner)
    assert [(e.action, e.comment_id) for e in entries] == [("reply", answer["id"])]
    assert kinds(ctx, answer["id"]) == ["posted"]


@pytest.mark.parametrize(
    ("rule", "text", "code"),
    [
        ({"rejected_words": "casino"}, "Visit my casino", "comment_rejected"),
        ({"held_words": "discount"}, "A discount for you", "edit_needs_review"),
        ({"max_links": "0"}, "See https://example.com", "edit_needs_review"),
        ({"moderation": "hold_all"}, "Changed my mind", "edit_needs_review"),
    ],
)
def test_an_edit_passes_the_same_checks_as_a_new_comment(
    ctx: Context, client: TestClient, owner: Any, rule: dict[str, str], text: str, code: str
) -> None:
    created = post(client, "An honest comment")
    moderation.save_settings(ctx, owner, "blog", moderation.read_settings(settings_form(**rule)))
    answer = client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"body": text},
        headers={"Authorization": f"Bearer {created['edit_token']}"},
    )
    assert error_code(answer) == code
    assert answer.status_code in (403, 422)
    assert read(client)["comments"][0]["body"] == "An honest comment"
    assert kinds(ctx, created["comment"]["id"]) == ["posted"]


def test_an_edit_on_a_locked_thread_is_refused(ctx: Context, client: TestClient, owner: Any) -> None:
    created = post(client, "Before the lock")
    moderation.set_thread_locked(ctx, owner, "blog", "/post", True)
    answer = client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"body": "After the lock"},
        headers={"Authorization": f"Bearer {created['edit_token']}"},
    )
    assert error_code(answer) == "thread_locked"
    assert read(client)["comments"][0]["body"] == "Before the lock"


def test_an_acceptable_edit_is_recorded(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    created = post(client, "Typo hree")
    answer = client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"body": "Typo here"},
        headers={"Authorization": f"Bearer {created['edit_token']}"},
    )
    assert answer.status_code == 200, answer.text
    assert kinds(ctx, created["comment"]["id"]) == ["posted", "edited"]


def test_the_writer_edits_her_own_comment_without_review(
    ctx: Context, client: TestClient, owner: Any
) -> None:
    mine = post(client, "From the writer", headers=writer_headers(ctx))["comment"]
    moderation.save_settings(
        ctx, owner, "blog", moderation.read_settings(settings_form(moderation="hold_all"))
    )
    answer = client.patch(
        f"/api/v1/comments/{mine['id']}", json={"body": "Edited by the writer"}, headers=writer_headers(ctx)
    )
    assert answer.status_code == 200, answer.text


def test_an_importer_creates_comments_with_their_own_author_time_and_status(ctx: Context) -> None:
    make_site(ctx)
    with ctx.db.write() as tx:
        site = site_store.get_site(tx, "blog")
        assert site is not None
        thread = thread_store.get_or_create_thread(tx, "blog", "/old-post", "An old post", None, 1_000)
        author = lifecycle.Author(key="import:ann", ip_hash="import", name="Ann", email="ann@example.com")
        text = lifecycle.Text("Written in 2019", "<p>Written in 2019</p>")
        first = lifecycle.create(
            tx, site, thread, None, author, text, Status.PUBLISHED, 2_000, created_at=1_500
        )
        held = lifecycle.create(
            tx, site, thread, first, author, text, Status.PENDING, 2_000, created_at=1_600
        )
    with ctx.db.read() as tx:
        stored = comment_store.get_comment(tx, first.id)
        waiting = comment_store.get_comment(tx, held.id)
        thread_now = thread_store.get_thread(tx, "blog", "/old-post")
    assert stored is not None and waiting is not None and thread_now is not None
    assert (stored.created_at, stored.author_name, stored.status) == (1_500, "Ann", Status.PUBLISHED)
    assert (waiting.parent_id, waiting.root_id, waiting.depth, waiting.status) == (
        first.id,
        first.id,
        1,
        Status.PENDING,
    )
    assert thread_now.comment_count == 1  # the held one does not count until published
    assert stored.reply_count == 0


def test_approving_from_the_queue_publishes_counts_and_records(
    ctx: Context, client: TestClient, owner: Any
) -> None:
    moderation.save_settings(
        ctx, owner, "blog", moderation.read_settings(settings_form(moderation="hold_all"))
    )
    held = post(client, "Please approve")["comment"]
    assert read(client)["thread"]["comment_count"] == 0
    assert moderation.decide(ctx, owner, [held["id"]], "approve") == 1
    assert moderation.decide(ctx, owner, [held["id"]], "approve") == 0
    assert read(client)["thread"]["comment_count"] == 1
    assert kinds(ctx, held["id"]) == ["held", "published"]


class Recorder:
    """A consumer that remembers what it was handed, and can fail once."""

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.seen: list[int] = []
        self.fail_next = False

    def handle(self, tx: Tx, batch: Sequence[Event]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("crashed while handling")
        self.seen.extend(e.id for e in batch)


def drain_all(ctx: Context, consumer: Any, expect: int) -> int:
    """Drain until `expect` events came, for up to 5 s. On PostgreSQL an event is readable
    once every older transaction on the server has ended: another test's too, when the
    suite runs in parallel on one server."""
    deadline = time.monotonic() + 5
    done = consumers.drain(ctx.db, consumer, ctx.now)
    while done < expect and time.monotonic() < deadline:
        time.sleep(0.02)
        done += consumers.drain(ctx.db, consumer, ctx.now)
    return done


def test_a_consumer_sees_each_event_once_in_order_and_again_after_a_crash(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    for i in range(5):
        post(client, f"comment {i}")
    recorder = Recorder()
    assert drain_all(ctx, recorder, 6) == 6  # the site's creation, then five posts
    assert recorder.seen == sorted(recorder.seen) and len(set(recorder.seen)) == 6
    post(client, "one more")
    recorder.fail_next = True
    deadline = time.monotonic() + 5
    with pytest.raises(RuntimeError):
        while time.monotonic() < deadline:  # until the new event is readable, and fails
            consumers.drain(ctx.db, recorder, ctx.now)
            time.sleep(0.02)
    assert drain_all(ctx, recorder, 1) == 1  # the failed batch comes again
    assert consumers.drain(ctx.db, recorder, ctx.now) == 0
    assert len(recorder.seen) == len(set(recorder.seen)) == 7
    other = Recorder("another")  # each consumer has its own cursor, from the start
    assert drain_all(ctx, other, 7) == 7


def test_an_event_committed_late_is_not_skipped(ctx: Context, db_url: str) -> None:
    """On PostgreSQL ids are handed out before commit: a consumer must not move past an
    event of a transaction still open, or it would never see it."""
    make_site(ctx)
    recorder = Recorder()
    drain_all(ctx, recorder, 1)
    if ctx.db.is_sqlite:  # one writer at a time: the second waits for the first to commit
        pytest.skip("SQLite commits its writers one at a time, in id order")
    slow = Database(db_url)
    try:
        with slow.write() as tx:
            events.append(tx, "posted", "blog", None, None, ctx.now())  # takes the lower id, stays open
            with ctx.db.write() as other:
                events.append(other, "posted", "blog", None, None, ctx.now())  # commits first
            consumers.drain(ctx.db, recorder, ctx.now)
            before = list(recorder.seen)
        drain_all(ctx, recorder, 2)
    finally:
        slow.dispose()
    assert len(before) == 1  # the site's creation only: the later event waits for the earlier
    assert len(recorder.seen) == 3 and recorder.seen[1] < recorder.seen[2]


def test_the_inbox_follows_replies_removals_and_restores(
    ctx: Context, client: TestClient, owner: Any
) -> None:
    question = post(client, "What did you read this week?")["comment"]
    assert [i.id for i in inbox.waiting(ctx, owner)] == [question["id"]]
    answer = inbox.reply(ctx, owner, question["id"], "A novel about a lighthouse.", "desk")
    assert inbox.waiting(ctx, owner) == []
    moderation.remove(ctx, owner, answer["id"])
    assert [i.id for i in inbox.waiting(ctx, owner)] == [question["id"]]  # unanswered again
    moderation.restore(ctx, owner, answer["id"])
    assert inbox.waiting(ctx, owner) == []
    inbox.mark_done(ctx, owner, question["id"], False)
    assert inbox.waiting(ctx, owner) == []  # answered by the reply all the same


def caught_up(ctx: Context) -> None:
    """Drain the inbox consumer until it has handled every event (the app's own worker
    may be draining it too); fail if it cannot within 5 s."""
    deadline = time.monotonic() + 5
    while True:
        consumers.drain(ctx.db, inbox.CONSUMER, ctx.now)
        with ctx.db.read() as tx:
            if events.cursor(tx, inbox.CONSUMER.name)[1] == events.last_id(tx):
                return
        if time.monotonic() > deadline:
            pytest.fail("the inbox consumer did not catch up within 5 s")
        time.sleep(0.02)


def inbox_rows(ctx: Context) -> list[int]:
    from sqlalchemy import select

    from parlour.store.schema import inbox as inbox_table

    with ctx.db.read() as tx:
        return sorted(row[0] for row in tx.execute(select(inbox_table.c.comment_id)))


def test_the_inbox_consumer_handles_a_whole_batch_of_changes_at_once(
    ctx: Context, client: TestClient, owner: Any
) -> None:
    """The writer's answer, a reader's reply, a removal, a "no reply needed" and a new
    post, drained together: the inbox table ends up holding exactly the comments still
    waiting. The answered question's own event was handled earlier, so it leaves the
    inbox only because its reply names it as the parent."""
    asked = [post(client, f"Question {i}?")["comment"]["id"] for i in range(4)]
    caught_up(ctx)
    assert inbox_rows(ctx) == sorted(asked)
    inbox.reply(ctx, owner, asked[0], "Answered.", "desk")
    between = post(client, "A reader answers another.", parent_id=asked[1])["comment"]["id"]
    moderation.remove(ctx, owner, asked[2])
    inbox.mark_done(ctx, owner, asked[3])
    later = post(client, "Still waiting?")["comment"]["id"]
    caught_up(ctx)
    # A reader's reply does not answer for the writer: the question still waits. The
    # reply neither names her nor asks anything, so it does not wait for her itself.
    assert inbox_rows(ctx) == sorted([asked[1], later])
    assert [i.id for i in inbox.waiting(ctx, owner)] == sorted([asked[1], later])
    assert between not in inbox_rows(ctx)


def test_restoring_a_comment_its_author_deleted_is_refused(
    ctx: Context, client: TestClient, owner: Any
) -> None:
    created = post(client, "Gone soon")
    deleted = client.delete(
        f"/api/v1/comments/{created['comment']['id']}",
        headers={"Authorization": f"Bearer {created['edit_token']}"},
    )
    assert deleted.status_code == 200
    with pytest.raises(errors.InvalidInput):
        moderation.restore(ctx, owner, created["comment"]["id"])


def test_the_inbox_is_true_at_once_while_its_consumer_is_behind(
    ctx: Context, client: TestClient, owner: Any, db_url: str
) -> None:
    """A long transaction elsewhere holds the consumer back (on PostgreSQL events are read
    in order only once older transactions end); the inbox still lists what waits."""
    if ctx.db.is_sqlite:  # an open write transaction there stops every other writer
        pytest.skip("SQLite has one writer at a time: its consumers are never held back this way")
    first = post(client, "An early question?")["comment"]
    slow = Database(db_url)
    try:
        with slow.write() as tx:
            events.append(tx, "posted", "blog", None, None, ctx.now())  # an open transaction
            second = post(client, "A later question?")["comment"]
            consumers.drain(ctx.db, inbox.CONSUMER, ctx.now)
            assert [i.id for i in inbox.waiting(ctx, owner)] == [first["id"], second["id"]]
            inbox.reply(ctx, owner, second["id"], "Yes.", "desk")
            assert [i.id for i in inbox.waiting(ctx, owner)] == [first["id"]]
    finally:
        slow.dispose()


def test_asking_whether_the_writer_answered_a_comment_never_scans_every_comment(
    ctx: Context, client: TestClient
) -> None:
    """The inbox consumer asks it for each posted comment and its parent: a scan there made
    posting slow down as the database grew. Every statement it runs must be looked up by
    an index (the replies by their parent), on SQLite's plan and PostgreSQL's."""
    from sqlalchemy import select

    from parlour.store import inbox as inbox_store
    from parlour.store.schema import inbox as inbox_table

    make_site(ctx, "blog")
    first = post(client, "A question?")["comment"]
    reply = post(client, "A reply: and you, Writer?", parent_id=first["id"])["comment"]
    with ctx.db.write() as tx:
        statements = statements_run(tx, lambda: inbox_store.refresh(tx, [reply["id"]]))
        assert len(statements) == 3  # the parents; out of the inbox; into the inbox
        kept = sorted(row[0] for row in tx.execute(select(inbox_table.c.comment_id)))
        assert kept == sorted([first["id"], reply["id"]])  # both readers ask the writer
        assert "EXISTS" in statements[-1][0].upper() and "parent_id" in statements[-1][0]
        for statement, params in statements:
            steps = plan_steps(ctx, tx, statement, params)
            assert not any(step.startswith("SCAN ") or "Seq Scan on comments" in step for step in steps), (
                steps
            )
        if ctx.db.is_sqlite:
            steps = plan_steps(ctx, tx, *statements[-1])
            assert any("parent_id=?" in step for step in steps), steps  # replies found by their parent
        else:
            found = tx.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'comments' AND indexname = 'ix_comments_parent'"
            ).scalar()
            assert found is not None and found.endswith("(parent_id)"), found


def test_listing_the_inbox_never_scans_every_comment_or_event(ctx: Context, client: TestClient) -> None:
    """Its cost must follow the number waiting: each statement it runs is looked up by an
    index, on SQLite's plan (EXPLAIN QUERY PLAN) and PostgreSQL's (seq scans off, since
    its planner rightly scans tables this small)."""
    from parlour.store import inbox as inbox_store

    make_site(ctx, "blog")
    first = post(client, "A question?")["comment"]
    post(client, "A reply", parent_id=first["id"])
    with ctx.db.read() as tx:
        statements = statements_run(
            tx, lambda: inbox_store.list_unanswered(tx, ["blog"], 200, (0, 1))
        )  # one event handled, two not
        assert len(statements) == 3  # the kept ones; the ids past the cursor; those comments
        for statement, params in statements:
            steps = plan_steps(ctx, tx, statement, params)
            if ctx.db.is_sqlite:
                assert not any(step.startswith("SCAN ") for step in steps), steps
                # Comments are reached by id or from the inbox, never by walking a site's threads.
                assert not any(step.startswith("SEARCH threads USING INDEX") for step in steps), steps
            else:
                plan = " ".join(steps)
                assert "Seq Scan on events" not in plan and "Seq Scan on comments" not in plan, plan


def test_a_thread_another_process_created_meanwhile_is_the_one_returned(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_site(ctx)
    with ctx.db.write() as tx:
        first = thread_store.get_or_create_thread(tx, "blog", "/race", "Theirs", None, 1_000)
    looked: list[str] = []
    real_get = thread_store.get_thread

    def missed_once(tx: Tx, site_id: str, key: str) -> Any:
        looked.append(key)  # the first look happens "before" the other process's insert
        return None if len(looked) == 1 else real_get(tx, site_id, key)

    monkeypatch.setattr(thread_store, "get_thread", missed_once)
    with ctx.db.write() as tx:
        again = thread_store.get_or_create_thread(tx, "blog", "/race", "Ours", None, 2_000)
    assert (again.id, again.title, again.created_at) == (first.id, "Theirs", 1_000)
    assert looked == ["/race", "/race"]


T0 = 1_500_000_000_000


def imported(
    key: str, parent_key: str | None = None, parent_id: int | None = None, **fields: Any
) -> lifecycle.Imported:
    fields.setdefault("status", Status.PUBLISHED)
    return lifecycle.Imported(
        key=key, author=lifecycle.Author(key="k", ip_hash="imported", name=key), text=lifecycle.Text(
            fields.pop("body", f"Comment {key}."), "<p>.</p>"), created_at=T0, parent_key=parent_key,
        parent_id=parent_id, **fields,
    )  # fmt: skip


def test_placing_names_rows_by_position_and_leaves_comments_stored_before_to_storing() -> None:
    placed = lifecycle.place_imported(
        [
            imported("a", pinned=True),
            imported("b", parent_key="a"),
            imported("c", parent_id=41),  # a reply to a comment an earlier import stored
            imported("d", parent_key="c", status=Status.PENDING),
            imported("e", parent_key="b"),
        ],
        writer_name="Wren",
    )
    columns = COMMENT_COLUMNS
    assert columns[:5] == ("id", "thread_id", "parent_id", "root_id", "depth")  # store_imported's fast path
    tree = [(r[0], r[columns.index("parent_id")], r[columns.index("root_id")], r[columns.index("depth")])
            for r in placed.rows]  # fmt: skip
    assert tree == [(0, None, None, 0), (1, 0, 0, 1), (2, None, None, 0), (3, 2, None, 0), (4, 1, 0, 2)]
    assert placed.under_stored == {2: (41, 1), 3: (41, 2)}
    assert placed.stored_replies == {41: 1}  # d is held: it is not counted
    assert [r[columns.index("reply_count")] for r in placed.rows] == [1, 1, 0, 0, 0]
    assert [r[columns.index("pinned")] for r in placed.rows] == [True, False, False, False, False]
    assert placed.published == 4


def test_placing_refuses_a_reply_given_before_its_parent() -> None:
    with pytest.raises(ValueError, match="before its parent"):
        lifecycle.place_imported([imported("b", parent_key="a"), imported("a")], writer_name="")
