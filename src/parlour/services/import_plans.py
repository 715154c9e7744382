"""Planning an import's threads, on a second core when the file is large.

Once a file is spooled (store/staging.py), each thread is planned, then stored. The plan
is everything that needs no database: where each comment hangs (its parent in the file,
a comment an earlier import stored, or, when its parent is missing or hidden, the
nearest shown ancestor), parents before replies, which comments are the writer's, the
report's counts, and the rows themselves with relative ids (`lifecycle.place_imported`).
Storing then reserves ids, creates the thread and inserts (services/importing.py).

Planning is about two fifths of the storing phase's time and storing's inserts cannot
be split (SQLite has one writer), so a large first import plans in a `Planner`: a child
process (`python -P -m parlour.services.import_plans`, a fresh interpreter, not a fork)
that reads the finished spool read-only and sends each transaction's plans through a
pipe (`parlour.pipes` messages) while this process stores the ones before: two cores
instead of one. The pipe holds a plan or two, so memory stays bounded. A child that
fails raises its error here; one that dies is `PlannerStopped`, never a short import. A re-import (which looks up what an earlier one stored) and Parlour's own format
(whose restorer reads the database) plan in this process, with the same function.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from parlour import pipes
from parlour.domain.imports import State
from parlour.domain.model import Status
from parlour.services import lifecycle
from parlour.services.folding import fold
from parlour.store.staging import StagedComment, StagingReader

IMPORTED_IP = "imported"  # the ip_hash of an imported comment: no address is known

_STATUS = {
    State.PUBLISHED.value: Status.PUBLISHED,
    State.PENDING.value: Status.PENDING,
    State.REMOVED.value: Status.REMOVED,
    State.SPAM.value: Status.SPAM,
    State.REJECTED.value: Status.REJECTED,
}  # staged as the value
_SHOWN = (Status.PUBLISHED, Status.REMOVED)  # a reply can hang under these


class PlannerStopped(Exception):
    """The planning process ended without finishing or saying why (killed, out of memory)."""


@dataclass(frozen=True, slots=True)
class Planning:
    """What every thread's plan of one import depends on. `prefix` is "FORMAT:";
    `writer_email` is lower-cased, `writer_name` folded (services/folding.py);
    `site_writer_name` is the site's, for replies that address her by name."""

    prefix: str
    hold: bool = False
    writer_email: str | None = None
    writer_name: str | None = None
    site_writer_name: str = ""


@dataclass(slots=True)
class ThreadPlan:
    """One thread's comments, placed and counted. `placed` is None when nothing in it is
    new; `extras` pairs a row with what only Parlour's own format carries for it."""

    placed: lifecycle.PlacedImport | None = None
    extras: list[tuple[int, bytes]] = field(default_factory=list)
    comments: int = 0
    replies: int = 0
    writer_replies: int = 0
    held: int = 0
    removed: int = 0
    spam: int = 0
    rejected: int = 0
    already: int = 0  # stored by an earlier import of the same source
    orphans: int = 0  # replies whose parent is not in the file (or hidden): moved up
    unpinned: int = 0  # pins not kept: Parlour pins published top-level comments only


def plan_thread(
    rows: Sequence[StagedComment],
    planning: Planning,
    already: Mapping[str, tuple[int, int]],
    thread_id: int | None,
) -> ThreadPlan:
    """The plan of one thread's staged comments (in the file's order). `already` maps
    the sources an earlier import stored ("FORMAT:ID") to (comment id, thread id); a
    reply to one of those in this same thread (`thread_id`) hangs under it."""
    plan = ThreadPlan()
    prefix = planning.prefix
    by_source = {r["source_id"]: r for r in rows}
    statuses = dict(_STATUS)
    if planning.hold:
        statuses[State.PUBLISHED.value] = Status.PENDING
    status_of = {r["source_id"]: statuses[r["state"]] for r in rows}

    # Where each reply hangs: its parent in this file, a comment an earlier import
    # stored, or (parent missing, or one readers cannot see) the nearest shown ancestor.
    parent_of: dict[str, tuple[str | None, int | None]] = {}
    for r in rows:
        source = r["source_id"]
        if already and prefix + source in already:
            continue
        parent, seen = r["parent"], {source}
        target: tuple[str | None, int | None] = (None, None)
        while parent is not None and parent not in seen:
            seen.add(parent)
            if already and prefix + parent in already:
                comment_id, in_thread = already[prefix + parent]
                target = (None, comment_id) if in_thread == thread_id else (None, None)
                break
            found = by_source.get(parent)
            if found is None:
                break
            if status_of[parent] in _SHOWN or status_of[source] not in _SHOWN:
                target = (parent, None)
                break
            parent = found["parent"]
        if r["parent"] is not None and target == (None, None):
            plan.orphans += 1
        parent_of[source] = target

    # Parents before replies: the file's order, with a reply waiting for its parent.
    order: list[StagedComment] = []
    placed: set[str] = set()
    waiting: dict[str, list[StagedComment]] = {}

    def place(r: StagedComment) -> None:
        stack = [r]
        while stack:
            item = stack.pop()
            placed.add(item["source_id"])
            order.append(item)
            stack.extend(reversed(waiting.pop(item["source_id"], [])))

    for r in rows:
        source = r["source_id"]
        if already and prefix + source in already:
            plan.already += 1
            continue
        parent_key = parent_of[source][0]
        if parent_key is None or parent_key in placed:
            place(r)
        else:
            waiting.setdefault(parent_key, []).append(r)
    for r in rows:  # a cycle of parents: what is left goes to the top level, in file order
        source = r["source_id"]
        if source not in placed and source in parent_of:
            waiting.get(parent_of[source][0] or "", []).remove(r)
            parent_of[source] = (None, None)
            plan.orphans += 1
            place(r)
    if not order:
        return plan

    writer_email, writer_name = planning.writer_email, planning.writer_name
    items = []
    for r in order:
        source = r["source_id"]
        is_writer = bool(
            r["is_writer"]
            or (writer_email and (r["author_email"] or "").lower() == writer_email)
            or (writer_name and r["author_name"] and fold(r["author_name"]) == writer_name)
        )
        parent_key, parent_id = parent_of[source]
        top_level = parent_key is None and parent_id is None
        status = status_of[source]
        items.append(
            lifecycle.Imported(
                key=source,
                author=lifecycle.Author(
                    key=r["author_key"],
                    ip_hash=IMPORTED_IP,
                    name=r["author_name"],
                    email=r["author_email"],
                    is_writer=is_writer,
                ),
                text=lifecycle.Text(r["body"], r["html"]),
                status=status,
                created_at=r["created_at"],
                parent_key=parent_key,
                parent_id=parent_id,
                hearts=r["hearts"],
                edited_at=r["edited_at"],
                pinned=bool(r["pinned"]) and top_level,
                body_hash=r["body_hash"],
            )
        )
        plan.replies += not top_level
        plan.unpinned += bool(r["pinned"]) and not (top_level and status is Status.PUBLISHED)
        plan.writer_replies += is_writer
        plan.held += status is Status.PENDING
        plan.removed += status is Status.REMOVED
        plan.spam += status is Status.SPAM
        plan.rejected += status is Status.REJECTED
    plan.comments = len(items)
    plan.placed = lifecycle.place_imported(items, planning.site_writer_name)
    plan.extras = [(n, r["extra"]) for n, r in enumerate(order) if r["extra"]]
    return plan


class Planner:
    """A child process that plans a large first import's threads (see the module's
    docstring). `start` it as soon as the file turns out to be large, so that it has
    loaded Parlour by the time the spool is finished; `plans` then hands it the spool.
    `close` stops it, whether or not it finished."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def started(self) -> bool:
        return self._child is not None

    def start(self) -> None:
        if self._child is None:
            self._child = subprocess.Popen(
                # -P: not the working directory on sys.path (`-m` puts it first), as for `serve`.
                [sys.executable, "-P", "-m", "parlour.services.import_plans"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )

    def plans(
        self, staging: Path, planning: Planning, batches: Sequence[Sequence[str]]
    ) -> Iterator[list[ThreadPlan]]:
        """The plans of `batches` (each a list of staged threads' source ids), one list
        of plans per batch in the same order, from the finished spool file `staging`."""
        self.start()
        child = self._child
        assert child is not None and child.stdin is not None and child.stdout is not None
        with suppress(BrokenPipeError):  # it is gone: reading its answer says so (PlannerStopped)
            pipes.send(child.stdin.fileno(), "plan", (str(staging), planning, [list(b) for b in batches]))
        child.stdin.close()
        return _received(child, child.stdout)

    def close(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.poll() is None:  # stopped early: the import failed, or did not need it
            child.kill()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        child.wait()


def _received(child: subprocess.Popen[bytes], stream: IO[bytes]) -> Iterator[list[ThreadPlan]]:
    def stopped(code: int) -> PlannerStopped:
        return PlannerStopped(f"the import's planning process stopped before the end (exit code {code})")

    return pipes.received(child, stream, "plans", stopped)


def _main() -> int:
    """The child: plan each batch of threads and write the plans to stdout."""

    def work(out: int) -> None:
        job = pipes.receive(sys.stdin.buffer)
        if job is None:
            raise PlannerStopped("the import went away before saying what to plan")
        path, planning, batches = job[1]
        reader = StagingReader(Path(path))
        try:
            for batch in batches:
                pipes.send(out, "plans", [plan_thread(reader.comments(t), planning, {}, None) for t in batch])
        finally:
            reader.close()

    return pipes.child_main(work)


if __name__ == "__main__":
    # Run by its own name, so that plans pickle as this module's classes, not `__main__`'s.
    from parlour.services import import_plans

    sys.exit(import_plans._main())
