"""`parlour export`: a site in Parlour's own format (and back, byte for byte), and as
Disqus XML."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import text

from factories import make_site
from parlour.cli.main import main
from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, ExtraRecord, ThreadRecord
from parlour.domain.model import Moderation, Status, WhoMayComment, WriterMail
from parlour.importers import parlour as parlour_format
from parlour.services import exporting, lifecycle, markup
from parlour.services.context import Context
from parlour.store import Database
from parlour.store import exports as export_store
from parlour.store import imports as import_store
from parlour.store import moderation as moderation_store
from parlour.store import reader_accounts as account_store
from parlour.store import readers as readers_store
from parlour.store import sites as site_store
from parlour.store import subscriptions as subscription_store
from parlour.store import threads as thread_store

T0 = 1_600_000_000_123  # 2020, with milliseconds
MINUTE = 60_000
DQ = "{http://disqus.com}"
DSQ = "{http://disqus.com/disqus-internals}id"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def empty_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second database of the same kind as `db_url`, with nothing in it."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base, _, name = db_url.rpartition("/")
    other = f"{name}_empty"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{other}"')
    yield f"{base}/{other}"
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')


def write(
    tx: Any, site: Any, thread: Any, body: str, at: int, *, parent: Any = None, key: str = "r:ada",
    name: str | None = "Ada", email: str | None = None, status: Status = Status.PUBLISHED,
    writer: bool = False, verified: bool = False,
) -> Any:  # fmt: skip
    author = lifecycle.Author(key, "ip-" + key, name, email, is_writer=writer, verified=verified)
    text = lifecycle.Text(body, markup.render(body))
    return lifecycle.create(tx, site, thread, parent, author, text, status, T0 + 999 * MINUTE, created_at=at)


def a_site_with_everything(ctx: Context) -> None:
    """Threads, a reply tree with the writer's answers, every status, pins, hearts by
    several readers, the writer's heart, an edit, "no reply needed", an imported comment,
    readers signed in and by email link, reply-mail subscriptions, blocks, settings."""
    make_site(ctx, "blog", ("https://blog.example", "https://www.blog.example"))
    now = T0 + 1000 * MINUTE
    with ctx.db.write() as tx:
        site_store.update_moderation(
            tx, "blog", moderation=Moderation.FIRST_COMMENT, held_words=("casino", "prize"),
            rejected_words=("slur",), max_links=3, close_after_days=90, edit_window=600, writer_heart=False,
            writer_avatar="https://blog.example/me.png", writer_mail=WriterMail.DAILY, unanswered_mail=False,
        )  # fmt: skip
        readers_store.set_site_policy(tx, "blog", WhoMayComment.SIGNED_IN)
        readers_store.set_sso_secret(tx, "blog", "sso-secret-never-exported")
        site = site_store.get_site(tx, "blog")
        assert site is not None
        post = thread_store.get_or_create_thread(
            tx, "blog", "/post", "A post", "https://blog.example/post", T0
        )
        other = thread_store.get_or_create_thread(tx, "blog", "/éte", "Été", None, T0 + MINUTE)
        quiet = thread_store.get_or_create_thread(tx, "blog", "/quiet", None, None, T0 + 2 * MINUTE)
        lifecycle.set_who_may_comment(tx, quiet, WhoMayComment.PAID, now)
        lifecycle.lock(tx, other, True, now)

        account = account_store.account_for(tx, "cy@example.com", "Cy", T0, 7)
        top = write(
            tx,
            site,
            post,
            "Hello *there*, a [link](https://example.com).",
            T0 + MINUTE,
            email="ada@example.com",
        )
        answer = write(
            tx,
            site,
            post,
            "Thank you, Ada.",
            T0 + 2 * MINUTE,
            parent=top,
            key="w:blog",
            name=None,
            writer=True,
        )
        deep = write(
            tx,
            site,
            post,
            "Me too.",
            T0 + 3 * MINUTE,
            parent=answer,
            key=f"u:{account.id}",
            name="Cy",
            verified=True,
        )
        same_time = write(tx, site, post, "Same minute.", T0 + 3 * MINUTE, key="s:abc", name="Sso reader")
        held = write(tx, site, post, "Held for review.", T0 + 4 * MINUTE, status=Status.PENDING)
        rejected = write(tx, site, post, "Rejected.", T0 + 5 * MINUTE, status=Status.PENDING)
        spam = write(tx, site, post, "Buy now.", T0 + 6 * MINUTE, status=Status.PENDING)
        removed = write(tx, site, post, "Taken down.", T0 + 7 * MINUTE, parent=top)
        erased = write(tx, site, post, "Deleted by its author.", T0 + 8 * MINUTE)
        under_erased = write(
            tx, site, post, "A reply to a deleted comment.", T0 + 9 * MINUTE, parent=erased, key="a:x"
        )
        write(tx, site, other, "On the other thread: ]]> and \x0b.", T0 + 10 * MINUTE, name="<Bo & Co>")
        lifecycle.refuse(tx, rejected, "blog", Status.REJECTED, now)
        lifecycle.refuse(tx, spam, "blog", Status.SPAM, now)
        lifecycle.remove(tx, removed, "blog", now, erase=False)
        lifecycle.remove(tx, erased, "blog", now, erase=True)
        lifecycle.pin(tx, top, "blog", True, now)
        for reader in ("reader-2", "reader-1", "reader-3"):
            lifecycle.heart(tx, top, "blog", reader, True, now)
        lifecycle.heart(tx, answer, "blog", "reader-1", True, now)
        lifecycle.heart(tx, top, "blog", None, True, now)
        lifecycle.mark_answered(tx, same_time, "blog", True, now)
        lifecycle.edit(
            tx, site, post, deep, lifecycle.Text("Me too!", markup.render("Me too!")), now, by_writer=True
        )
        imported = write(
            tx, site, post, "From Disqus.", T0 + 11 * MINUTE, key="imported:x", name="Old reader"
        )
        import_store.insert_sources(tx, "blog", None, [(imported.id, "disqus:123")])
        write(tx, site, post, "A reply to the Disqus comment.", T0 + 12 * MINUTE, parent=imported)
        assert held.status is Status.PENDING and under_erased.parent_id == erased.id

        readers_store.remember(
            tx, "blog", "sso:42", "Sso reader", "sso reader", "s@example.com", None, "paid", T0
        )
        readers_store.remember(
            tx, "blog", f"account:{account.id}", "Cy", "cy", "cy@example.com", None, "free", T0
        )
        mail = subscription_store.reader_for(tx, "blog", "ada@example.com", T0 + MINUTE)
        subscription_store.confirm(tx, mail.id, T0 + 2 * MINUTE)
        subscription_store.subscribe(tx, mail.id, post.id, top.id, "replies", T0 + MINUTE)
        subscription_store.subscribe(tx, mail.id, quiet.id, None, "thread", T0 + 3 * MINUTE)
        subscription_store.subscribe(tx, mail.id, post.id, imported.id, "replies", T0 + 3 * MINUTE)
        subscription_store.end_thread(tx, mail.id, quiet.id, T0 + 4 * MINUTE)
        gone = subscription_store.reader_for(tx, "blog", "gone@example.com", T0)
        subscription_store.unsubscribe_site(tx, gone.id, T0 + MINUTE)
        moderation_store.insert_block(tx, "blog", "email", "spam@example.com", "spam", None, T0)
        moderation_store.insert_block(tx, "blog", "address", "ip-a:x", "", T0 + 9 * MINUTE, T0)
        moderation_store.insert_block(tx, "blog", "reader", "ada", "too much", None, T0 + MINUTE)


def export(url: str, *options: str) -> bytes:
    result = CliRunner().invoke(
        main, ["export", "--site", "blog", *options, "--database", url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_export_imported_into_an_empty_database_exports_the_same_bytes(
    ctx: Context, db_url: str, empty_url: str, tmp_path: Path
) -> None:
    a_site_with_everything(ctx)
    first = export(db_url)
    (tmp_path / "blog.jsonl").write_bytes(first)
    run("import", "parlour", str(tmp_path / "blog.jsonl"), "--site", "blog", "--database", empty_url)
    second = export(empty_url)
    assert second == first
    lines = [orjson.loads(line) for line in first.splitlines()]
    assert lines[0] == {"format": "parlour", "site": "blog", "version": 1}
    assert lines[-1] == {"type": "end", "records": len(lines) - 2}
    statuses = {c["status"] for c in lines if c.get("type") == "comment"}
    assert statuses == {"published", "pending", "rejected", "spam", "removed"}
    # and once more: a database whose comments all came from an export names them alike
    (tmp_path / "again.jsonl").write_bytes(second)
    assert "already" in run(
        "import", "parlour", str(tmp_path / "again.jsonl"), "--site", "blog", "--database", empty_url
    )
    assert export(empty_url) == first


def test_export_names_comments_by_stable_ids_and_keeps_every_detail(ctx: Context, db_url: str) -> None:
    a_site_with_everything(ctx)
    lines = [orjson.loads(line) for line in export(db_url).splitlines()]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for line in lines[1:]:
        by_type.setdefault(line["type"], []).append(line)
    site = by_type["site"][0]
    assert site["origins"] == ["https://blog.example", "https://www.blog.example"]
    assert site["moderation"] == "first_comment" and site["who_may_comment"] == "signed-in"
    assert [t["key"] for t in by_type["thread"]] == ["/post", "/quiet", "/éte"]  # by bytes
    comments = {c["body"]: c for c in by_type["comment"]}
    top = comments["Hello *there*, a [link](https://example.com)."]
    assert top["pinned"] and top["liked_by_writer"] and top["hearts"] == 3
    assert [h["reader"] for h in top["hearted_by"]] == ["reader-1", "reader-2", "reader-3"]
    assert comments["Thank you, Ada."]["author_key"] == "writer"
    assert comments["Me too!"]["author_key"] == "account:cy@example.com"
    assert comments["Me too!"]["edited_at"] is not None and comments["Me too!"]["author_verified"]
    assert comments["From Disqus."]["id"] == "disqus:123"
    assert comments["A reply to the Disqus comment."]["parent"] == "disqus:123"
    assert comments["Same minute."]["inbox_done"]
    prefix = exporting.export_prefix(ctx)
    assert top["id"].startswith(prefix + "-") and comments["Thank you, Ada."]["parent"] == top["id"]
    assert [m["email"] for m in by_type["mail_reader"]] == ["ada@example.com", "gone@example.com"]
    assert [s["kind"] for s in by_type["mail_reader"][0]["subscriptions"]] == ["replies", "replies", "thread"]
    assert by_type["mail_reader"][0]["subscriptions"][1]["comment"] == "disqus:123"
    assert [r["subject"] for r in by_type["site_reader"]] == ["account:cy@example.com", "sso:42"]
    assert [a["email"] for a in by_type["reader_account"]] == ["cy@example.com"]
    assert len(by_type["block"]) == 3


def test_export_never_carries_secrets(ctx: Context, db_url: str) -> None:
    a_site_with_everything(ctx)
    from parlour.services import sites, webhooks

    token = sites.create_writer_token(ctx, "blog")
    hook = webhooks.add(ctx, "blog", "https://hooks.example/in", ())
    text = export(db_url) + export(db_url, "--format", "disqus")
    for secret in ("sso-secret-never-exported", ctx.settings.secret, token, hook.secret, "hooks.example"):
        assert secret.encode() not in text


def test_export_reads_the_site_a_batch_at_a_time(
    ctx: Context, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_site_with_everything(ctx)
    whole = io.BytesIO()
    exporting.parlour(ctx, "blog", whole.write)
    calls: list[int] = []
    real = export_store.comments_after

    def counted(*args: Any) -> list[Any]:
        found = real(*args)
        calls.append(len(found))
        return found

    monkeypatch.setattr(exporting, "BATCH", 2)
    monkeypatch.setattr(export_store, "comments_after", counted)
    batched = io.BytesIO()
    exporting.parlour(ctx, "blog", batched.write)
    assert batched.getvalue() == whole.getvalue()
    assert max(calls) == 2 and sum(calls) == whole.getvalue().count(b'"type":"comment"')


def test_disqus_export_parses_and_keeps_the_reply_tree(ctx: Context, db_url: str) -> None:
    a_site_with_everything(ctx)
    xml = export(db_url, "--format", "disqus")
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    threads = {t.get(DSQ): t for t in root.iter(DQ + "thread") if t.find(DQ + "id") is not None}
    assert {t.findtext(DQ + "id") for t in threads.values()} == {"/post", "/éte", "/quiet"}
    assert (
        threads[next(k for k, t in threads.items() if t.findtext(DQ + "id") == "/éte")].findtext(
            DQ + "isClosed"
        )
        == "true"
    )
    posts = {p.get(DSQ): p for p in root.iter(DQ + "post")}
    by_text = {p.findtext(DQ + "message"): p for p in posts.values()}
    answer = by_text["<p>Thank you, Ada.</p>\n"]
    parent = posts[answer.find(DQ + "parent").get(DSQ)]
    assert (
        parent.findtext(DQ + "message")
        == '<p>Hello <em>there</em>, a <a href="https://example.com" rel="nofollow ugc noopener">link</a>.</p>\n'
    )
    assert answer.findtext(f"{DQ}author/{DQ}name") == "Wren"
    other = by_text["<p>On the other thread: ]]&gt; and .</p>\n"]  # \x0b dropped, ]]> kept
    assert other.findtext(f"{DQ}author/{DQ}name") == "<Bo & Co>"
    deleted = {p.findtext(DQ + "message"): p.findtext(DQ + "isDeleted") for p in posts.values()}
    assert deleted["<p>Taken down.</p>\n"] == "true" and deleted["<p>Held for review.</p>\n"] == "true"
    assert by_text["<p>Buy now.</p>\n"].findtext(DQ + "isSpam") == "true"
    assert all(len(p.findtext(DQ + "createdAt")) == 20 for p in posts.values())  # to the second, as Disqus


def lines_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


HEADER = '{"format":"parlour","version":1,"site":"blog"}'


def test_parlour_reader_yields_threads_comments_and_the_rest(
    ctx: Context, db_url: str, tmp_path: Path
) -> None:
    a_site_with_everything(ctx)
    path = tmp_path / "blog.jsonl"
    path.write_bytes(export(db_url))
    records = list(parlour_format.read(path))
    assert {type(r) for r in records} == {ThreadRecord, CommentRecord, ExtraRecord}
    rejected = next(r for r in records if isinstance(r, CommentRecord) and r.body == "Rejected.")
    assert rejected.state == "rejected" and rejected.extra["status"] == "rejected"
    assert all(r.line for r in records)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"format":"disqus"}'], "line 1: not a Parlour export"),
        (['{"format":"parlour","version":2}'], "line 1: this is a version 2 export"),
        ([HEADER, '{"type":"thread","key":"/a"'], "line 2: not JSON"),
        ([HEADER, "[1]"], "line 2: each line must be a JSON object"),
        ([HEADER, '{"type":"thread","key":"/a","locked":"no"}'], "line 2: `locked` must be true or false"),
        ([HEADER, '{"type":"poll"}'], "line 2: unknown record type 'poll'"),
        ([HEADER, '{"type":"end","records":1}'], "line 2: the file should hold 1 records and holds 0"),
        ([HEADER, '{"type":"end","records":0}', HEADER], "line 3: nothing may follow"),
        ([HEADER], "line 2: the file ends before its `end` line"),
        ([], "the file is empty"),
    ],
)
def test_parlour_reader_stops_at_a_bad_line(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(InvalidImportFile) as caught:
        list(parlour_format.read(lines_file(tmp_path, *lines)))
    assert message in caught.value.message


def test_parlour_reader_refuses_a_time_without_milliseconds(tmp_path: Path) -> None:
    thread = '{"type":"thread","key":"/a","locked":false,"created_at":"2020-01-01T00:00:00Z"}'
    with pytest.raises(InvalidImportFile, match="line 2: `created_at` must be a time"):
        list(parlour_format.read(lines_file(tmp_path, HEADER, thread, '{"type":"end","records":1}')))


def test_an_export_imported_back_where_it_came_from_adds_nothing(
    ctx: Context, db_url: str, tmp_path: Path
) -> None:
    a_site_with_everything(ctx)
    first = export(db_url)
    (tmp_path / "blog.jsonl").write_bytes(first)
    out = run(
        "import", "parlour", str(tmp_path / "blog.jsonl"), "--site", "blog", "--json", "--database", db_url
    )
    report = orjson.loads(out)
    assert report["comments"] == 0 and report["already"] > 0
    assert export(db_url) == first


def test_a_broken_parlour_export_makes_no_site(db_url: str, empty_url: str, tmp_path: Path) -> None:
    path = lines_file(tmp_path, '{"format":"parlour","site":"blog","version":1}', '{"type":"thread"')
    result = CliRunner().invoke(
        main, ["import", "parlour", str(path), "--site", "new", "--database", empty_url]
    )
    assert result.exit_code == 1 and "invalid_import_file" in result.output
    result = CliRunner().invoke(main, ["site", "list", "--database", empty_url])
    assert "new" not in result.output.split()


def test_a_disqus_export_imports_with_its_tree_through_a_disqus_importer(
    ctx: Context, db_url: str, empty_url: str, tmp_path: Path
) -> None:
    a_site_with_everything(ctx)
    (tmp_path / "disqus.xml").write_bytes(export(db_url, "--format", "disqus"))
    run("site", "create", "blog", "--database", empty_url)
    report = orjson.loads(
        run(
            "import",
            "disqus",
            str(tmp_path / "disqus.xml"),
            "--site",
            "blog",
            "--json",
            "--database",
            empty_url,
        )
    )
    assert report["comments"] > 0 and report["orphans"] == 0

    def shown(url: str) -> dict[str, str | None]:
        """Each published comment as readers see it, and its parent's (the Markdown may differ)."""
        db = Database(url)
        try:
            with db.engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT c.html, p.html FROM comments c LEFT JOIN comments p ON p.id = c.parent_id "
                        "WHERE c.status = 'published'"
                    )
                ).all()
        finally:
            db.dispose()

        def xml(html: str | None) -> str | None:  # what XML can carry: not the \x0b in one text
            return None if html is None else html.replace("\x0b", "")

        return {xml(html): xml(parent) for html, parent in rows}

    assert shown(empty_url) == shown(db_url)
