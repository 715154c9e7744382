"""`parlour check`: configuration problems, each with a stable id and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parlour.settings import Settings
from parlour.store import Database, migrate, ping
from parlour.store import sites as site_store


@dataclass(frozen=True)
class Problem:
    id: str
    level: Literal["error", "warning"]
    message: str
    fix: str


def run_checks(settings: Settings) -> list[Problem]:
    problems: list[Problem] = []
    db = Database(settings.database, pool=False)
    try:
        try:
            ping(db)
        except Exception as exc:  # any failure to connect is the finding itself
            return [
                Problem(
                    "P001", "error", f"Cannot reach the database {db.engine.url!r}: {exc.__class__.__name__}: {exc}",
                    "Check PARLOUR_DATABASE, and that the server is running and the user may connect.",
                )
            ]  # fmt: skip
        pending = migrate.pending(db)
        if pending:
            problems.append(
                Problem(
                    "P002", "error", f"The database schema is behind by {len(pending)} migration(s).",
                    "Run `parlour migrate` (or start `parlour serve`, which migrates).",
                )
            )  # fmt: skip
            return problems
        with db.read() as tx:
            all_sites = site_store.list_sites(tx)
        if not all_sites:
            problems.append(
                Problem(
                    "P003", "warning", "There are no sites yet, so no page can show comments.",
                    "Run `parlour site create SITE --origin https://your.blog` or `parlour demo`.",
                )
            )  # fmt: skip
        for site in all_sites:
            if not site.origins:
                problems.append(
                    Problem(
                        "P004", "warning", f"Site {site.id!r} allows no origins: browsers cannot post to it.",
                        f"Run `parlour site set {site.id} --origin https://your.blog`.",
                    )
                )  # fmt: skip
    finally:
        db.dispose()
    if not settings.public_url:
        problems.append(
            Problem(
                "P005", "warning", "PARLOUR_PUBLIC_URL is not set: sign-in links cannot be sent, and the desk's snippets show a placeholder address.",
                "Set PARLOUR_PUBLIC_URL to the address readers reach Parlour at, e.g. https://comments.example.com.",
            )
        )  # fmt: skip
    return problems
