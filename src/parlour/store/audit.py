"""The audit log: every action taken in the desk, with who, what, when and why."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, true

from parlour.store.database import Tx
from parlour.store.schema import audit_log, users


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    site_id: str
    email: str | None
    action: str
    comment_id: int | None
    reason: str | None
    created_at: int


def record(
    tx: Tx,
    site_id: str,
    user_id: int | None,
    action: str,
    comment_id: int | None,
    reason: str | None,
    now: int,
) -> None:
    """One line of the audit log: who did what, to which comment, when and why."""
    tx.execute(
        insert(audit_log).values(
            site_id=site_id,
            user_id=user_id,
            action=action,
            comment_id=comment_id,
            reason=reason,
            created_at=now,
        )
    )


def list_entries(
    tx: Tx, site_ids: list[str], limit: int = 100, comment_ids: list[int] | None = None
) -> list[Entry]:
    """The latest entries on these sites (about these comments), newest first."""
    query = (
        select(
            audit_log.c.id,
            audit_log.c.site_id,
            users.c.email,
            audit_log.c.action,
            audit_log.c.comment_id,
            audit_log.c.reason,
            audit_log.c.created_at,
        )
        .outerjoin(users, users.c.id == audit_log.c.user_id)
        .where(audit_log.c.site_id.in_(site_ids))
        .where(audit_log.c.comment_id.in_(comment_ids) if comment_ids is not None else true())
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    )
    return [Entry(*row) for row in tx.execute(query)]
