"""The schema revision this code expects and the ones the database has, without Alembic.

`/-/ready` asks on every probe. Loading Alembic's script directory to learn the code's
head costs a worker 10 MiB (measured), so the head is read once from the revision files'
own `revision` and `down_revision` lines; a test checks it against Alembic's answer.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from sqlalchemy import inspect, text

from parlour.store.database import Tx

VERSIONS = Path(__file__).with_name("migrations") / "versions"
_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)


@lru_cache(maxsize=1)
def known() -> tuple[str, frozenset[str]]:
    """(the head, every revision) of the migrations shipped with this code."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        downs.update(_DOWN.findall(source))
    heads = revisions - downs
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads, not one: {sorted(heads)}")
    return heads.pop(), frozenset(revisions)


def applied(tx: Tx) -> set[str]:
    """The revisions the database is at (empty: never migrated)."""
    if not inspect(tx).has_table("alembic_version"):
        return set()
    return {row[0] for row in tx.execute(text("SELECT version_num FROM alembic_version"))}
