"""Limits on actions that store nothing of their own (previews), counted in the database.

Every instance on one database counts together: behind a proxy that spreads requests
over several, a limit counted in each process would let an address through once per
process. The hits are rows of `sign_in_attempts` under a key of their own
(`preview:<address hash>`), the table the sign-in limits count in.
"""

from __future__ import annotations

from parlour.store import Database, serialize_on
from parlour.store import accounts as store

WINDOW_MS = 60_000


def allow(db: Database, key: str, limit: int, now: int) -> bool:
    """At most `limit` actions under `key` in any minute; counts this one if it is allowed.

    Hits older than the window are dropped on the way, so a key keeps at most `limit`
    rows."""
    with db.write() as tx:
        serialize_on(tx, key)  # two at once from one address take turns (PostgreSQL)
        since = now - WINDOW_MS + 1
        store.forget_attempts_before(tx, key, since)
        if store.count_attempts(tx, key, since) >= limit:
            return False
        store.record_attempt(tx, key, now)
        return True
