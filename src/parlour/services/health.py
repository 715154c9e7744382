"""Is this instance alive, and is it ready to serve?

Alive (`/-/health`) asks nothing of the database: the process answers. Ready
(`/-/ready`) means the database answers and carries this code's migrations, so a load
balancer sends readers only to instances that can serve them.
"""

from __future__ import annotations

from dataclasses import dataclass

from parlour.domain import errors
from parlour.services.context import Context
from parlour.store import revisions


@dataclass(frozen=True)
class Readiness:
    revision: str  # the database's
    expected: str  # the code's head


def readiness(ctx: Context) -> Readiness:
    """The database's revision when this instance can serve; else raises
    `database_unavailable` or `migrations_pending`.

    A database already migrated past this code's head (a newer Parlour ran `parlour
    migrate` during a rolling upgrade) counts as ready: migrations are additive first
    (docs/upgrading.md), so the older code keeps working on it until it is replaced.
    """
    head, known = revisions.known()
    try:
        with ctx.db.read() as tx:
            applied = revisions.applied(tx)
    except Exception as exc:  # any failure to reach the database means "not ready", reported
        raise errors.DatabaseUnavailable(reason=type(exc).__name__) from None
    if head in applied:
        return Readiness(head, head)
    newer = sorted(applied - known)
    if newer and not applied & known:
        return Readiness(newer[0], head)
    raise errors.MigrationsPending(revision=",".join(sorted(applied)) or None, expected=head)
