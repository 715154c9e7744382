"""Publishing a reviewed paste: held comments placed under the comments they answer, as
the writer's or a reader's, with the tree fields and counters right, and quietly."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from factories import make_site
from parlour.domain import errors
from parlour.domain.model import Comment, Status
from parlour.services import lifecycle
from parlour.services.context import Context
from parlour.store import Tx, events
from parlour.store import comments as comment_store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store

PASTED = lifecycle.Author(key="paste:a", ip_hash="import", name="Someone", email="someone@example.com")
Place = lifecycle.Placement


def held_thread(ctx: Context, *bodies: str, key: str = "/pasted") -> list[Comment]:
    """Held comments, flat, as a paste stores them."""
    with ctx.db.write() as tx:
        site = site_store.get_site(tx, "blog")
        assert site is not None
        thread = thread_store.get_or_create_thread(tx, "blog", key, None, None, 1_000)
        return [
            lifecycle.create(
                tx, site, thread, None, PASTED, lifecycle.Text(b, f"<p>{b}</p>"), Status.PENDING, 2_000,
                created_at=1_500 + i,
            )
            for i, b in enumerate(bodies)
        ]  # fmt: skip


def get(tx: Tx, comment_id: int) -> Comment:
    found = comment_store.get_comment(tx, comment_id)
    assert found is not None
    return found


def test_reviewed_comments_nest_under_their_parents_and_count(ctx: Context) -> None:
    make_site(ctx)
    question, answer, aside, other = held_thread(ctx, "A question", "An answer", "An aside", "Other")
    with ctx.db.write() as tx:
        lifecycle.publish_reviewed(
            tx, "blog", question.thread_id,
            [
                Place(question.id, None, "Ann", False),
                Place(answer.id, question.id, "ignored", True),
                Place(aside.id, answer.id, "Bea", False, lifecycle.Text("An aside\n\nmore", "<p>x</p>")),
                Place(other.id, None, None, False),
            ],
            3_000, lifecycle.Audit(None, "review_publish"),
        )  # fmt: skip
    with ctx.db.read() as tx:
        q, a, s, o = (get(tx, c.id) for c in (question, answer, aside, other))
        thread = thread_store.get_thread(tx, "blog", "/pasted")
        thread_events = list(
            tx.execute(
                text("SELECT kind FROM events WHERE thread_id = :t ORDER BY id"), {"t": q.thread_id}
            ).scalars()
        )
        mine_events = [e.kind for e in events.for_comment(tx, answer.id)]
    assert thread is not None and thread.comment_count == 4
    assert (q.author_name, q.parent_id, q.reply_count, q.status) == ("Ann", None, 1, Status.PUBLISHED)
    assert (a.is_writer, a.author_name, a.author_email, a.parent_id, a.depth) == (True, None, None, q.id, 1)
    assert (s.parent_id, s.root_id, s.depth, s.author_name, s.body) == (
        a.id,
        q.id,
        2,
        "Bea",
        "An aside\n\nmore",
    )
    assert (a.reply_count, o.parent_id, o.author_name) == (1, None, None)
    assert a.created_at == 1_501  # the paste's own time, not the review's
    assert mine_events == ["held"]  # no "published": nobody is mailed, no webhook fires
    assert thread_events[-1] == "imported"


def test_only_held_comments_that_nothing_answers_can_be_placed(ctx: Context) -> None:
    make_site(ctx)
    first, second, third = held_thread(ctx, "First", "Second", "Third")
    with ctx.db.write() as tx:
        lifecycle.publish_reviewed(tx, "blog", first.thread_id, [Place(first.id, None, None, False)], 3_000)
    with pytest.raises(errors.InvalidInput), ctx.db.write() as tx:  # shown already
        lifecycle.publish_reviewed(tx, "blog", first.thread_id, [Place(first.id, None, None, False)], 3_000)
    with pytest.raises(errors.InvalidInput), ctx.db.write() as tx:  # its parent is still held
        lifecycle.publish_reviewed(
            tx, "blog", first.thread_id, [Place(third.id, second.id, None, False)], 3_000
        )
    with pytest.raises(errors.InvalidInput), ctx.db.write() as tx:
        lifecycle.publish_reviewed(
            tx, "blog", first.thread_id, [Place(third.id, third.id, None, False)], 3_000
        )
    with ctx.db.read() as tx:
        assert get(tx, third.id).status is Status.PENDING
        assert get(tx, third.id).parent_id is None


def test_a_placed_comment_cannot_answer_one_on_another_thread(ctx: Context) -> None:
    make_site(ctx)
    (here,) = held_thread(ctx, "Here")
    (there,) = held_thread(ctx, "There", key="/elsewhere")
    with ctx.db.write() as tx:
        lifecycle.publish_reviewed(tx, "blog", there.thread_id, [Place(there.id, None, None, False)], 3_000)
    with pytest.raises(errors.ParentInOtherThread), ctx.db.write() as tx:
        lifecycle.publish_reviewed(tx, "blog", here.thread_id, [Place(here.id, there.id, None, False)], 3_000)
    with pytest.raises(errors.UnknownComment), ctx.db.write() as tx:
        lifecycle.publish_reviewed(tx, "blog", here.thread_id, [Place(there.id, None, None, False)], 3_000)
