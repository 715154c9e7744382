"""Imports: store what a format's reader yields (`domain.imports` records) on a site.

Two passes. First every record is checked and spooled to a scratch file
(store/staging.py), its Markdown rendered once: a file that breaks half-way stops here
and nothing is stored. Then each thread is planned (services/import_plans.py: in a
second process, while this one stores, when a first import is large) and stored in one
transaction (or all of them in one with `atomic`) through `lifecycle.store_imported`:
parents before replies, the comments' own dates, authors, states and hearts, no rate
limit and no admission rule (they were published, held or removed in their old home
already).

Each comment remembers its source ("FORMAT:ID") in `imported_comments`, so running the
same import again adds nothing, and a later file's replies find parents stored before.
A dry run stores every thread in a transaction that is rolled back: its report is
exactly what the import would do.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import orjson

from parlour.domain import errors
from parlour.domain.imports import (
    MAX_COUNT,
    MAX_SOURCE,
    MAX_TIME_MS,
    CommentRecord,
    ExtraRecord,
    Skipped,
    State,
    ThreadRecord,
    bad_file,
)
from parlour.domain.model import Comment, Site, Thread
from parlour.services import lifecycle, markup, rules, sites
from parlour.services.context import Context
from parlour.services.folding import fold
from parlour.services.import_plans import Planner, Planning, ThreadPlan, plan_thread
from parlour.services.security import content_hash
from parlour.store import Tx
from parlour.store import imports as store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store
from parlour.store.staging import Staging

BATCH = 2000  # records spooled per statement
TX_COMMENTS = 2000  # comments stored per transaction, in whole threads
PLAN_AHEAD_FROM = 20_000  # records read from which a first import plans its threads in a child process
_POST_QUERY = re.compile(r"(?:^|&)(?:p|page_id)=\d+(?:&|$)")  # WordPress's plain link to a post or page


class Restorer(Protocol):
    """What only Parlour's own format carries besides the generic records (exact states,
    pins, hearts by reader, the site's settings, readers, blocks): services/restoring.py."""

    def thread(self, tx: Tx, thread: Thread, extra: dict[str, Any], now: int) -> None: ...

    def comment(self, tx: Tx, comment: Comment, extra: dict[str, Any], now: int) -> None: ...

    def extra(
        self, tx: Tx, site: Site, record: ExtraRecord, comment_id_of: Callable[[str], int | None], now: int
    ) -> None: ...

    def own_comments(self, tx: Tx, site_id: str, sources: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Comments of this database that an export of it names (its own ids, not an
        import's): source -> (comment id, thread id), so importing it here adds nothing."""
        ...


@dataclass(frozen=True, slots=True)
class Options:
    """What `parlour import` was asked. `map_url`: (old prefix, new prefix) pairs, the
    first that matches a thread's address rewrites it. `thread_key`: the key of a
    thread whose file names no address. `hold`: every comment goes to the queue."""

    site_id: str
    format: str
    file_name: str | None = None
    map_url: tuple[tuple[str, str], ...] = ()
    thread_key: str | None = None
    writer_email: str | None = None
    writer_name: str | None = None
    dry_run: bool = False
    atomic: bool = False
    hold: bool = False
    restorer: Restorer | None = None  # Parlour's own format: services.restoring
    create_site: bool = False  # make the site if it does not exist (its settings come from the file)


@dataclass(slots=True)
class Report:
    """What an import did (or, in a dry run, would do)."""

    threads: int = 0  # threads with comments imported
    threads_new: int = 0  # of which created by the import
    comments: int = 0  # comments stored, replies included
    replies: int = 0
    writer_replies: int = 0  # comments marked as the writer's
    held: int = 0  # in the moderation queue
    removed: int = 0
    spam: int = 0
    rejected: int = 0
    already: int = 0  # stored by an earlier import of the same source: left as they are
    orphans: int = 0  # replies whose parent is not in the file: kept at the top level
    unpinned: int = 0  # pins not kept: Parlour pins published top-level comments only
    skipped: Counter[str] = field(default_factory=Counter)
    import_id: int | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "threads_new": self.threads_new,
            "comments": self.comments,
            "replies": self.replies,
            "writer_replies": self.writer_replies,
            "held": self.held,
            "removed": self.removed,
            "spam": self.spam,
            "rejected": self.rejected,
            "already": self.already,
            "orphans": self.orphans,
            "unpinned": self.unpinned,
            "skipped": dict(sorted(self.skipped.items())),
            "import_id": self.import_id,
            "dry_run": self.dry_run,
        }


Progress = Callable[[str, int, int | None], None]  # (phase, done, total or None)


def _restorer(options: Options) -> Restorer:
    if options.restorer is None:
        raise bad_file(
            f"this file carries what only Parlour's own import restores, not the {options.format} import"
        )
    return options.restorer


class _DryRun(Exception):
    """Raised to roll back a dry run's transaction."""


def parse_map_url(rule: str) -> tuple[str, str]:
    """`OLD=NEW` from the command line: a prefix of old addresses and what replaces it."""
    old, sep, new = rule.partition("=")
    if not sep or not old.strip():
        raise errors.InvalidParameter(
            f"--map-url wants OLD=NEW (an address prefix and its replacement), not {rule!r}.", field="map_url"
        )
    return old.strip(), new.strip()


def thread_key_of(url: str, map_url: Iterable[tuple[str, str]]) -> str:
    """The key the widget uses for a page at `url`, after the first matching rewrite.

    The widget keys a thread by `location.pathname` (or the canonical link's path), which
    browsers give percent-encoded: so is this, with the same characters left alone. An
    address whose path names no page (WordPress's plain `/?p=42`, `/index.php?p=42`, or
    `/blog/?p=42` for a blog installed in a folder) keeps its query, or every post of
    such a blog would be one thread.
    """
    for old, new in map_url:
        if url.startswith(old):
            url = new + url[len(old) :]
            break
    url = url.strip()
    parts = urlsplit(
        url if "://" in url or url.startswith("//") else "//x" + ("" if url.startswith("/") else "/") + url
    )
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    key = quote(unquote(path), safe="/!$&'()*+,;=:@-._~")
    if parts.query and (
        path == "/" or path.endswith(".php") or (path.endswith("/") and _POST_QUERY.search(parts.query))
    ):
        key += "?" + quote(unquote(parts.query), safe="/!$&'()*+,;=:@-._~?")
    return key


def run(
    ctx: Context, records: Iterable[ThreadRecord | CommentRecord | ExtraRecord | Skipped], options: Options,
    progress: Progress | None = None,
) -> Report:  # fmt: skip
    """Import `records` into the site `options.site_id` and report what was done."""
    with ctx.db.read() as tx:
        site = site_store.get_site(tx, options.site_id)
    if site is None and not (options.create_site and not options.dry_run):
        raise errors.UnknownSite(options.site_id)
    if options.format == "paste":
        options = replace(options, hold=True)  # a pasted copy is reviewed before anyone sees it
    report = Report(dry_run=options.dry_run)
    earlier = False  # a first import of this format finds nothing to skip: no look-ups
    if site is not None:
        with ctx.db.read() as tx:
            earlier = store.has_sources(tx, site.id, f"{options.format}:")
    # A large first import plans its threads on a second core (import_plans.py); a
    # re-import and Parlour's own format look the database up while they plan.
    planner = Planner() if not earlier and options.restorer is None else None
    staging = Staging()
    try:
        _spool(ctx, staging, records, options, report, progress, planner)
        if site is None:  # made only now that the whole file has been read and checked
            site = sites.create_site(ctx, options.site_id, "", "", [])
        _store(ctx, site, staging, options, report, progress, earlier, planner)
    finally:
        if planner is not None:
            planner.close()
        staging.close()
    return report


def _spool(
    ctx: Context, staging: Staging, records: Iterable[Any], options: Options, report: Report,
    progress: Progress | None, planner: Planner | None,
) -> None:  # fmt: skip
    threads: list[tuple[Any, ...]] = []
    comments: list[tuple[Any, ...]] = []
    extras: list[tuple[str, dict[str, object], int | None]] = []
    seen = 0
    prefix = f"{options.format}:"

    def flush() -> None:
        if threads:
            staging.add_threads(threads)
            threads.clear()
        if comments:
            repeated = len(comments) - staging.add_comments(comments)
            if repeated:
                report.skipped["named twice in the file"] += repeated
            comments.clear()
        if extras:
            staging.add_extras(extras)
            extras.clear()

    for record in records:
        seen += 1
        if isinstance(record, CommentRecord):
            comments.append(_checked_comment(ctx, record, options.site_id, prefix))
        elif isinstance(record, ThreadRecord):
            threads.append(
                (
                    record.source_id,
                    record.url,
                    record.key,
                    record.title,
                    record.closed,
                    record.line,
                    record.extra,
                )
            )
        elif isinstance(record, ExtraRecord):
            extras.append((record.kind, record.data, record.line))
        elif isinstance(record, Skipped):
            report.skipped[record.reason] += 1
        if seen % BATCH == 0:
            flush()
            if planner is not None and seen >= PLAN_AHEAD_FROM:
                planner.start()  # it loads while the rest of the file is read
            if progress:
                progress("reading", seen, None)
    flush()
    staging.done_adding()
    if progress:
        progress("reading", seen, seen)


def _clean(value: str | None, limit: int) -> str | None:
    """An imported name or address: NFC, no control characters, at most `limit` long."""
    if value is None:
        return None
    if not (value.isascii() and value.isprintable()):  # else nothing to normalise or drop
        value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
        value = "".join(ch for ch in unicodedata.normalize("NFC", value) if ch >= " " and ch != "\x7f")
    value = value.strip()
    return value[:limit] or None


def _checked_comment(ctx: Context, r: CommentRecord, site_id: str, prefix: str) -> tuple[Any, ...]:
    """A comment record as a staging row, its Markdown rendered and hashed, its author's
    key made (work done here overlaps the file's reading); refused if malformed."""
    if not isinstance(r.body, str) or not isinstance(r.created_at, int) or isinstance(r.created_at, bool):
        raise bad_file("a comment without text or without a time", line=r.line)
    if not r.source_id or not r.thread:
        raise bad_file("a comment without an id or a thread", line=r.line)
    if len(str(r.source_id)) > MAX_SOURCE or len(str(r.parent or "")) > MAX_SOURCE:
        raise bad_file(f"a comment's id is longer than {MAX_SOURCE} characters", line=r.line)
    for when in (r.created_at, r.edited_at):  # a page shows them: RFC 3339 ends at 9999
        if when is not None and (type(when) is not int or not 0 <= when <= MAX_TIME_MS):
            raise bad_file("a comment's time is not between 1970 and 9999", line=r.line)
    if type(r.hearts) is not int or not 0 <= r.hearts <= MAX_COUNT:
        raise bad_file("a comment's hearts are not a count", line=r.line)
    body = r.body.replace("\x00", "").strip()
    if not body.isascii():  # a lone surrogate cannot be stored or sanitised: it becomes "?"
        body = body.encode("utf-8", "replace").decode("utf-8")
    if len(body) > ctx.settings.body_max * 4:
        body = body[: ctx.settings.body_max * 4]  # kept (old systems allowed more), but bounded
    html = markup.render(body) if body else ""
    state = r.state if type(r.state) is State else State(r.state)
    if not body and state in (State.PUBLISHED, State.PENDING):
        state = State.REMOVED  # no words (Disqus's `<message/>`): a placeholder if answered, else unseen
    source, name, email = str(r.source_id), _clean(r.author_name, 200), _clean(r.author_email, 320)
    return (
        source, str(r.thread), None if r.parent in (None, "") else str(r.parent), body, html,
        r.created_at, name, email, state.value,
        r.hearts, bool(r.is_writer), r.edited_at, bool(r.pinned), content_hash(body),
        _author_key(site_id, email, name, prefix + source), r.line, r.extra,
    )  # fmt: skip


@contextmanager
def _transaction(ctx: Context, dry_run: bool) -> Iterator[Tx]:
    """A write transaction; a dry run's is rolled back at the end."""
    try:
        with ctx.db.write() as tx:
            yield tx
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass


def _store(
    ctx: Context, site: Site, staging: Staging, options: Options, report: Report, progress: Progress | None,
    earlier: bool, planner: Planner | None,
) -> None:  # fmt: skip
    for _source, count in staging.unknown_threads():
        report.skipped["thread not in the file"] += count
    threads = list(staging.threads())
    total = sum(t["comments"] for t in threads)
    planning = Planning(
        prefix=f"{options.format}:",
        hold=options.hold,
        writer_email=(options.writer_email or "").strip().lower() or None,
        writer_name=fold(options.writer_name) if options.writer_name else None,
        site_writer_name=site.writer_name,
    )
    stored_so_far = 0
    review = "pending" if options.hold else None
    # Threads with comments, and those a Parlour export lists without any (their extras).
    with_comments = [t for t in threads if t["comments"] or t["extra"]]
    if with_comments and not options.thread_key and not any(t["key"] or t["url"] for t in with_comments):
        raise errors.InvalidParameter(
            "This file does not say which page its comments are from: give the thread's key "
            "(--thread KEY, the path of the post's address).",
            field="thread",
        )
    keys = {t["source_id"]: _key_of(ctx, t, options) for t in with_comments}
    batches = [with_comments] if options.atomic else list(_batches(with_comments))
    import_id: int | None = None

    def store_threads(tx: Tx, batch: list[dict[str, Any]], plans: Iterator[ThreadPlan] | None) -> None:
        nonlocal stored_so_far
        for t in batch:
            key = keys[t["source_id"]]
            if key is None:
                report.skipped[
                    "thread without an address (give --thread KEY)"
                    if not t["url"]
                    else "thread address not usable as a key"
                ] += t["comments"]
            else:
                plan = next(plans) if plans is not None else None
                _store_thread(
                    ctx, tx, site, staging, t, key, options, planning, report, import_id, earlier, plan
                )
            stored_so_far += t["comments"]
            if progress:
                progress("storing", stored_so_far, total)

    def store_all(plans: Iterator[list[ThreadPlan]] | None) -> None:
        nonlocal import_id
        if options.atomic:
            with _transaction(ctx, options.dry_run) as tx:
                import_id = None if options.dry_run else _begin(ctx, tx, site, options, review)
                store_threads(tx, batches[0], iter(next(plans)) if plans else None)
                finish(tx, import_id)
            return
        if not options.dry_run:
            with ctx.db.write() as tx:
                import_id = _begin(ctx, tx, site, options, review)
        for batch in batches:
            with _transaction(ctx, options.dry_run) as tx:
                store_threads(tx, batch, iter(next(plans)) if plans else None)
        with _transaction(ctx, options.dry_run) as tx:
            finish(tx, import_id)

    def finish(tx: Tx, import_id: int | None) -> None:
        _restore_extras(ctx, tx, site, staging, options)
        if import_id is not None:
            report.import_id = import_id
            store.finish_import(tx, import_id, orjson.dumps(report.as_dict()).decode())

    if planner is not None and planner.started and batches:
        planned = [[t["source_id"] for t in batch if keys[t["source_id"]]] for batch in batches]
        plans = planner.plans(staging.path, planning, planned)
        store_all(plans)
        for _ in plans:  # its last word, "done"; a plan more than asked for is a bug
            raise RuntimeError("the planning process sent more plans than there were transactions")
    else:
        store_all(None)


def _batches(threads: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Whole threads, grouped so one transaction stores about TX_COMMENTS comments: a
    thread is never split, and a blog of many small threads does not pay a commit each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for t in threads:
        if batch and size + t["comments"] > TX_COMMENTS:
            yield batch
            batch, size = [], 0
        batch.append(t)
        size += t["comments"]
    if batch:
        yield batch


def _begin(ctx: Context, tx: Tx, site: Site, options: Options, review: str | None) -> int:
    return store.record_import(
        tx, site.id, options.format, options.file_name, options.thread_key, review, ctx.now()
    )


def _key_of(ctx: Context, thread: dict[str, Any], options: Options) -> str | None:
    """The thread's key here, or None when the file names no usable address."""
    if thread["key"]:
        candidate = thread["key"]
    elif thread["url"]:
        candidate = thread_key_of(thread["url"], options.map_url)
    elif options.thread_key:
        candidate = options.thread_key
    else:
        return None
    try:
        return rules.thread_key(candidate, ctx.settings)
    except errors.InvalidThreadKey:
        return None


def _author_key(site_id: str, email: str | None, name: str | None, source: str) -> str:
    """The same imported author keeps one key (blocks and "first comment" rules find them)."""
    if email or name:
        return _known_author_key(site_id, email, name)
    return "imported:" + content_hash(site_id, f"c:{source}")[:40]


@lru_cache(maxsize=16384)  # a blog's regulars write most comments: each key made once
def _known_author_key(site_id: str, email: str | None, name: str | None) -> str:
    who = f"e:{email.lower()}" if email else f"n:{fold(name or '')}"
    return "imported:" + content_hash(site_id, who)[:40]


def _store_thread(
    ctx: Context, tx: Tx, site: Site, staging: Staging, t: dict[str, Any], key: str, options: Options,
    planning: Planning, report: Report, import_id: int | None, earlier: bool, plan: ThreadPlan | None,
) -> None:  # fmt: skip
    """Store one thread's comments: `plan` if it was planned ahead, else planned here."""
    now = ctx.now()
    prefix = planning.prefix
    if plan is None:
        rows = staging.comments(t["source_id"])
        already = store.find_sources(tx, site.id, [prefix + r["source_id"] for r in rows]) if earlier else {}
        if options.restorer is not None:
            missing = [r["source_id"] for r in rows if prefix + r["source_id"] not in already]
            own = options.restorer.own_comments(tx, site.id, missing)
            already.update((prefix + source, found) for source, found in own.items())
    existing = thread_store.get_thread(tx, site.id, key)
    thread = thread_store.get_or_create_thread(
        tx, site.id, key, _clean(t["title"], 500), _clean(t["url"], 2000), now
    )
    if existing is None:
        report.threads_new += 1
        if t["closed"]:
            lifecycle.lock(tx, thread, True, now)
    else:
        thread_store.fill_details(tx, thread, _clean(t["title"], 500), _clean(t["url"], 2000))
    if t["extra"]:
        _restorer(options).thread(tx, thread, t["extra"], now)
    if plan is None:
        plan = plan_thread(rows, planning, already, thread.id)
    report.already += plan.already
    report.orphans += plan.orphans
    report.unpinned += plan.unpinned
    if plan.placed is None:
        return
    report.threads += 1
    report.comments += plan.comments
    report.replies += plan.replies
    report.writer_replies += plan.writer_replies
    report.held += plan.held
    report.removed += plan.removed
    report.spam += plan.spam
    report.rejected += plan.rejected
    stored = lifecycle.store_imported(tx, site, thread, plan.placed, now)
    sources = [(row[0], prefix + source) for source, row in zip(plan.placed.keys, stored, strict=True)]
    store.insert_sources(tx, site.id, import_id, sources)
    if plan.extras:
        restorer = _restorer(options)
        for n, extra in plan.extras:
            restorer.comment(tx, lifecycle.imported_comment(stored[n]), Staging.decoded_extra(extra), now)


def _restore_extras(ctx: Context, tx: Tx, site: Site, staging: Staging, options: Options) -> None:
    extras = list(staging.extras())
    if not extras:
        return
    restorer = _restorer(options)
    prefix = f"{options.format}:"
    cache: dict[str, int | None] = {}

    def comment_id_of(source: str) -> int | None:
        if source not in cache:
            found = store.find_sources(tx, site.id, [prefix + source])
            cache[source] = found[prefix + source][0] if found else None
        return cache[source]

    now = ctx.now()
    for kind, data, line in extras:
        restorer.extra(tx, site, ExtraRecord(kind, data, line), comment_id_of, now)
