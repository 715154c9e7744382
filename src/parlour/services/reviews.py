"""The writer's review of a pasted comment section (desk: /desk/imports/ID).

`parlour import paste` (or the desk's import page) stores the pasted comments held, flat
and unattributed, and marks its run `review="pending"`. Here she sees them in the paste's
order, marks which are hers and which comment each answers, mends a name, and joins a
paragraph to the comment above it (a bare copy cannot tell a comment's second paragraph
from a new comment); then `publish` places and shows them all (lifecycle.publish_reviewed), parents
first, in one transaction and quietly, like any import: one thread, her replies under the
comments they answer.

Owners only, like importing: publishing a paste puts words on the site in people's names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from parlour.domain import errors
from parlour.domain.model import Role, Status, User
from parlour.services import accounts, lifecycle, markup, rules
from parlour.services.context import Context
from parlour.store import Tx
from parlour.store import comments as comment_store
from parlour.store import reviews as store
from parlour.store.reviews import ImportRun, Pasted

JOIN = "join"  # a parent choice: "this continues the comment above"


@dataclass(frozen=True, slots=True)
class Row:
    """One pasted comment in the review, with what the form starts from."""

    comment: Pasted
    number: int  # 1, 2, ... as listed
    mine: bool
    parent: int | None  # a comment id above it, or None: at the top
    held: bool  # still held (a moderator may have decided it from the queue meanwhile)


@dataclass(frozen=True, slots=True)
class Review:
    run: ImportRun
    thread_key: str | None
    rows: list[Row]
    report: dict[str, object]

    @property
    def pending(self) -> bool:
        return self.run.review == store.PENDING


@dataclass(frozen=True, slots=True)
class Choice:
    """What the writer decided for one comment. `parent`: a comment id, None (top level)
    or JOIN."""

    comment_id: int
    mine: bool
    parent: int | str | None
    name: str | None


def _owned_run(ctx: Context, tx: Tx, user: User, import_id: int) -> ImportRun:
    run = store.get_import(tx, import_id)
    # The same answer whether it exists elsewhere or not at all.
    if run is None or accounts.roles(ctx, user).get(run.site_id) is not Role.OWNER:
        raise errors.NotPermitted("You do not have access to that.")
    return run


def awaiting(ctx: Context, user: User, site_id: str | None = None) -> list[ImportRun]:
    """Pastes waiting for a review on the sites this user owns (or on one of them)."""
    owned = [s for s, role in accounts.roles(ctx, user).items() if role is Role.OWNER]
    if site_id is not None:
        owned = [s for s in owned if s == site_id]
    with ctx.db.read() as tx:
        return store.list_awaiting_review(tx, owned)


def review(ctx: Context, user: User, import_id: int) -> Review:
    """The review as it starts: each comment hers if the copy showed her badge, and hers
    answering the comment just above it; the others at the top."""
    with ctx.db.read() as tx:
        run = _owned_run(ctx, tx, user, import_id)
        pasted = store.list_pasted(tx, import_id)
        key = store.thread_key_of(tx, pasted[0].thread_id) if pasted else run.thread_key
    rows: list[Row] = []
    for i, comment in enumerate(pasted):
        parent: int | None
        if comment.parent_id is not None:
            parent = comment.parent_id
        else:
            parent = pasted[i - 1].id if comment.is_writer and i > 0 else None
        rows.append(Row(comment, i + 1, comment.is_writer, parent, comment.status is Status.PENDING))
    try:
        report = json.loads(run.report)
    except ValueError:
        report = {}
    return Review(run, key, rows, report if isinstance(report, dict) else {})


def publish(ctx: Context, user: User, import_id: int, choices: Sequence[Choice]) -> str | None:
    """Place and show the review's comments as decided, in one transaction; the thread's key.

    Every held comment of the paste needs a choice; a parent must be a comment listed above
    it; a joined comment's text goes to the end of
    the comment above it, and the joined one is refused (its source stays known, so a
    second paste of the same copy adds nothing).
    """
    by_id = {c.comment_id: c for c in choices}
    now = ctx.now()
    who = lifecycle.Audit(user.id, "review_publish")
    with ctx.db.write() as tx:
        run = _owned_run(ctx, tx, user, import_id)
        if not store.finish_review(tx, import_id):
            raise errors.InvalidInput("This paste was published already.")
        pasted = store.list_pasted(tx, import_id)
        above: set[int] = set()
        kept: list[tuple[Pasted, Choice, list[str]]] = []  # comment, choice, joined bodies
        for comment in pasted:
            choice = by_id.get(comment.id)
            if comment.status is not Status.PENDING:
                above.add(comment.id)
                continue
            if choice is None:
                raise errors.InvalidInput("Every comment of the paste needs its place.", field="parent")
            if choice.parent == JOIN:
                if not kept:
                    raise errors.InvalidInput(
                        "The first comment cannot continue one above it.", field="parent"
                    )
                kept[-1][2].append(comment.body)
                fragment = comment_store.get_comment(tx, comment.id)
                assert fragment is not None
                lifecycle.refuse(tx, fragment, run.site_id, Status.REJECTED, now, who)
                continue
            if isinstance(choice.parent, int) and choice.parent not in above:
                raise errors.InvalidInput("A comment can only answer one listed above it.", field="parent")
            kept.append((comment, choice, []))
            above.add(comment.id)
        placements = []
        for comment, choice, joined in kept:
            text = None
            if joined:
                body = rules.body("\n\n".join([comment.body, *joined]), ctx.settings)
                text = lifecycle.Text(body, markup.render(body))
            placements.append(
                lifecycle.Placement(
                    comment_id=comment.id,
                    parent_id=choice.parent if isinstance(choice.parent, int) else None,
                    author_name=None if choice.mine else rules.name(choice.name, ctx.settings),
                    is_writer=choice.mine,
                    text=text,
                )
            )
        if pasted:
            lifecycle.publish_reviewed(tx, run.site_id, pasted[0].thread_id, placements, now, who)
        return store.thread_key_of(tx, pasted[0].thread_id) if pasted else run.thread_key
