"""The desk's import page and the review of a pasted comment section: an owner uploads,
sees the report; a paste waits, held, until she marks her replies and publishes them as
one thread. A moderator cannot import."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from desk_helpers import csrf, desk_client, make_user, sign_in
from factories import make_site, read, walk
from parlour.services.context import Context
from parlour.store.schema import comments, imports

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "comment-section-copy.txt"
COPY = "Lovely piece on tide pools.\nThank you, glad you liked it!\nWhere was the photo taken?\nOn the north shore.\n"
PAGE = "/desk/sites/blog/import"


@pytest.fixture
def owner(ctx: Context) -> TestClient:
    make_site(ctx)
    make_user(ctx, "wren@blog.example", owner=True)
    browser = desk_client(ctx)
    assert sign_in(browser, "wren@blog.example").status_code == 303
    return browser


def upload(browser: TestClient, text: str | bytes, **fields: str) -> Any:
    data = {"csrf": csrf(browser, PAGE), "format": "paste", "thread": "/pasted", **fields}
    body = text.encode() if isinstance(text, str) else text
    return browser.post(PAGE, data=data, files={"file": ("copy.txt", body, "text/plain")})


def stored(ctx: Context) -> int:
    with ctx.db.read() as tx:
        return int(tx.execute(select(func.count()).select_from(comments)).scalar_one())


def review_form(page: str) -> dict[str, str]:
    """The review form as the browser would send it untouched."""
    form = dict(re.findall(r'name="(csrf|name-\d+)"[^>]*value="([^"]*)"', page))
    for name in re.findall(r'name="(mine-\d+)" value="1" data-mine checked', page):
        form[name] = "1"
    for select_name, options in re.findall(
        r'<select name="(parent-\d+)" data-parent>(.*?)</select>', page, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        form[select_name] = chosen.group(1) if chosen else ""
    return form


def test_a_dry_run_upload_shows_the_report_and_stores_nothing(ctx: Context, owner: TestClient) -> None:
    page = upload(owner, COPY, dry_run="1")
    assert page.status_code == 200, page.text
    assert "Dry run: nothing was stored" in page.text
    assert re.search(r'data-key="comments">4<', page.text)
    assert stored(ctx) == 0


def test_a_bad_file_is_shown_plainly_and_nothing_is_imported(ctx: Context, owner: TestClient) -> None:
    page = upload(owner, b"PK\x03\x04\x00binary")
    assert page.status_code == 422
    assert 'data-code="invalid_import_file"' in page.text and "not text" in page.text
    missing = owner.post(PAGE, data={"csrf": csrf(owner, PAGE), "format": "paste"})
    assert missing.status_code == 422 and "Choose the file" in missing.text
    assert stored(ctx) == 0


def test_a_paste_is_held_until_reviewed_then_published_as_one_thread(
    ctx: Context, owner: TestClient, client: TestClient
) -> None:
    answer = owner.post(
        PAGE, data={"csrf": csrf(owner, PAGE), "format": "paste", "thread": "/pasted", "pasted": COPY}
    )
    assert answer.status_code == 303, answer.text
    review_url = answer.headers["location"]
    assert re.fullmatch(r"/desk/imports/\d+", review_url)
    assert read(client, "/pasted")["comments"] == []  # held: no reader sees them yet
    assert review_url in owner.get("/desk/sites/blog").text
    assert review_url in owner.get("/desk/queue").text

    page = owner.get(review_url).text
    ids = [int(i) for i in re.findall(r'<li id="c(\d+)" data-number', page)]
    assert len(ids) == 4
    form = review_form(page)
    for mine, above in ((ids[1], ids[0]), (ids[3], ids[2])):
        form[f"mine-{mine}"] = "1"
        form[f"parent-{mine}"] = str(above)
    form[f"name-{ids[0]}"] = "Ann"
    done = owner.post(review_url, data=form)
    assert done.status_code == 303, done.text

    thread = read(client, "/pasted")
    tops = thread["comments"]
    assert [c["id"] for c in tops] == [ids[0], ids[2]]
    assert [[r["id"] for r in c["replies"]] for c in tops] == [[ids[1]], [ids[3]]]
    assert all(r["author"]["is_writer"] for c in tops for r in c["replies"])
    assert tops[0]["author"]["name"] == "Ann"
    assert thread["thread"]["comment_count"] == 4
    again = owner.post(review_url, data=form)
    assert again.status_code == 422  # published already
    with ctx.db.read() as tx:
        assert tx.execute(select(imports.c.review)).scalar_one() == "done"

    # Pasting the same copy again adds nothing.
    repeat = upload(owner, COPY)
    assert repeat.status_code == 200 and re.search(r'data-key="already">4<', repeat.text)
    assert stored(ctx) == 4


def test_the_real_copy_becomes_one_thread_of_its_unique_comments(
    ctx: Context, owner: TestClient, client: TestClient
) -> None:
    if not SEED.exists():
        pytest.skip(f"{SEED} is not here")
    lines = {" ".join(line.split()) for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()}
    answer = upload(owner, SEED.read_bytes())
    assert answer.status_code == 303, answer.text
    page = owner.get(answer.headers["location"]).text
    ids = [int(i) for i in re.findall(r'<li id="c(\d+)" data-number', page)]
    assert len(ids) == len(lines)
    form = review_form(page)
    form[f"parent-{ids[1]}"] = "join"  # a second paragraph of the first comment
    form[f"mine-{ids[3]}"], form[f"parent-{ids[3]}"] = "1", str(ids[0])
    assert owner.post(answer.headers["location"], data=form).status_code == 303
    shown = walk(read(client, "/pasted", limit=100)["comments"])
    assert len(shown) == len(lines) - 1
    first = next(c for c in shown if c["id"] == ids[0])
    assert first["html"].count("<p>") == 2
    assert [r["id"] for r in first["replies"]] == [ids[3]] and first["replies"][0]["author"]["is_writer"]


def test_a_moderator_can_neither_import_nor_review(ctx: Context, owner: TestClient) -> None:
    answer = owner.post(
        PAGE, data={"csrf": csrf(owner, PAGE), "format": "paste", "thread": "/pasted", "pasted": COPY}
    )
    review_url = answer.headers["location"]
    make_user(ctx, "mo@blog.example", moderator_of=("blog",))
    moderator = desk_client(ctx)
    assert sign_in(moderator, "mo@blog.example").status_code == 303
    assert moderator.get(PAGE).status_code == 403
    token = csrf(moderator, "/desk/queue")
    refused = moderator.post(PAGE, data={"csrf": token, "format": "paste", "pasted": COPY, "thread": "/x"})
    assert refused.status_code == 403
    assert moderator.get(review_url).status_code == 403
    assert moderator.post(review_url, data={"csrf": token}).status_code == 403
    assert review_url not in moderator.get("/desk/queue").text
    assert stored(ctx) == 4


def test_an_owner_imports_a_disqus_export_and_a_parlour_export_from_the_desk(
    ctx: Context, owner: TestClient
) -> None:
    disqus = (Path(__file__).parent / "importers" / "disqus" / "blog.xml").read_bytes()
    page = upload(owner, disqus, format="disqus", thread="")
    assert page.status_code == 200, page.text
    imported = stored(ctx)
    assert imported > 0 and re.search(rf'data-key="comments">{imported}<', page.text)
    from click.testing import CliRunner

    from parlour.cli.main import main

    exported = CliRunner().invoke(main, ["export", "--site", "blog", "--database", ctx.settings.database])
    assert exported.exit_code == 0, exported.output
    again = upload(owner, exported.stdout_bytes, format="parlour", thread="")
    assert again.status_code == 200, again.text
    assert re.search(r'data-key="comments">0<', again.text) and stored(ctx) == imported  # all there already
