"""`parlour import disqus|wordpress` end to end, on both databases: once, idempotent, dry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.testclient import TestClient

from factories import make_site, read
from parlour.cli.main import main
from parlour.services.context import Context
from parlour.store.schema import comments, imported_comments, threads

HERE = Path(__file__).parent


def run(db_url: str, format_name: str, path: Path, *more: str) -> Any:
    return CliRunner().invoke(
        main, ["import", format_name, str(path), "--site", "blog", "--database", db_url, "--json", *more]
    )


def report(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return data


def count(ctx: Context, table: Any) -> int:
    with ctx.db.read() as tx:
        return int(tx.execute(select(func.count()).select_from(table)).scalar_one())


def test_disqus_import_stores_the_conversation_once(db_url: str, ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    first = report(run(db_url, "disqus", HERE / "disqus" / "blog.xml"))
    assert (first["threads"], first["comments"], first["replies"]) == (2, 8, 3)
    assert (first["removed"], first["spam"]) == (1, 1)
    assert first["skipped"] == {"deleted thread": 1, "post without an id": 1, "unknown thread": 1}
    page = read(client, thread="/2019/04/sourdough-diary/")
    assert page["thread"]["comment_count"] == 4  # published ones: not the removed, not the spam
    again = report(run(db_url, "disqus", HERE / "disqus" / "blog.xml"))
    assert (again["comments"], again["already"]) == (0, 8)
    assert count(ctx, imported_comments) == 8


def test_wordpress_import_stores_the_conversation_once(db_url: str, ctx: Context) -> None:
    make_site(ctx)
    first = report(run(db_url, "wordpress", HERE / "wordpress" / "blog.xml"))
    assert (first["threads"], first["comments"], first["replies"], first["writer_replies"]) == (2, 6, 2, 1)
    assert (first["held"], first["removed"], first["spam"]) == (1, 1, 1)
    assert first["skipped"] == {"comment on an attachment": 1, "pingback": 1, "trackback": 1}
    again = report(run(db_url, "wordpress", HERE / "wordpress" / "blog.xml"))
    assert (again["comments"], again["already"]) == (0, 6)
    assert count(ctx, comments) == 6


@pytest.mark.parametrize(
    ("format_name", "path"), [("disqus", "disqus/blog.xml"), ("wordpress", "wordpress/blog.xml")]
)
def test_a_dry_run_writes_nothing(db_url: str, ctx: Context, format_name: str, path: str) -> None:
    make_site(ctx)
    dry = report(run(db_url, format_name, HERE / path, "--dry-run"))
    assert dry["dry_run"] and dry["comments"] > 0
    assert (count(ctx, comments), count(ctx, threads), count(ctx, imported_comments)) == (0, 0, 0)


def test_a_hostile_file_imports_nothing(db_url: str, ctx: Context, tmp_path: Path) -> None:
    make_site(ctx)
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(
        (HERE / "disqus" / "blog.xml")
        .read_bytes()
        .replace(b"<disqus ", b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<disqus ', 1)
    )
    result = run(db_url, "disqus", bomb)
    assert result.exit_code != 0
    assert "line 2" in result.output and "DOCTYPE" in result.output
    assert count(ctx, comments) == 0
