"""Reading what the database does: the statements a store function runs, and their query plans.

For the tests that hold a query to an index (a scan of every comment made posting slow as
the database grew), on SQLite's plan and PostgreSQL's alike.
"""

from __future__ import annotations

from typing import Any

from parlour.services.context import Context
from parlour.store import Tx


def statements_run(tx: Tx, work: Any) -> list[tuple[str, Any]]:
    """The statements (and their parameters) `work()` runs on `tx`."""
    from sqlalchemy import event

    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(tx, "before_cursor_execute", capture)
    try:
        work()
    finally:
        event.remove(tx, "before_cursor_execute", capture)
    return statements


def plan_steps(ctx: Context, tx: Tx, statement: str, params: Any) -> list[str]:
    """The query plan's steps: SQLite's EXPLAIN QUERY PLAN, or PostgreSQL's EXPLAIN with
    seq scans off (its planner rightly scans tables this small)."""
    if ctx.db.is_sqlite:
        return [str(row[-1]) for row in tx.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    tx.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return [str(row[0]) for row in tx.exec_driver_sql("EXPLAIN " + statement, params)]
