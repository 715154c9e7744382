"""`parlour`: serve, migrate, load the demo, manage sites, tokens and webhooks, check the setup.

Every option can also be set by its `PARLOUR_*` environment variable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from parlour import __version__
from parlour.domain.errors import ParlourError
from parlour.domain.model import Role
from parlour.importers import FORMATS
from parlour.services import accounts, demo, sites
from parlour.services.checks import run_checks
from parlour.services.context import Context, open_context
from parlour.settings import Settings, SettingsError
from parlour.store import Database, migrate

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

database_option = click.option(
    "--database",
    envvar="PARLOUR_DATABASE",
    help="Database URL (sqlite:///FILE or postgresql://...). [env: PARLOUR_DATABASE]",
)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@contextmanager
def _migrated_context(settings: Settings) -> Iterator[Context]:
    """The services' context on a migrated database, closed however the command ends."""
    db = Database(settings.database)
    try:
        migrate.upgrade(db)
        ctx = open_context(settings, db)
    except BaseException:
        db.dispose()
        raise
    try:
        yield ctx
    finally:
        ctx.close()


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ParlourError as exc:
            err.print(f"[red]error[/red] ({exc.code()}): {escape(exc.message)}", soft_wrap=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parlour")
def main() -> None:
    """Parlour: a self-hosted comment section for writers and their readers."""


@main.command()
@click.option(
    "--host", envvar="PARLOUR_HOST", help="Address to listen on. [default: 127.0.0.1; env: PARLOUR_HOST]"
)
@click.option(
    "--port", envvar="PARLOUR_PORT", type=int, help="Port to listen on. [default: 8000; env: PARLOUR_PORT]"
)
@database_option
@click.option(
    "--workers",
    envvar="PARLOUR_WORKERS",
    type=int,
    help="Server processes. [default: 1; env: PARLOUR_WORKERS]",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Log every request (costs some speed). [default: no; env: PARLOUR_ACCESS_LOG]",
)
def serve(
    host: str | None, port: int | None, database: str | None, workers: int | None, access_log: bool | None
) -> None:
    """Run the server (migrating the database first)."""
    settings = _settings(host=host, port=port, database=database, workers=workers, access_log=access_log)
    db = Database(settings.database)
    migrate.upgrade(db)
    db.dispose()
    os.environ.update(settings.to_env())  # the worker processes read their settings from here
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"Parlour {__version__} is running at [bold]{base}/[/bold] ({settings.workers} worker(s))")
    console.print(f"  demo post:   {base}/demo")
    console.print(f"  desk:        {base}/desk")
    with _migrated_context(settings) as ctx:
        if accounts.needs_setup(ctx):
            console.print(
                f"  first visit: open {base}/desk/setup and enter the setup code {accounts.setup_code(ctx)}"
            )
    console.print(f"  API:         {base}/api/v1/openapi.json")
    if settings.metrics_port:
        console.print(f"  metrics:     http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the lean server process (parlour/cli/server.py): same PID, none of the CLI's
    # modules in memory, so granian's forked workers do not carry them either.
    # -P: no working directory on sys.path (`-m` would put it first).
    argv = [sys.executable, "-P", "-m", "parlour.cli.server"]
    os.execv(sys.executable, argv)


@main.command(name="migrate")
@database_option
def migrate_command(database: str | None) -> None:
    """Create or upgrade the database schema."""
    settings = _settings(database=database)
    db = Database(settings.database)
    pending = migrate.pending(db)
    migrate.upgrade(db)
    db.dispose()
    console.print(f"Database is up to date ({len(pending)} migration(s) applied).")


@main.command(name="export")
@click.option("--site", "site_id", required=True, help="The site to export.")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["parlour", "disqus"]),
    default="parlour",
    show_default=True,
    help="parlour: everything, for `parlour import parlour` (JSON lines); disqus: Disqus's XML export.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="The file to write (replaced only once the export is complete). [default: standard output]",
)
@database_option
def export_command(site_id: str, format_: str, output: str | None, database: str | None) -> None:
    """Export a site, in Parlour's own format or as Disqus XML.

    Parlour's format holds everything that belongs to the site (comments, threads,
    settings, readers, their mail subscriptions, blocks), never a secret, password or
    token; `parlour import parlour` restores it."""
    from pathlib import Path

    from parlour.services import exporting

    write = exporting.parlour if format_ == "parlour" else exporting.disqus
    with _migrated_context(_settings(database=database)) as ctx:
        if output is None:
            sys.stdout.flush()
            write(ctx, site_id, sys.stdout.buffer.write)
            sys.stdout.buffer.flush()
            return
        target = Path(output)
        partial = target.with_name(target.name + ".partial")
        try:
            with partial.open("wb") as file:
                count = write(ctx, site_id, file.write)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    what = "lines" if format_ == "parlour" else "comments"
    err.print(f"Site `{site_id}` exported to {output} ({count} {what}).", soft_wrap=True, markup=False)


@main.command(name="backup")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (put in place only once complete and checked).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@database_option
def backup_command(output: Path, force: bool, database: str | None) -> None:
    """Copy the whole database to a file, while Parlour serves.

    SQLite: SQLite's own consistent copy (VACUUM INTO), checked. PostgreSQL: pg_dump's
    custom format (pg_dump must be on PATH)."""
    from parlour.services import backups

    written = backups.backup(_settings(database=database).database, output, force=force)
    console.print(
        f"Backed up to {written.path}: {_size(written.size)}, {written.comments:,} comments.",
        soft_wrap=True, markup=False,
    )  # fmt: skip


@main.command(name="restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="SQLite: replace a database that holds data.")
@database_option
def restore_command(file: Path, force: bool, database: str | None) -> None:
    """Restore a backup into the database --database names.

    FILE is a backup `parlour backup` wrote: a SQLite file restores into SQLite (over a
    database that holds data only with --force), a pg_dump archive into an empty
    PostgreSQL database (pg_restore must be on PATH). The database is migrated after."""
    from parlour.services import backups

    restored = backups.restore(file, _settings(database=database).database, force=force)
    counts = ", ".join(f"{name}: {n:,}" for name, n in restored.counts.items())
    migrated = f"; {restored.migrations} migration(s) applied" if restored.migrations else ""
    console.print(
        f"Restored {file} into {restored.database}: {counts}{migrated}.", soft_wrap=True, markup=False
    )


def _size(size: int) -> str:
    if size < 1000:
        return f"{size:,} bytes"
    value, units = size / 1000, ["KB", "MB", "GB", "TB"]
    while value >= 1000 and len(units) > 1:
        value, units = value / 1000, units[1:]
    return f"{value:.1f} {units[0]}"


@main.command(name="demo")
@database_option
@click.option(
    "--port",
    envvar="PARLOUR_PORT",
    type=int,
    help="Port you will serve on; its origins may embed the demo. [env: PARLOUR_PORT]",
)
@click.option(
    "--origin", "origins", multiple=True, help="Extra origin whose pages may use the demo site (repeatable)."
)
def demo_command(database: str | None, port: int | None, origins: tuple[str, ...]) -> None:
    """Load the demo site (id `demo`) and its post (thread `/welcome`)."""
    settings = _settings(database=database, port=port)
    with _migrated_context(settings) as ctx:
        base = [f"http://127.0.0.1:{settings.port}", f"http://localhost:{settings.port}"]
        loaded = demo.load_demo(ctx, [*base, *origins])
    if loaded.comments:
        console.print(f"Demo site `demo` loaded: {loaded.comments} comments on /welcome.")
    else:
        console.print("Demo site `demo` is already loaded.")


@main.group()
def site() -> None:
    """Create, change and list sites (publications)."""


@site.command(name="create")
@click.argument("site_id")
@click.option("--name", default="", help="The publication's name.")
@click.option("--writer-name", default="", help="How the writer's replies are signed.")
@click.option(
    "--origin", "origins", multiple=True, help="Origin whose pages may read and post comments (repeatable)."
)
@database_option
def site_create(
    site_id: str, name: str, writer_name: str, origins: tuple[str, ...], database: str | None
) -> None:
    """Create a site."""
    with _migrated_context(_settings(database=database)) as ctx:
        created = sites.create_site(ctx, site_id, name, writer_name, list(origins))
    console.print(f"Site `{created.id}` created; origins: {', '.join(created.origins) or 'none'}.")


@site.command(name="set")
@click.argument("site_id")
@click.option("--name", default=None, help="The publication's name.")
@click.option("--writer-name", default=None, help="How the writer's replies are signed.")
@click.option("--origin", "origins", multiple=True, help="Allowed origin; replaces the list (repeatable).")
@click.option(
    "--comments",
    "who_may_comment",
    type=click.Choice(["everyone", "signed-in", "members", "paid", "closed", "site"]),
    default=None,
    help="Who may comment: on the site, or with --thread on one thread (`site`: the site's choice again).",
)
@click.option("--thread", "thread_key", default=None, help="With --comments: the thread (its key) it is for.")
@database_option
def site_set(
    site_id: str,
    name: str | None,
    writer_name: str | None,
    origins: tuple[str, ...],
    who_may_comment: str | None,
    thread_key: str | None,
    database: str | None,
) -> None:
    """Change a site's name, writer name, allowed origins, or who may comment (on the
    site, or on one thread)."""
    from parlour.services import sso

    if thread_key is not None and who_may_comment is None:
        raise click.UsageError("--thread goes with --comments.")
    if who_may_comment == "site" and thread_key is None:
        raise click.UsageError(
            "--comments site goes with --thread: the thread follows the site's choice again."
        )
    with _migrated_context(_settings(database=database)) as ctx:
        updated = sites.update_site(
            ctx, site_id, name=name, writer_name=writer_name, origins=list(origins) or None
        )
        if who_may_comment is not None:
            sso.set_who_may_comment(ctx, site_id, who_may_comment, thread_key)
            updated = sites.get_site(ctx, site_id)
    console.print(f"Site `{updated.id}`: origins {', '.join(updated.origins) or 'none'}.")
    if who_may_comment is not None:
        where = f"thread {thread_key}" if thread_key is not None else "the site"
        console.print(f"Who may comment on {where}: {who_may_comment}.", soft_wrap=True)


@site.command(name="sso-secret")
@click.argument("site_id")
@click.option(
    "--rotate", is_flag=True, help="Replace the secret: tokens signed with the old one stop working."
)
@database_option
def site_sso_secret(site_id: str, rotate: bool, database: str | None) -> None:
    """Print the site's single sign-on secret, making one if it has none (or, with
    --rotate, a new one). The writer's site signs readers' tokens with it (HS256, its
    UTF-8 bytes as the key). Only the secret is printed, for scripts."""
    from parlour.services import sso

    with _migrated_context(_settings(database=database)) as ctx:
        secret = sso.sso_secret(ctx, site_id, rotate=rotate)
    click.echo(secret)


@site.command(name="list")
@database_option
def site_list(database: str | None) -> None:
    """List sites and their origins."""
    with _migrated_context(_settings(database=database)) as ctx:
        table = Table("site", "name", "writer", "origins")
        for s in sites.list_sites(ctx):
            table.add_row(s.id, s.name, s.writer_name, "\n".join(s.origins))
    console.print(table)


@main.group()
def admin() -> None:
    """Desk accounts: the owner and moderators."""


@admin.command(name="create")
@click.option("--email", prompt=True, help="The account's email (it signs in with it).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 10 characters. Asked for when not given (kept out of the shell history).",
)
@click.option("--owner-of", "owned", multiple=True, help="Make an owner of this site only (repeatable).")
@click.option("--moderator-of", "sites_", multiple=True, help="Make a moderator of this site (repeatable).")
@database_option
def admin_create(
    email: str, password: str, owned: tuple[str, ...], sites_: tuple[str, ...], database: str | None
) -> None:
    """Create a desk account: the instance's owner (every site), or an owner or moderator
    of some sites (--owner-of, --moderator-of)."""
    roles = [(s, Role.OWNER) for s in owned] + [(s, Role.MODERATOR) for s in sites_]
    with _migrated_context(_settings(database=database)) as ctx:
        for site_id, _ in roles:  # before creating anything: no account without its sites
            sites.get_site(ctx, site_id)
        user = accounts.create_user(ctx, email, password, is_owner=not roles)
        for site_id, role in roles:
            accounts.give_role(ctx, user.email, site_id, role)
    what = ", ".join(f"{role.value} of {s}" for s, role in roles) if roles else "owner of every site"
    console.print(f"Account {user.email} created: {what}. Sign in at /desk.")


@admin.command(name="setup-code")
@database_option
def admin_setup_code(database: str | None) -> None:
    """Print the code the first visit to /desk asks for (while no account exists)."""
    with _migrated_context(_settings(database=database)) as ctx:
        if not accounts.needs_setup(ctx):
            console.print("This server has its owner already: sign in at /desk.")
            return
        click.echo(accounts.setup_code(ctx))


@main.group()
def token() -> None:
    """API tokens."""


@token.command(name="create")
@click.option("--site", "site_id", required=True, help="The site the token acts for, as its writer.")
@click.option("--label", default="", help="A note to recognise the token by.")
@database_option
def token_create(site_id: str, label: str, database: str | None) -> None:
    """Print a new API token that acts as the site's writer (shown once)."""
    with _migrated_context(_settings(database=database)) as ctx:
        value = sites.create_writer_token(ctx, site_id, label)
    click.echo(value)


@main.group(name="mail")
def mail_group() -> None:
    """Parlour's outgoing mail."""


@mail_group.command(name="test")
@click.argument("address")
@database_option
def mail_test(address: str, database: str | None) -> None:
    """Send a test message to ADDRESS through PARLOUR_SMTP_URL, now, and say what happened.

    It goes straight to the mail server, not through the outbox, so nothing is written to
    the database (--database is accepted like every command's, and not needed)."""
    import asyncio

    from parlour.services import mail, rules

    settings = _settings(database=database)
    if not rules.email(address, settings):
        raise click.UsageError(f"{address!r} is not an email address.")
    try:
        answer = asyncio.run(mail.send_test(settings, address.strip()))
    except mail.NoMailServer:
        err.print(
            "[red]Nothing sent[/red]: PARLOUR_SMTP_URL is not set, so Parlour writes its mail to the log. "
            "Set it (smtp://USER:PASS@HOST:587, or smtps://...:465) and try again.",
            soft_wrap=True,
        )
        sys.exit(1)
    except Exception as exc:  # any failure: say what the server or the network answered
        err.print(f"[red]Not sent[/red] to {address}: {mail.describe(exc)}", soft_wrap=True)
        sys.exit(1)
    server = urlsplit(settings.smtp_url)
    port = server.port or (465 if server.scheme == "smtps" else 25)
    console.print(f"Sent to {address} through {server.hostname}:{port} ({answer.strip()}).", soft_wrap=True)


@mail_group.command(name="leave")
@click.argument("token")
@database_option
def mail_leave(token: str, database: str | None) -> None:
    """Stop the reply mail a leave TOKEN names, as its link would: for mail that reached
    PARLOUR_MAIL_FROM through List-Unsubscribe's mailto (its subject is "unsubscribe
    TOKEN"; the whole subject is taken too)."""
    from parlour.services import notifications

    token = token.strip().removeprefix("unsubscribe").strip()
    with _migrated_context(_settings(database=database)) as ctx:
        left = notifications.leave(ctx, token)
    what = f"from {left.site_name}" if left.whole_site else f"about “{left.thread_title}” on {left.site_name}"
    console.print(f"No more reply mail to {left.email} {what}.", soft_wrap=True)


@main.group()
def webhook() -> None:
    """Webhooks: a site's comment changes posted, signed, to an address."""


@webhook.command(name="add")
@click.option("--site", "site_id", required=True, help="The site whose comment changes are posted.")
@click.option("--url", required=True, help="The http:// or https:// address to post them to.")
@click.option(
    "--event",
    "types",
    multiple=True,
    help="Send only this type (repeatable): comment.published, comment.edited, comment.removed, "
    "comment.held. [default: every type]",
)
@database_option
def webhook_add(site_id: str, url: str, types: tuple[str, ...], database: str | None) -> None:
    """Add a webhook and print its id and signing secret."""
    from parlour.services import webhooks

    with _migrated_context(_settings(database=database)) as ctx:
        added = webhooks.add(ctx, site_id, url, types)
    what = ", ".join(added.events) if added.events else "every comment change"
    console.print(
        f"Webhook {added.id} posts {what} on `{added.site_id}` to {added.url}", soft_wrap=True, markup=False
    )
    console.print("Its signing secret (the receiver verifies each message with it):")
    click.echo(added.secret)


@webhook.command(name="list")
@click.option("--site", "site_id", default=None, help="Only this site's webhooks.")
@database_option
def webhook_list(site_id: str | None, database: str | None) -> None:
    """List webhooks and how their last delivery went (never their secrets)."""
    from parlour.services import webhooks
    from parlour.services.clock import iso

    def when(ms: int) -> str:
        return str(iso(ms))[:16].replace("T", " ")

    with _migrated_context(_settings(database=database)) as ctx:
        found = webhooks.list_webhooks(ctx, site_id)
    if not found:
        console.print("No webhooks." if site_id is None else f"No webhooks on `{site_id}`.")
        return
    for w in found:  # lines, not a table: a URL is never cut short
        last = w.last
        if w.disabled_at is not None:
            outcome = f"paused since {when(w.disabled_at)} UTC"
        elif last is None:
            outcome = "none yet"
        elif last.delivered_at is not None:
            outcome = f"{last.last_status} at {when(last.delivered_at)} UTC ({last.event_type})"
        elif last.failed_at is not None:
            outcome = f"given up at {when(last.failed_at)} UTC: {last.last_error}"
        elif last.attempts:
            outcome = f"failed, retrying at {when(last.due_at)} UTC: {last.last_error}"
        else:
            outcome = "waiting"
        sends = ", ".join(w.events) if w.events else "every type"
        console.print(f"{w.id}  {w.site_id}  {w.url}", soft_wrap=True, markup=False)
        console.print(f"    sends {sends}; added {when(w.created_at)} UTC", soft_wrap=True, markup=False)
        console.print(f"    last delivery: {outcome}", soft_wrap=True, markup=False)


def _webhook_id(value: int) -> int:
    from parlour.domain.errors import UnknownWebhook
    from parlour.domain.model import is_id

    if not is_id(value):
        raise UnknownWebhook()
    return value


@webhook.command(name="remove")
@click.argument("webhook_id", type=int)
@database_option
def webhook_remove(webhook_id: int, database: str | None) -> None:
    """Remove a webhook: nothing more is sent, and its delivery log goes with it."""
    from parlour.services import webhooks

    with _migrated_context(_settings(database=database)) as ctx:
        removed = webhooks.remove(ctx, _webhook_id(webhook_id))
    console.print(f"Webhook {removed.id} ({removed.url}) removed.", soft_wrap=True, markup=False)


@webhook.command(name="pause")
@click.argument("webhook_id", type=int)
@database_option
def webhook_pause(webhook_id: int, database: str | None) -> None:
    """Stop sending to a webhook until it is resumed; what is waiting keeps waiting."""
    from parlour.services import webhooks

    with _migrated_context(_settings(database=database)) as ctx:
        paused = webhooks.pause(ctx, _webhook_id(webhook_id), True)
    console.print(f"Webhook {paused.id} ({paused.url}) paused.", soft_wrap=True, markup=False)


@webhook.command(name="resume")
@click.argument("webhook_id", type=int)
@database_option
def webhook_resume(webhook_id: int, database: str | None) -> None:
    """Send to a paused webhook again, starting with what waited."""
    from parlour.services import webhooks

    with _migrated_context(_settings(database=database)) as ctx:
        resumed = webhooks.pause(ctx, _webhook_id(webhook_id), False)
    console.print(f"Webhook {resumed.id} ({resumed.url}) resumed.", soft_wrap=True, markup=False)


@main.command(name="import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(sorted(FORMATS)))
@click.argument("file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--site", "site_id", required=True, help="The site the comments go to.")
@click.option(
    "--map-url",
    "map_url",
    multiple=True,
    metavar="OLD=NEW",
    help="Rewrite thread addresses that start with OLD to start with NEW (repeatable; the first match wins).",
)
@click.option("--thread", "thread_key", default=None, help="The thread key for a file that names no address.")
@click.option("--writer-email", default=None, help="Comments from this address are the writer's replies.")
@click.option("--writer-name", default=None, help="Comments signed with this name are the writer's replies.")
@click.option("--dry-run", is_flag=True, help="Store nothing; print what would be imported.")
@click.option("--atomic", is_flag=True, help="All or nothing: one transaction for the whole file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@database_option
def import_command(
    format_name: str, file: Path, site_id: str, map_url: tuple[str, ...], thread_key: str | None,
    writer_email: str | None, writer_name: str | None, dry_run: bool, atomic: bool, as_json: bool,
    database: str | None,
) -> None:  # fmt: skip
    """Import the comments of FILE, exported from another system, into a site.

    Importing the same file again adds nothing. Threads are matched by their address's
    path, as the widget keys them; --map-url rewrites old domains and paths first.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from parlour.importers.ahead import ReaderStopped, read_ahead
    from parlour.services import importing, restoring

    options = importing.Options(
        site_id=site_id, format=format_name, file_name=file.name,
        map_url=tuple(importing.parse_map_url(rule) for rule in map_url), thread_key=thread_key,
        writer_email=writer_email, writer_name=writer_name, dry_run=dry_run, atomic=atomic,
        restorer=restoring if format_name == "parlour" else None, create_site=format_name == "parlour",
    )  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        read_ahead(format_name, file) as records,  # reads on a second core while this one stores
        _migrated_context(_settings(database=database)) as ctx,
        Progress(*columns, console=err, transient=True) as bar,
    ):
        reading = bar.add_task("Reading", total=None)
        storing = bar.add_task("Storing", total=None, visible=False)

        def progress(phase: str, done: int, total: int | None) -> None:
            task = reading if phase == "reading" else storing
            bar.update(task, completed=done, total=total, visible=True)

        try:
            report = importing.run(ctx, records, options, progress)
        except ReaderStopped as stopped:  # killed, or out of memory: nothing was stored
            err.print(f"[red]error[/red]: {stopped}; nothing was imported.")
            sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(report.as_dict()).decode())
        return
    _print_report(report.as_dict(), file.name)


def _print_report(report: dict[str, Any], file_name: str) -> None:
    would = "would be " if report["dry_run"] else ""
    table = Table(title=f"{'Dry run: nothing stored. ' if report['dry_run'] else ''}Import of {file_name}")
    table.add_column("")
    table.add_column("", justify="right")
    for label, key in (
        (f"threads {would}given comments", "threads"),
        (f"threads {would}created", "threads_new"),
        (f"comments {would}imported", "comments"),
        ("  of which replies", "replies"),
        ("  of which the writer's", "writer_replies"),
        ("  held for review", "held"),
        ("  removed", "removed"),
        ("  spam", "spam"),
        ("  rejected", "rejected"),
        ("replies kept at the top level (parent not in the file)", "orphans"),
        ("pins not kept (only published top-level comments are pinned)", "unpinned"),
        ("already imported before (left as they are)", "already"),
    ):
        table.add_row(label, str(report[key]))
    for reason, count in report["skipped"].items():
        table.add_row(f"skipped: {reason}", str(count))
    console.print(table)
    if report.get("import_id") and not report["dry_run"]:
        console.print(f"Import {report['import_id']} recorded.")


@main.command()
@database_option
def check(database: str | None) -> None:
    """Report configuration problems, each with an id and a fix."""
    settings = _settings(database=database)
    problems = run_checks(settings)
    if not problems:
        console.print("No problems found.")
        return
    for p in problems:
        colour = "red" if p.level == "error" else "yellow"
        console.print(f"[{colour}]{p.id} {p.level}[/{colour}]: {p.message}\n  fix: {p.fix}")
    if any(p.level == "error" for p in problems):
        sys.exit(1)
