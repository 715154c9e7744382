"""Readers signed in by single sign-on, per site, with the names that are theirs; a
site's SSO secret and its (or a thread's) choice of who may comment."""

from __future__ import annotations

from sqlalchemy import update

from parlour.domain.model import WhoMayComment
from parlour.store.database import Tx, driver_rows
from parlour.store.schema import sites, threads

_UPSERT = (
    "INSERT INTO site_readers (site_id, subject, name, folded_name, email, picture, tier, created_at, seen_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site_id, subject) DO UPDATE SET name = excluded.name, "
    "folded_name = excluded.folded_name, email = excluded.email, picture = excluded.picture, "
    "tier = excluded.tier, seen_at = excluded.seen_at"
)


def remember(
    tx: Tx, site_id: str, subject: str, name: str, folded: str, email: str | None, picture: str | None,
    tier: str, now: int,
) -> None:  # fmt: skip
    """Keep what the writer's site said of this reader now (their name stays theirs)."""
    driver_rows(tx, _UPSERT, (site_id, subject, name, folded, email, picture, tier, now, now))


# Run by every post with a name, under the write lock: straight on the driver
# (database.driver_rows), on the index ix_site_readers_name.
_NAME_HOLDER = "SELECT subject FROM site_readers WHERE site_id = ? AND folded_name = ? LIMIT 1"


def name_holder(tx: Tx, site_id: str, folded: str) -> str | None:
    """The subject of the signed-in reader whose name folds to `folded` on the site."""
    rows = driver_rows(tx, _NAME_HOLDER, (site_id, folded))
    return str(rows[0][0]) if rows else None


def set_sso_secret(tx: Tx, site_id: str, secret: str) -> None:
    tx.execute(update(sites).where(sites.c.id == site_id).values(sso_secret=secret))


def set_site_policy(tx: Tx, site_id: str, who: WhoMayComment) -> None:
    tx.execute(update(sites).where(sites.c.id == site_id).values(who_may_comment=who.value))


def set_thread_policy(tx: Tx, thread_id: int, who: WhoMayComment | None) -> None:
    """A thread's own choice, or None: the site's."""
    value = None if who is None else who.value
    tx.execute(
        update(threads)
        .where(threads.c.id == thread_id)
        .values(who_may_comment=value, version=threads.c.version + 1)
    )


def restore(
    tx: Tx, site_id: str, subject: str, name: str, folded: str, email: str | None, picture: str | None,
    tier: str, created_at: int, seen_at: int,
) -> None:  # fmt: skip
    """A signed-in reader as a site's export says; one already here is kept as it is."""
    driver_rows(
        tx,
        _UPSERT.split(" ON CONFLICT")[0] + " ON CONFLICT (site_id, subject) DO NOTHING",
        (site_id, subject, name, folded, email, picture, tier, created_at, seen_at),
    )
