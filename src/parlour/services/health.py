"""Is this instance able to serve?"""

from __future__ import annotations

from parlour.services.context import Context
from parlour.store import ping


def database_ok(ctx: Context) -> bool:
    try:
        return ping(ctx.db)
    except Exception:  # any failure to reach the database means "unavailable", reported, not raised
        return False
