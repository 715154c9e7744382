"""Planning an import's threads in a second process: the same comments as planning them
here, its errors raised here, and no process left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

from factories import make_site, started_processes
from parlour.domain.imports import CommentRecord, State, ThreadRecord, bad_file
from parlour.services import import_plans, importing
from parlour.services.context import Context
from parlour.services.import_plans import Planner, PlannerStopped, Planning
from parlour.store.schema import comments, imported_comments, threads

T0 = 1_500_000_000_000
DAY = 86_400_000


def a_comment(n: int, thread: int, parent: int | None = None, **fields: Any) -> CommentRecord:
    fields.setdefault("body", f"Comment {n}, in thread {thread}.")
    fields.setdefault("author_name", f"Reader {n % 7}")
    return CommentRecord(
        source_id=f"c{n}", thread=f"t{thread}", parent=None if parent is None else f"c{parent}",
        created_at=T0 + n * DAY, **fields,
    )  # fmt: skip


def conversations() -> list[Any]:
    """Threads with every case the planning handles: replies before their parents,
    parents missing, hidden or in a cycle, the writer by address and by name, pins (one
    on a reply, which Parlour does not pin), hearts and states."""
    records: list[Any] = [
        ThreadRecord(source_id=f"t{t}", url=f"https://old.example/post-{t}/", title=f"Post {t}")
        for t in range(1, 5)
    ]
    records += [
        a_comment(3, 1, parent=2, body="A reply before its parent, addressing @Wren."),
        a_comment(1, 1, pinned=True, hearts=4),
        a_comment(2, 1, parent=1, author_email="WREN@blog.example", pinned=True),  # a pinned reply
        a_comment(4, 1, parent=99),  # its parent is not in the file
        a_comment(5, 2, state=State.SPAM),
        a_comment(6, 2, parent=5),  # under a hidden comment: moves up
        a_comment(7, 2, parent=6, author_name="Wren"),
        a_comment(8, 3, parent=9),  # a cycle of parents
        a_comment(9, 3, parent=8, state=State.REMOVED),
        a_comment(10, 3, state=State.PENDING, edited_at=T0 + 20 * DAY),
    ]
    records += [a_comment(n, 4, parent=n - 1 if n % 3 else None) for n in range(11, 60)]
    return records


def stored(ctx: Context, site_id: str) -> list[tuple[Any, ...]]:
    """A site's comments as everything a reader, the writer or a later import sees of
    them, with parents and roots named by their source (ids differ between sites)."""
    parent, root = aliased(comments), aliased(comments)
    source_of = {}
    with ctx.db.read() as tx:
        for row in tx.execute(select(imported_comments.c.comment_id, imported_comments.c.source)):
            source_of[row.comment_id] = row.source
        rows = tx.execute(
            select(threads.c.key, threads.c.comment_count, comments, parent.c.id.label("parent"),
                   root.c.id.label("root"))
            .join(threads, threads.c.id == comments.c.thread_id)
            .outerjoin(parent, parent.c.id == comments.c.parent_id)
            .outerjoin(root, root.c.id == comments.c.root_id)
            .where(threads.c.site_id == site_id)
        ).all()  # fmt: skip
    return sorted(
        (
            source_of[r.id], r.key, r.comment_count, source_of.get(r.parent), source_of.get(r.root), r.depth,
            r.author_name, r.author_email, r.is_writer, r.body, r.body_hash, r.html, r.status, r.pinned,
            r.hearts, r.reply_count, r.created_at, r.published_at, r.edited_at, r.for_writer, r.ip_hash,
        )
        for r in rows
    )  # fmt: skip


@pytest.fixture
def planners(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """The planning processes started from now on."""
    return started_processes(monkeypatch, import_plans)


@pytest.mark.parametrize(
    "choice", [{}, {"atomic": True}, {"hold": True}], ids=["per-thread", "atomic", "held"]
)
def test_a_large_import_planned_in_a_second_process_stores_what_one_process_stores(
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
    planners: list[subprocess.Popen[bytes]],
    choice: dict[str, Any],
) -> None:
    make_site(ctx, "here")
    make_site(ctx, "ahead")
    options: dict[str, Any] = {
        "format": "test",
        "writer_email": "wren@blog.example",
        "writer_name": "Wren",
        **choice,
    }
    here = importing.run(ctx, conversations(), importing.Options(site_id="here", **options))
    assert planners == []  # a small file: planned in this process
    monkeypatch.setattr(importing, "BATCH", 5)  # started after five records: "large"
    monkeypatch.setattr(importing, "PLAN_AHEAD_FROM", 5)
    monkeypatch.setattr(importing, "TX_COMMENTS", 20)  # several transactions, several messages
    ahead = importing.run(ctx, conversations(), importing.Options(site_id="ahead", **options))
    assert len(planners) == 1 and planners[0].returncode == 0  # it finished, and was waited for
    assert {**ahead.as_dict(), "import_id": None} == {**here.as_dict(), "import_id": None}
    assert (here.comments, here.writer_replies) == (59, 2)
    assert here.unpinned == (2 if choice.get("hold") else 1)  # the reply's pin; held, both
    assert stored(ctx, "ahead") == stored(ctx, "here")
    pinned = [row[0] for row in stored(ctx, "here") if row[13]]
    assert pinned == ([] if choice.get("hold") else ["test:c1"])  # the top-level one; held, none


def test_a_dry_run_planned_in_a_second_process_reports_the_same_and_stores_nothing(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, planners: list[subprocess.Popen[bytes]]
) -> None:
    make_site(ctx)
    here = importing.run(ctx, conversations(), importing.Options(site_id="blog", format="test", dry_run=True))
    monkeypatch.setattr(importing, "BATCH", 5)
    monkeypatch.setattr(importing, "PLAN_AHEAD_FROM", 5)
    ahead = importing.run(
        ctx, conversations(), importing.Options(site_id="blog", format="test", dry_run=True)
    )
    assert len(planners) == 1 and ahead.as_dict() == here.as_dict() and ahead.comments == 59
    assert stored(ctx, "blog") == []


def test_a_file_that_breaks_after_the_planner_started_stores_nothing_and_leaves_no_process(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, planners: list[subprocess.Popen[bytes]]
) -> None:
    make_site(ctx)
    monkeypatch.setattr(importing, "BATCH", 5)
    monkeypatch.setattr(importing, "PLAN_AHEAD_FROM", 5)

    def records() -> Iterator[Any]:
        yield from conversations()
        raise bad_file("the file ends in the middle of a comment", line=812)

    with pytest.raises(Exception, match="middle of a comment"):
        importing.run(ctx, records(), importing.Options(site_id="blog", format="test"))
    assert len(planners) == 1 and planners[0].returncode is not None
    assert stored(ctx, "blog") == []


def test_a_planner_that_dies_is_an_error_not_a_short_import(tmp_path: Path) -> None:
    planner = Planner()
    try:
        planner.start()
        assert planner._child is not None
        planner._child.kill()
        planner._child.wait()
        with pytest.raises(PlannerStopped, match="exit code -9"):
            list(planner.plans(tmp_path / "staging.db", Planning(prefix="test:"), [["t1"]]))
    finally:
        planner.close()
    assert not planner.started


def test_an_error_in_the_planning_process_is_raised_here_as_it_was_raised_there(tmp_path: Path) -> None:
    planner = Planner()
    try:
        with pytest.raises(Exception, match="unable to open database file"):
            list(planner.plans(tmp_path / "no-such-spool.db", Planning(prefix="test:"), [["t1"]]))
    finally:
        planner.close()
