"""Readers who sign in with an email link, from a popup on Parlour's own origin.

1. The widget opens `/readers/sign-in?site=…&origin=…` in a popup: a first-party page,
   so its cookie works with third-party cookies blocked. The reader gives an address
   (and a name, the first time); Parlour mails a one-time link (`start`) and sets a
   cookie naming this browser: the link signs in this browser only, so a link forwarded
   or phished signs no one else in.
2. The link opens a page with one button (mail scanners press nothing); its POST
   (`finish`) makes or finds the account and marks the sign-in done.
3. The popup, waiting (`waiting`), gets a session token and hands it to the widget by
   postMessage, to the page's origin only (one the site lists). The widget sends it as
   `X-Parlour-Account` on every call: the reader comments under their name (kept theirs
   on the site, as a signed-in reader's from the writer's site is), with the mark, and
   sees, edits and deletes their comments from any device.
4. `export` is everything Parlour holds about them; `delete` ends the account, their
   comments removed or kept as "a former reader".

Session tokens are signed, not stored (`ra1.ID.EXPIRES.EPOCH.SIG`), for one site only
(the signature covers its id: a script on another site that embeds Parlour cannot use
it); the epoch is a random number of the account's, renewed by "sign out" (every
session ends), and an account made later under a reused id has another.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from parlour.domain import errors
from parlour.domain.model import Site, Status
from parlour.services import accounts, admission, lifecycle, mail, rules
from parlour.services.clock import iso
from parlour.services.context import Context
from parlour.services.folding import fold
from parlour.services.security import content_hash
from parlour.services.sites import known_site
from parlour.store import Tx
from parlour.store import comments as comment_store
from parlour.store import reader_accounts as store
from parlour.store import readers as readers_store

LINK_MINUTES = 15
SESSION_DAYS = 30
LINKS_PER_HOUR = 5  # sign-in links mailed to one address (no account needed to ask)
_TOKEN = re.compile(r"ra1\.(\d{1,18})\.(\d{1,18})\.(\d{1,18})\.([A-Za-z0-9_-]{1,64})")
FORMER = "A former reader"


@dataclass(frozen=True, slots=True)
class Signed:
    """A reader signed in with an email link, as a request carries them."""

    account_id: int
    email: str
    name: str | None

    @property
    def key(self) -> str:
        return f"u:{self.account_id}"

    @property
    def subject(self) -> str:
        """Their subject among a site's signed-in readers (site_readers)."""
        return f"account:{self.account_id}"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start(ctx: Context, site_id: str, email: object, name: object, browser: str, ip_hash: str) -> None:
    """Mail a one-time sign-in link for this browser (`browser`: its cookie's value)."""
    base = ctx.settings.public_url
    if not base:
        raise errors.PublicUrlMissing(
            "Signing in by email needs PARLOUR_PUBLIC_URL, the address readers reach Parlour at."
        )
    site = known_site(ctx, site_id)
    address = rules.mail_address(rules.email(email, ctx.settings)).lower()
    chosen = rules.name(name, ctx.settings)
    limit = ctx.settings.sign_in_rate_limit
    if limit:  # the address only as a hash, in the attempts table
        accounts.count_attempt(
            ctx, [(f"reader-link:{_hash(address)}", LINKS_PER_HOUR), (f"reader-ip:{ip_hash}", 3 * limit)]
        )
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    with ctx.db.write() as tx:
        store.start_sign_in(tx, address, chosen, site.id, _hash(browser), _hash(token), now,
                            now + LINK_MINUTES * 60_000)  # fmt: skip
        link = f"{base.rstrip('/')}/readers/sign-in/link?{urlencode({'token': token})}"
        mail.enqueue(
            tx, ctx, address, f"Sign in to comment on {' '.join(site.name.split())}",
            f"To sign in and comment on {site.name}, open this link within {LINK_MINUTES} minutes, in the "
            f"browser where you asked for it:\n\n{link}\n\nIt works once. If you did not ask for it, ignore "
            "this message.\n",
            headers={"Auto-Submitted": "auto-generated"},
        )  # fmt: skip


def finish(ctx: Context, token: object, browser: str | None) -> str:
    """Use a sign-in link (its button's POST); returns the site's name."""
    if not isinstance(token, str) or not token or not token.isascii():
        raise errors.InvalidSignInLink()
    now = ctx.now()
    with ctx.db.write() as tx:
        found = store.sign_in_by_token(tx, _hash(token))
        if found is None or found.used_at is not None or found.expires_at < now:
            raise errors.InvalidSignInLink()
        if not browser or not hmac.compare_digest(found.browser_hash, _hash(browser)):
            raise errors.InvalidSignInLink(
                "Open this link in the browser where you asked to sign in (it signs in that one only)."
            )
        account = store.account_for(tx, found.email, found.name, now, secrets.randbelow(2**31))
        if not store.finish_sign_in(tx, found.id, account.id, now):
            raise errors.InvalidSignInLink()
    site = ctx.sites.get(found.site_id)
    return site.name if site else found.site_id


def waiting(ctx: Context, browser: str | None, site_id: str) -> dict[str, Any] | None:
    """For the popup: once this browser's latest sign-in for the site is done, the
    widget's session token; None while it waits."""
    if not browser:
        return None
    with ctx.db.read() as tx:
        found = store.latest_sign_in(tx, _hash(browser))
        if found is None or found.site_id != site_id or found.used_at is None or found.account_id is None:
            return None
        if ctx.now() - found.used_at > LINK_MINUTES * 60_000:
            return None  # long done: the popup that asked is gone
        account = store.get_account(tx, found.account_id)
    if account is None:
        return None
    expires = ctx.now() + SESSION_DAYS * 86_400_000
    token = _session(ctx, account.id, expires, account.epoch, site_id)
    return {"token": token, "name": account.name, "expires": iso(expires)}


def _session(ctx: Context, account_id: int, expires: int, epoch: int, site_id: str) -> str:
    sig = ctx.signer.sign("reader-session", f"{account_id}:{expires}:{epoch}:{site_id}")
    return f"ra1.{account_id}.{expires}.{epoch}.{sig}"


def signed(ctx: Context, token: str | None, site_id: str) -> Signed | None:
    """The reader a session token names on this site, or None without one;
    `invalid_token` (401) for one Parlour did not sign (or for another site), expired,
    ended by "sign out", or of a deleted account."""
    if not token:
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise errors.InvalidToken("The reader's sign-in is not valid here: sign in again.")
    account_id, expires, epoch = int(match[1]), int(match[2]), int(match[3])
    expected = ctx.signer.sign("reader-session", f"{account_id}:{expires}:{epoch}:{site_id}")
    if not hmac.compare_digest(match[4], expected) or expires < ctx.now():
        raise errors.InvalidToken("The reader's sign-in has ended: sign in again.")
    with ctx.db.read() as tx:
        account = store.get_account(tx, account_id)
    if account is None or account.epoch != epoch:
        raise errors.InvalidToken("The reader's sign-in has ended: sign in again.")
    return Signed(account.id, account.email, account.name)


def remember(tx: Tx, site: Site, who: Signed, name: str | None, now: int) -> None:
    """Keep the reader's name as theirs on the site (in the transaction of their post);
    the first name they comment under becomes their account's."""
    if not name:
        return
    if who.name is None:
        store.set_name(tx, who.account_id, name, fold(" ".join(name.split())))
    readers_store.remember(tx, site.id, who.subject, name, fold(" ".join(name.split())), who.email, None,
                           "free", now)  # fmt: skip


def me(ctx: Context, token: str | None, site_id: str, thread: str | None) -> dict[str, Any]:
    """The signed-in reader, and the ids of their comments on one thread (to offer edit
    and delete on any device)."""
    site_id = known_site(ctx, site_id).id
    who = signed(ctx, token, site_id)
    if who is None:
        raise errors.ReaderRequired("Sign in first.")
    mine: list[int] = []
    if thread is not None:
        key = rules.thread_key(thread, ctx.settings)
        with ctx.db.read() as tx:
            mine = [
                c.id
                for c, _, _ in store.comments_of(tx, who.key, (site_id, key))
                if c.status is Status.PUBLISHED
            ]
    return {"account": {"email": who.email, "name": who.name}, "comments": mine}


def rename(ctx: Context, token: str | None, site_id: str, name: object) -> dict[str, Any]:
    """Change the name the reader comments under, from now on, on every site where their
    name is kept: refused (`name_taken`) where another reader (or the writer) holds it."""
    site_id = known_site(ctx, site_id).id
    who = signed(ctx, token, site_id)
    if who is None:
        raise errors.ReaderRequired("Sign in first.")
    chosen = rules.name(name, ctx.settings)
    if chosen is None:
        raise errors.InvalidInput("Choose a name.", field="name")
    folded = fold(" ".join(chosen.split()))
    with ctx.db.write() as tx:
        for held_on in sorted({site_id, *store.sites_of(tx, who.subject)}):
            site = ctx.sites.get(held_on)
            if site is not None:
                admission.check_name(site, chosen)
            holder = readers_store.name_holder(tx, held_on, folded)
            if holder is not None and holder != who.subject:
                raise errors.NameTaken("A reader who signs in here goes by that name.", field="name")
        store.set_name(tx, who.account_id, chosen, folded)
    return {"account": {"email": who.email, "name": chosen}}


def sign_out(ctx: Context, token: str | None, site_id: str) -> None:
    """End every session of the reader (all devices, all sites)."""
    site_id = known_site(ctx, site_id).id
    who = signed(ctx, token, site_id)
    if who is None:
        raise errors.ReaderRequired("Sign in first.")
    with ctx.db.write() as tx:
        store.set_epoch(tx, who.account_id, secrets.randbelow(2**31))


def export(ctx: Context, token: str | None, site_id: str) -> dict[str, Any]:
    """Everything Parlour holds about the reader, as JSON: the account, every comment
    (every site, every state, the text as typed; signed in, or posted with their
    address), the names kept for them, the reply mail they asked for."""
    site_id = known_site(ctx, site_id).id
    who = signed(ctx, token, site_id)
    if who is None:
        raise errors.ReaderRequired("Sign in first.")
    with ctx.db.read() as tx:
        account = store.get_account(tx, who.account_id)
        found = store.comments_of(tx, who.key)
        seen = {c.id for c, _, _ in found}
        found += [row for row in store.comments_by_address(tx, who.email) if row[0].id not in seen]
        names = store.names_kept(tx, who.subject)
        subscriptions = store.mail_of(tx, who.email)
    assert account is not None
    return {
        "format": "parlour-reader-export/1",
        "account": {"email": account.email, "name": account.name, "created_at": iso(account.created_at)},
        "comments": [
            {
                "id": c.id,
                "site": site_id,
                "thread": key,
                "parent_id": c.parent_id,
                "body": c.body,
                "status": c.status.value,
                "created_at": iso(c.created_at),
                "edited_at": iso(c.edited_at),
                "hearts": c.hearts,
            }
            for c, site_id, key in found
        ],
        "names": [{**n, "since": iso(n["since"]), "seen_at": iso(n["seen_at"])} for n in names],
        "reply_mail": [
            {
                **m,
                "confirmed_at": iso(m["confirmed_at"]),
                "unsubscribed_at": iso(m["unsubscribed_at"]),
                "subscriptions": [
                    {**x, "created_at": iso(x["created_at"]), "ended_at": iso(x["ended_at"])}
                    for x in m["subscriptions"]
                ],
            }
            for m in subscriptions
        ],
    }


def delete(ctx: Context, token: str | None, site_id: str, comments: object) -> int:
    """End the account. `comments`: "remove" (each is removed, its text and name erased;
    replies stay under a placeholder) or "keep" (they stay, as "A former reader", linked
    to no one). Returns how many comments were removed or kept."""
    if comments not in ("remove", "keep"):
        raise errors.InvalidInput('comments is "remove" or "keep".', field="comments")
    site_id = known_site(ctx, site_id).id
    who = signed(ctx, token, site_id)
    if who is None:
        raise errors.ReaderRequired("Sign in first.")
    now = ctx.now()
    with ctx.db.write() as tx:
        account = store.get_account(tx, who.account_id)
        if account is None:
            raise errors.InvalidToken("The reader's sign-in has ended: sign in again.")
        found = store.comments_of(tx, who.key)
        if comments == "remove":
            for comment, on_site, _ in found:
                if comment.status is Status.PUBLISHED:
                    lifecycle.remove(tx, comment, on_site, now, erase=True)
                    continue
                if comment.status is Status.PENDING:  # out of the queue: nothing to approve
                    lifecycle.refuse(tx, comment, on_site, Status.REJECTED, now)
                comment_store.update_comment(  # rejected, spam, or removed before: its text goes too
                    tx, comment.id, body="", html="", author_name=None, author_email=None, body_hash=""
                )
        former = "x:" + content_hash("former", who.key, secrets.token_hex(8))[:32]
        store.keep_as_former_reader(tx, who.key, former)
        for on_site, thread_id in sorted({(site, c.thread_id) for c, site, _ in found}):
            lifecycle.thread_changed(tx, on_site, thread_id, now)  # its pages show the new name
        store.forget(tx, account, who.subject)
    return len(found)
