"""Storage: the only layer that imports SQLAlchemy. Services call the functions here."""

from sqlalchemy import text

from parlour.store.database import Database, IntegrityError, Tx, serialize_on


def ping(db: Database) -> bool:
    """True when the database answers a trivial query."""
    with db.read() as tx:
        return bool(tx.execute(text("SELECT 1")).scalar_one() == 1)


__all__ = ["Database", "IntegrityError", "Tx", "ping", "serialize_on"]
