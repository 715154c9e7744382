"""Upgrades without downtime (docs/upgrading.md): migrations expand first and contract a
release later, and a server keeps serving while `parlour migrate` runs beside it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import create_pg_database, drop_pg_database
from parlour.services import sites
from parlour.services.context import open_context
from parlour.settings import Settings
from parlour.store import migrate
from servers import running_parlour

VERSIONS = migrate.MIGRATIONS / "versions"
CONTRACTING = {"drop_table", "drop_column", "alter_column", "rename_table", "drop_constraint"}
CONTRACTING_SQL = ("DROP TABLE", "DROP COLUMN", "RENAME ", "ALTER COLUMN", "DROP CONSTRAINT", "SET NOT NULL")


def contract_steps(source: str) -> list[str]:
    """What an `upgrade()` does that the previous release could trip over."""
    tree = ast.parse(source)
    upgrade = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade")
    found = []
    for node in ast.walk(upgrade):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, shown = node.func.attr, ast.get_source_segment(source, node) or ""
        removes = name in CONTRACTING
        removes_in_sql = name == "execute" and any(words in shown.upper() for words in CONTRACTING_SQL)
        tightens = name == "add_column" and _not_null_without_default(node)
        if removes or removes_in_sql or tightens:
            found.append(shown)
    return found


def _not_null_without_default(call: ast.Call) -> bool:
    for column in ast.walk(call):
        if isinstance(column, ast.Call) and getattr(column.func, "attr", None) == "Column":
            words = {k.arg: k.value for k in column.keywords}
            strict = isinstance(words.get("nullable"), ast.Constant) and words["nullable"].value is False  # type: ignore[attr-defined]
            return strict and "server_default" not in words
    return False


def declares_contract(source: str) -> bool:
    return any(
        isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "CONTRACT" for t in n.targets)
        for n in ast.parse(source).body
    )


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.stem[:4])
def test_a_migration_that_removes_or_renames_declares_itself_a_contract_step(path: Path) -> None:
    source = path.read_text()
    steps = contract_steps(source)
    assert not steps or declares_contract(source), (
        f"{path.name} removes, renames or tightens what the previous release may still use: "
        f"ship it a release later with CONTRACT = '...' (docs/upgrading.md): {steps}"
    )


def test_the_policy_check_catches_a_drop_a_rename_and_a_strict_new_column() -> None:
    assert contract_steps('def upgrade():\n    op.drop_column("comments", "x")\n')
    assert contract_steps('def upgrade():\n    op.execute("ALTER TABLE t RENAME COLUMN a TO b")\n')
    assert contract_steps('def upgrade():\n    b.add_column(sa.Column("x", sa.Text(), nullable=False))\n')
    assert not contract_steps(
        'def upgrade():\n    b.add_column(sa.Column("x", sa.Text(), nullable=False, server_default=""))\n'
    )
    assert not contract_steps('def upgrade():\n    op.create_index("ix", "t", ["a"])\n')


# An expand migration of the kind the policy allows, run while a server is busy: a new
# nullable column on the busiest table, backfilled, and an index on it.
EXPAND = '''"""A test's expand step.

Revision ID: 9999
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("comments", sa.Column("test_extra", sa.Text(), nullable=True))
    op.execute("UPDATE comments SET test_extra = body")
    op.create_index("ix_comments_test_extra", "comments", ["test_extra"])
'''

MIGRATE = """
import sys
from alembic import command
from parlour.store import Database, migrate
db = Database(sys.argv[1])
config = migrate._config(db)
config.set_main_option("script_location", sys.argv[2])
with db.exclusive("parlour_migrate"):
    command.upgrade(config, "head")
"""


def test_a_server_keeps_serving_while_a_migration_runs_beside_it(tmp_path: Path) -> None:
    name = f"parlour_upgrade_{uuid.uuid4().hex[:8]}"
    database = create_pg_database(name)
    try:
        with running_parlour(database, tmp_path / "serve.log") as base:
            ctx = open_context(Settings(database=database, secret="served"))
            try:
                sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
            finally:
                ctx.close()
            failures: list[str] = []
            posted: list[int] = []
            stop = threading.Event()

            def load() -> None:
                with httpx.Client(base_url=base, timeout=30) as client:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        answer = client.post(
                            "/api/v1/comments",
                            json={"site": "blog", "thread": f"/p{n % 3}", "body": f"Comment {n}"},
                            headers={"Origin": "https://blog.example"},
                        )
                        read = client.get("/api/v1/comments", params={"site": "blog", "thread": "/p0"})
                        for a in (answer, read):
                            if a.status_code >= 300:
                                failures.append(f"{a.status_code} {a.text[:200]}")
                        if answer.status_code == 201:
                            posted.append(answer.json()["comment"]["id"])

            worker = threading.Thread(target=load)
            worker.start()
            try:
                while len(posted) < 20:
                    assert worker.is_alive() and not failures, failures
                    time.sleep(0.01)
                scripts = tmp_path / "migrations"
                shutil.copytree(migrate.MIGRATIONS, scripts)
                head = max(p.stem[:4] for p in VERSIONS.glob("0*.py"))
                (scripts / "versions" / "9999_test_expand.py").write_text(EXPAND.format(head=head))
                done = subprocess.run(
                    [sys.executable, "-c", MIGRATE, database, str(scripts)],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, done.stderr
                during = len(posted)
                while len(posted) < during + 20:
                    assert worker.is_alive() and not failures, failures
                    time.sleep(0.01)
            finally:
                stop.set()
                worker.join(30)
            assert failures == []
    finally:
        drop_pg_database(name)
