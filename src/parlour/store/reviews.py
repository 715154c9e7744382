"""A pasted comment section's review: the import runs that wait for one, and the
comments each brought, in the order the paste had them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from parlour.domain.model import Status
from parlour.store.database import Tx
from parlour.store.schema import comments, imported_comments, imports, threads

PENDING = "pending"
DONE = "done"


@dataclass(frozen=True, slots=True)
class ImportRun:
    """One row of `imports`; `report` is its JSON text."""

    id: int
    site_id: str
    format: str
    file_name: str | None
    thread_key: str | None
    report: str
    review: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Pasted:
    """A comment a paste brought, as its review shows it."""

    id: int
    thread_id: int
    parent_id: int | None
    author_name: str | None
    is_writer: bool
    body: str
    html: str
    status: Status
    created_at: int


def _run(row: Any) -> ImportRun:
    return ImportRun(
        id=row.id,
        site_id=row.site_id,
        format=row.format,
        file_name=row.file_name,
        thread_key=row.thread_key,
        report=row.report,
        review=row.review,
        created_at=row.created_at,
    )


def get_import(tx: Tx, import_id: int) -> ImportRun | None:
    row = tx.execute(select(imports).where(imports.c.id == import_id)).one_or_none()
    return None if row is None else _run(row)


def list_awaiting_review(tx: Tx, site_ids: Sequence[str], limit: int = 50) -> list[ImportRun]:
    """Runs whose comments wait for the writer's review, on these sites, newest first."""
    if not site_ids:
        return []
    query = (
        select(imports)
        .where(imports.c.site_id.in_(site_ids), imports.c.review == PENDING)
        .order_by(imports.c.id.desc())
        .limit(limit)
    )
    return [_run(row) for row in tx.execute(query)]


def list_pasted(tx: Tx, import_id: int) -> list[Pasted]:
    """The comments a run stored, in the order it stored them (the paste's)."""
    query = (
        select(
            comments.c.id, comments.c.thread_id, comments.c.parent_id, comments.c.author_name,
            comments.c.is_writer, comments.c.body, comments.c.html, comments.c.status,
            comments.c.created_at,
        )
        .join(imported_comments, imported_comments.c.comment_id == comments.c.id)
        .where(imported_comments.c.import_id == import_id)
        .order_by(comments.c.id)
    )  # fmt: skip
    return [
        Pasted(
            id=row.id, thread_id=row.thread_id, parent_id=row.parent_id, author_name=row.author_name,
            is_writer=bool(row.is_writer), body=row.body, html=row.html, status=Status(row.status),
            created_at=row.created_at,
        )
        for row in tx.execute(query)
    ]  # fmt: skip


def thread_key_of(tx: Tx, thread_id: int) -> str | None:
    found = tx.execute(select(threads.c.key).where(threads.c.id == thread_id)).scalar_one_or_none()
    return None if found is None else str(found)


def finish_review(tx: Tx, import_id: int) -> bool:
    """Mark a run's review done; False if it was not waiting (another tab finished it)."""
    result = tx.execute(
        update(imports).where(imports.c.id == import_id, imports.c.review == PENDING).values(review=DONE)
    )
    return bool(result.rowcount)
