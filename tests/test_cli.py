"""The `parlour` command, as a new user runs it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from factories import walk
from parlour.app import create_app
from parlour.cli.main import main
from parlour.services.context import open_context
from parlour.settings import Settings

COMMANDS = [[], ["serve"], ["migrate"], ["demo"], ["export"], ["backup"], ["restore"], ["site"], ["site", "create"], ["site", "set"], ["site", "list"], ["token"], ["token", "create"], ["admin"], ["admin", "create"], ["admin", "setup-code"], ["webhook"], ["webhook", "add"], ["webhook", "list"], ["webhook", "remove"], ["webhook", "pause"], ["webhook", "resume"], ["import"], ["check"]]  # fmt: skip


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "parlour")
def test_every_command_has_help(command: list[str]) -> None:
    output = run(*command, "--help")
    assert "Usage:" in output and len(output.splitlines()) > 3


def test_demo_loads_the_demo_site_once(db_url: str) -> None:
    assert "28 comments" in run("demo", "--database", db_url)
    assert "already loaded" in run("demo", "--database", db_url)
    ctx = open_context(Settings(database=db_url))
    try:
        with TestClient(create_app(context=ctx)) as client:
            page = client.get("/api/v1/comments", params={"site": "demo", "thread": "/welcome"}).json()
        bodies = " ".join(c["body"] for c in walk(page["comments"]))
        assert page["thread"]["comment_count"] == 28
        for emoji in ["😊", "🫶🏽", "❤️", "🌍🤝💪"]:
            assert emoji in bodies
        assert "?" in bodies and "“" in bodies and "\n\n" in bodies
        assert page["comments"][0]["pinned"] is True
        assert any(r["author"]["is_writer"] for c in page["comments"] for r in c["replies"])
    finally:
        ctx.close()


def test_site_commands_create_change_and_list_sites(db_url: str) -> None:
    run("migrate", "--database", db_url)
    run(
        "site",
        "create",
        "notes",
        "--name",
        "Notes",
        "--writer-name",
        "Wren",
        "--origin",
        "https://Notes.example/",
        "--database",
        db_url,
    )
    assert "https://notes.example" in run("site", "list", "--database", db_url)
    output = run(
        "site",
        "set",
        "notes",
        "--origin",
        "https://a.example",
        "--origin",
        "https://b.example:8443",
        "--database",
        db_url,
    )
    assert "https://a.example, https://b.example:8443" in output
    duplicate = CliRunner().invoke(main, ["site", "create", "notes", "--database", db_url])
    assert duplicate.exit_code == 1 and "site_exists" in duplicate.output
    bad = CliRunner().invoke(main, ["site", "set", "notes", "--origin", "not a url", "--database", db_url])
    assert bad.exit_code == 1 and "invalid_origin" in bad.output


def test_token_create_prints_a_token_that_acts_as_the_writer(db_url: str) -> None:
    run("site", "create", "notes", "--writer-name", "Wren", "--database", db_url)
    token = run("token", "create", "--site", "notes", "--database", db_url).strip()
    ctx = open_context(Settings(database=db_url, secret="s"))
    try:
        with TestClient(create_app(context=ctx)) as client:
            response = client.post(
                "/api/v1/comments",
                json={"site": "notes", "thread": "/p", "body": "From the writer"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 201
        assert response.json()["comment"]["author"] == {
            "name": "Wren",
            "is_writer": True,
            "avatar_url": None,
            "verified": False,
        }
    finally:
        ctx.close()
    unknown = CliRunner().invoke(main, ["token", "create", "--site", "nope", "--database", db_url])
    assert unknown.exit_code == 1 and "unknown_site" in unknown.output


def test_check_reports_problems_with_ids_and_fixes(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    behind = CliRunner().invoke(main, ["check", "--database", fresh])
    assert behind.exit_code == 1 and "P002" in behind.output and "parlour migrate" in behind.output
    run("migrate", "--database", db_url)
    output = run("check", "--database", db_url)
    assert "P003" in output
    run("site", "create", "bare", "--database", db_url)
    assert "P004" in run("check", "--database", db_url)
    memory = CliRunner().invoke(main, ["check", "--database", "sqlite:///:memory:"])
    assert memory.exit_code == 2 and "in-memory" in memory.output
    unreachable = CliRunner().invoke(main, ["check", "--database", "postgresql://nobody@127.0.0.1:1/none"])
    assert unreachable.exit_code == 1 and "P001" in unreachable.output


def test_bad_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLOUR_EDIT_WINDOW", "forever")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2 and "PARLOUR_EDIT_WINDOW" in result.output


def test_admin_create_makes_owners_and_moderators_who_can_sign_in(db_url: str) -> None:
    run("site", "create", "notes", "--database", db_url)
    code = run("admin", "setup-code", "--database", db_url).strip()
    assert len(code) == 12
    assert "owner of every site" in run(
        "admin",
        "create",
        "--email",
        "Ada@Notes.example",
        "--password",
        "correct horse battery",
        "--database",
        db_url,
    )
    prompted = CliRunner().invoke(
        main,
        ["admin", "create", "--moderator-of", "notes", "--database", db_url],
        input="mo@notes.example\nanother good password\nanother good password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "moderator of notes" in prompted.output
    assert "has its owner already" in run("admin", "setup-code", "--database", db_url)
    assert "owner of notes" in run(
        "admin", "create", "--email", "kit@notes.example", "--password", "x" * 12, "--owner-of", "notes",
        "--database", db_url,
    )  # fmt: skip

    weak = CliRunner().invoke(
        main, ["admin", "create", "--email", "x@y.z", "--password", "short", "--database", db_url]
    )
    assert weak.exit_code == 1 and "weak_password" in weak.output
    again = CliRunner().invoke(
        main,
        ["admin", "create", "--email", "ada@notes.example", "--password", "x" * 12, "--database", db_url],
    )
    assert again.exit_code == 1 and "account_exists" in again.output

    from parlour.domain.model import Role
    from parlour.services import accounts

    ctx = open_context(Settings(database=db_url))
    try:
        owner = accounts.sign_in(ctx, "ada@notes.example", "correct horse battery", "test")
        moderator = accounts.sign_in(ctx, "MO@notes.example", "another good password", "test")
        assert owner.is_owner and accounts.roles(ctx, owner) == {"notes": Role.OWNER}
        assert not moderator.is_owner and accounts.roles(ctx, moderator) == {"notes": Role.MODERATOR}
    finally:
        ctx.close()


def test_a_refusal_is_printed_whole_on_one_line_and_never_read_as_markup(db_url: str) -> None:
    site = "[bold]nope[/bold]-" + "x" * 40
    result = CliRunner().invoke(main, ["token", "create", "--site", site, "--database", db_url])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and site in result.output
