"""Docs are part of the product: every setting, command and error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parlour.domain.errors import all_error_classes
from parlour.settings import documented_settings
from test_cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
WEB_CODES = ["invalid_request", "malformed_json", "not_found", "method_not_allowed", "internal_error"]


@pytest.mark.parametrize("name", [name for name, _, _ in documented_settings()])
def test_every_setting_is_documented(name: str) -> None:
    assert name in (DOCS / "configuration.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", [c for c in COMMANDS if c], ids=" ".join)
def test_every_command_is_documented(command: list[str]) -> None:
    assert "parlour " + " ".join(command) in (DOCS / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("code", sorted({c.code() for c in all_error_classes()} | set(WEB_CODES)))
def test_every_error_code_is_documented(code: str) -> None:
    assert f"`{code}`" in (DOCS / "api.md").read_text(encoding="utf-8")


def test_readme_gives_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text


def test_every_picture_in_readme_and_docs_is_there_and_small() -> None:
    """The screenshots the test suite takes (PARLOUR_UPDATE_SCREENSHOTS=1) are all shown,
    and every picture shown exists and stays light enough for a README."""
    pages = [README, *DOCS.glob("*.md")]
    picture = re.compile(r'!\[[^\]]*\]\(([^)]+\.png)\)|<img src="([^"]+\.png)"')  # Markdown or HTML
    shown = {
        (page.parent / (markdown or html)).resolve()
        for page in pages
        for markdown, html in picture.findall(page.read_text("utf-8"))
    }
    assert shown == {p.resolve() for p in (DOCS / "images").glob("*.png")}
    assert all(p.stat().st_size < 250_000 for p in shown)


def test_every_file_deploy_md_names_exists() -> None:
    """docs/deploy.md walks a writer through files of the repository: links (relative to
    docs/) and `code` paths (relative to the repository) must all be there."""
    text = (DOCS / "deploy.md").read_text("utf-8")
    linked = {
        (DOCS / target).resolve()
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
        if "://" not in target
    }
    named = {
        (ROOT / path).resolve() for path in re.findall(r"`((?:deploy|docs|bench|tests|src)/[\w./@-]+)`", text)
    }
    assert linked and named
    assert sorted(str(p) for p in linked | named if not p.exists()) == []
