"""Run the Alembic migrations shipped in this package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from parlour.store.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = db.engine
    return cfg


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision. Safe to run on every start, also by
    several instances at once: they take turns, and the later ones find nothing to do."""
    with db.exclusive("parlour_migrate"):
        command.upgrade(_config(db), "head")


def pending(db: Database) -> list[str]:
    """Revisions not yet applied to this database, oldest first."""
    script = ScriptDirectory.from_config(_config(db))
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    heads = [rev.revision for rev in script.walk_revisions()]
    if current:
        done: set[str] = set()
        for head in current:
            done.update(r.revision for r in script.iterate_revisions(head, "base"))
        return [r for r in reversed(heads) if r not in done]
    return list(reversed(heads))


def shipped() -> set[str]:
    """The revisions this version of Parlour ships."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def unknown(db: Database) -> list[str]:
    """The database's revisions that this Parlour does not ship: a newer Parlour made them."""
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    return sorted(set(current) - shipped())
