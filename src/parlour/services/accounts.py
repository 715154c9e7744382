"""Desk accounts: the owner, moderators, passwords, sign-in links, sessions and roles.

Passwords are hashed with argon2id (argon2-cffi). Sessions are signed tokens carrying the
user id and the account's session epoch: "sign out everywhere" bumps the epoch, which
ends every session at once without a sessions table; signing out revokes that one
(revoked_tokens). The widget's writer sign-ins are stored grants with short-lived
tokens (see "The writer in the widget" below). Sign-in links are random, stored
only as a hash, used once, and expire after 15 minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import replace
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from parlour.domain import errors
from parlour.domain.model import Actor, Role, User, WidgetGrant
from parlour.services import mail
from parlour.services.context import Context
from parlour.store import IntegrityError, Tx, audit, serialize_on
from parlour.store import accounts as store
from parlour.store import sites as site_store

log = logging.getLogger(__name__)

SETUP_META_KEY = "owner_set_up"
LINK_MINUTES = 15
ATTEMPT_WINDOW_MS = 15 * 60_000
KNOWN_ADDRESS_MS = 90 * 86_400_000  # an address the account signed in from stays known this long
MIN_PASSWORD = 10
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email costs as long as a
    wrong password. Made at the first sign-in, not at import: hashing takes ~100 ms and
    64 MiB for a moment."""
    return _hasher.hash(secrets.token_urlsafe(16))


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def normalise_email(email: object) -> str:
    """An account's email, lower-cased: one @, no spaces or line breaks (it goes into mail headers)."""
    if not isinstance(email, str) or len(email.strip()) > 320 or not _EMAIL.fullmatch(email.strip()):
        raise errors.InvalidEmail(field="email")
    return email.strip().lower()


def _check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise errors.WeakPassword(field="password", minimum=MIN_PASSWORD)
    if len(password) > 1024:
        raise errors.InvalidInput("That password is too long.", field="password")
    return password


def needs_setup(ctx: Context) -> bool:
    """True until the first account (the owner) exists."""
    with ctx.db.read() as tx:
        return store.count_users(tx) == 0


def create_user(ctx: Context, email: object, password: object | None, *, is_owner: bool) -> User:
    """An account. `password` None: the account signs in by emailed link only."""
    return _create(ctx, email, password, is_owner=is_owner, first=False)


def setup_code(ctx: Context) -> str:
    """The code the first visit must give to create the owner: derived from the instance
    secret, printed by `parlour serve` (and `parlour admin setup-code`) while no account
    exists. Without it, whoever found a new server first would own it."""
    return ctx.signer.sign("setup", "owner", 9)


def set_up_owner(ctx: Context, email: object, password: object, code: object) -> User:
    """The first visit to the desk creates the owner, with the setup code; once only,
    even when two race."""
    if (
        not isinstance(code, str)
        or not code.strip().isascii()
        or not hmac.compare_digest(code.strip(), setup_code(ctx))
    ):
        raise errors.WrongSetupCode(field="code")
    return _create(ctx, email, password, is_owner=True, first=True)


def _create(ctx: Context, email: object, password: object | None, *, is_owner: bool, first: bool) -> User:
    address = normalise_email(email)
    hashed = _hasher.hash(_check_password(password)) if password is not None else None
    try:
        with ctx.db.write() as tx:
            if first:
                if store.count_users(tx):
                    raise errors.SetupDone()
                # A unique key: of two set-ups racing on PostgreSQL, one commits.
                site_store.set_meta(tx, SETUP_META_KEY, address)
            user_id = store.insert_user(tx, address, hashed, is_owner, ctx.now())
            user = store.get_user(tx, user_id)
    except IntegrityError:
        if first:
            raise errors.SetupDone() from None
        raise errors.AccountExists(field="email") from None
    assert user is not None
    return user


def give_role(ctx: Context, email: object, site_id: str, role: Role) -> User:
    address = normalise_email(email)
    with ctx.db.write() as tx:
        found = store.get_user_by_email(tx, address)
        if found is None:
            raise errors.UnknownAccount(field="email")
        if site_id not in store.all_site_ids(tx):
            raise errors.UnknownSite(site_id)
        store.set_role(tx, found[0].id, site_id, role)
        return found[0]


def _attempt(ctx: Context, keys: list[tuple[str, int]]) -> list[int]:
    """Count an attempt against each key, refusing it when one is over its limit; returns
    the ids of the attempt's rows (a successful sign-in forgets them: it never counts).

    The attempt is recorded before the (slow) password check, so attempts sent all at
    once are counted too; transactions naming the same key take turns (`serialize_on`),
    so on PostgreSQL as on SQLite exactly `limit` attempts get through, never more. Old
    attempts are pruned on the way.
    """
    if not ctx.settings.sign_in_rate_limit:
        return []
    now = ctx.now()
    with ctx.db.write() as tx:
        serialize_on(tx, *(key for key, _ in keys))
        store.prune_attempts(tx, now - ATTEMPT_WINDOW_MS, now - KNOWN_ADDRESS_MS)
        for key, limit in keys:
            if store.count_attempts(tx, key, now - ATTEMPT_WINDOW_MS) >= limit:
                raise errors.RateLimited(
                    "Too many sign-in attempts. Please wait 15 minutes and try again.", retry_after=900
                )
        return [store.record_attempt(tx, key, now) for key, _ in keys]


def count_attempt(ctx: Context, keys: list[tuple[str, int]]) -> list[int]:
    """`_attempt` for other kinds of sign-in (readers' email links): the same counting."""
    return _attempt(ctx, keys)


def _password_limits(ctx: Context, email: str, ip_hash: str) -> list[tuple[str, int]]:
    """Per account from this address, and per address across accounts. Per account from
    anywhere too (much higher), except from an address the account has signed in from
    before: a stranger's failures elsewhere never lock the owner out at her own desk."""
    limit = ctx.settings.sign_in_rate_limit
    keys = [(f"pw:{email}:{ip_hash}", limit), (f"ip:{ip_hash}", 3 * limit)]
    with ctx.db.read() as tx:
        known = store.has_attempt(tx, f"known:{email}:{ip_hash}")
    return keys if known else [*keys, (f"pw:{email}", 10 * limit)]


def _link_limits(ctx: Context, email: str, ip_hash: str) -> list[tuple[str, int]]:
    """Sign-in links are counted apart from passwords: asking for links never locks the
    password out. Per account (no mail bombing) and per address."""
    limit = ctx.settings.sign_in_rate_limit
    return [(f"link:{email}", limit), (f"ip:{ip_hash}", 3 * limit)]


def sign_in(ctx: Context, email: object, password: object, ip_hash: str) -> User:
    """Check a password. Failures count against the account and the address; a success
    counts against nothing, and marks the address as one the account uses."""
    address = normalise_email(email) if isinstance(email, str) and "@" in email else ""
    attempt = _attempt(ctx, _password_limits(ctx, address, ip_hash))
    with ctx.db.read() as tx:
        found = store.get_user_by_email(tx, address) if address else None
    stored = found[1] if found else None
    ok: bool
    try:
        ok = _hasher.verify(stored or _dummy_hash(), password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or found is None or stored is None:
        raise errors.SignInFailed()
    user = found[0]
    with ctx.db.write() as tx:
        store.forget_attempts(tx, attempt)
        store.clear_attempts(tx, f"pw:{address}:{ip_hash}")  # her own failures from here
        store.clear_attempts(tx, f"known:{address}:{ip_hash}")
        store.record_attempt(tx, f"known:{address}:{ip_hash}", ctx.now())
        if _hasher.check_needs_rehash(stored):
            store.set_password_hash(tx, user.id, _hasher.hash(str(password)))
    return user


def _link_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def send_sign_in_link(ctx: Context, email: object, ip_hash: str) -> None:
    """Email a one-time sign-in link, if the account exists. The answer is the same
    either way, so the form does not tell strangers who has an account.

    The link is built from PARLOUR_PUBLIC_URL only, never from the request: a forged
    `Host` header must not turn a real token into a link to someone else's server.
    """
    base_url = ctx.settings.public_url
    if not base_url:
        raise errors.PublicUrlMissing()
    address = normalise_email(email)
    _attempt(ctx, _link_limits(ctx, address, ip_hash))
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    with ctx.db.write() as tx:
        found = store.get_user_by_email(tx, address)
        if found is None:
            return
        store.prune_sign_in_links(tx, now - 86_400_000)
        store.insert_sign_in_link(tx, _link_hash(token), found[0].id, now, now + LINK_MINUTES * 60_000)
        link = f"{base_url.rstrip('/')}/desk/sign-in/link?token={token}"
        mail.enqueue(
            tx,
            ctx,
            address,
            "Your Parlour sign-in link",
            f"Sign in to Parlour with this link within {LINK_MINUTES} minutes:\n\n{link}\n\n"
            "It works once. If you did not ask for it, ignore this message.",
        )


def use_sign_in_link(ctx: Context, token: str) -> User:
    with ctx.db.write() as tx:
        user_id = store.use_sign_in_link(tx, _link_hash(token), ctx.now())
        user = store.get_user(tx, user_id) if user_id is not None else None
    if user is None:
        raise errors.InvalidSignInLink()
    return user


# Sessions: "s1.<user id>.<epoch>.<issued ms>.<mac>", in a Secure, HttpOnly cookie.
def new_session(ctx: Context, user: User) -> str:
    message = f"{user.id}.{user.session_epoch}.{ctx.now()}"
    return f"s1.{message}.{ctx.signer.sign('session', message)}"


def session_user(ctx: Context, token: str | None) -> User | None:
    """The signed-in user, or None for a missing, forged, expired or revoked session."""
    if not token or not token.startswith("s1.") or not token.isascii():
        return None
    message, _, mac = token[3:].rpartition(".")
    if not hmac.compare_digest(mac, ctx.signer.sign("session", message)):
        return None
    try:
        user_id, epoch, issued = (int(part) for part in message.split("."))
    except ValueError:
        return None
    if ctx.now() - issued > ctx.settings.session_days * 86_400_000:
        return None
    with ctx.db.read() as tx:
        user = store.get_user(tx, user_id)
        revoked = store.is_revoked(tx, _token_hash(token))
    if user is None or user.session_epoch != epoch or revoked:
        return None
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_out(ctx: Context, token: str | None) -> None:
    """End this session on the server too: the cookie, if kept or copied, no longer works."""
    user = session_user(ctx, token)
    if user is None or token is None:
        return
    issued = int(token[3:].rpartition(".")[0].split(".")[2])
    with ctx.db.write() as tx:
        store.revoke_token(tx, _token_hash(token), issued + ctx.settings.session_days * 86_400_000, ctx.now())


def sign_out_everywhere(ctx: Context, user: User) -> None:
    with ctx.db.write() as tx:
        store.bump_session_epoch(tx, user.id)


def csrf_token(ctx: Context, nonce: str) -> str:
    """The token forms carry: bound to the browser's CSRF cookie (double submit, signed)."""
    return ctx.signer.sign("csrf", nonce)


def check_csrf(ctx: Context, nonce: str | None, token: str | None) -> None:
    if (
        not nonce
        or not token
        or not token.isascii()
        or not hmac.compare_digest(token, csrf_token(ctx, nonce))
    ):
        raise errors.CsrfCheckFailed()


def roles(ctx: Context, user: User) -> dict[str, Role]:
    """The sites this user may work on, and as what. The instance owner: every site."""
    with ctx.db.read() as tx:
        if user.is_owner:
            return dict.fromkeys(store.all_site_ids(tx), Role.OWNER)
        return store.roles_of(tx, user.id)


def require_site(ctx: Context, user: User, site_id: str) -> Role:
    """The user's role on a site; NotPermitted (never a hint that it exists) otherwise."""
    role = roles(ctx, user).get(site_id)
    if role is None:
        raise errors.NotPermitted("You do not have access to that.")
    return role


# The writer in the widget: her desk session cannot reach the widget (it runs on her
# blog's origin, where Parlour's cookies are third-party and blocked), so the desk hands
# the widget a token through a popup and postMessage. Each hand-over is a grant, stored
# (widget_grants) so the desk can list and revoke it; the token names the grant, is
# signed, and lives an hour. While it is still valid the widget trades it for a fresh
# one (`refresh_widget_token`), for as long as the grant stands: at most a desk
# session's life, unrevoked, and no "sign out everywhere" since. Every check reads the
# account's role on the site now, so a role taken away stops its grants at once.
WIDGET_TOKEN_MINUTES = 60
WIDGET_PREFIX = "ws2."
_OLD_WIDGET_PREFIX = "ws1."  # before grants: refused with "sign in again"


def _widget_token(ctx: Context, grant_id: int, now: int) -> tuple[str, int]:
    expires = now + WIDGET_TOKEN_MINUTES * 60_000
    message = f"{grant_id}.{expires}"
    return f"{WIDGET_PREFIX}{message}.{ctx.signer.sign('widget', message)}", expires


def widget_token(ctx: Context, user: User, site_id: str, origin: str) -> tuple[str, int]:
    """A new grant for the widget on `origin` (one of the site's), and its first token
    with the time it expires (ms)."""
    role = require_site(ctx, user, site_id)
    now = ctx.now()
    with ctx.db.write() as tx:
        grant_id = store.insert_widget_grant(
            tx, user, site_id, role, origin, now, now + ctx.settings.session_days * 86_400_000
        )
        audit.record(tx, site_id, user.id, "widget_sign_in", None, origin, now)
    return _widget_token(ctx, grant_id, now)


def is_widget_token(token: str) -> bool:
    return token.startswith((WIDGET_PREFIX, _OLD_WIDGET_PREFIX))


def _grant_id(ctx: Context, token: str) -> tuple[int, int]:
    """(grant id, expiry) of a token we signed, whether or not it has expired."""
    message, _, mac = token[len(WIDGET_PREFIX) :].rpartition(".")
    parts = message.split(".")
    if (
        not token.startswith(WIDGET_PREFIX)
        or not token.isascii()
        or len(parts) != 2
        or not all(part.isdigit() and len(part) < 19 for part in parts)
        or not hmac.compare_digest(mac, ctx.signer.sign("widget", message))
    ):
        raise errors.InvalidToken("That writer sign-in is not valid; sign in again from the desk.")
    return int(parts[0]), int(parts[1])


def widget_grant(ctx: Context, token: str) -> WidgetGrant:
    """The standing grant a valid widget token acts under, with the account's role on the
    site now (the lesser of it and the role granted); InvalidToken otherwise."""
    grant_id, expires = _grant_id(ctx, token)
    now = ctx.now()
    with ctx.db.read() as tx:
        grant = store.get_widget_grant(tx, grant_id)
        user = None if grant is None else store.get_user(tx, grant.user_id)
        role = None if user is None or grant is None else _role_on(tx, user, grant.site_id)
    if (
        expires < now
        or grant is None
        or user is None
        or role is None
        or grant.revoked_at is not None
        or grant.expires_at < now
        or grant.session_epoch != user.session_epoch
    ):
        raise errors.InvalidToken("That writer sign-in has ended; sign in again from the desk.")
    if grant.role is Role.MODERATOR:
        role = Role.MODERATOR
    return replace(grant, role=role)


def _role_on(tx: Tx, user: User, site_id: str) -> Role | None:
    if user.is_owner:
        return Role.OWNER if site_id in store.all_site_ids(tx) else None
    return store.roles_of(tx, user.id).get(site_id)


def site_for_widget_token(ctx: Context, token: str) -> str:
    """The site a widget token acts for as its writer; InvalidToken when it does not."""
    return widget_grant(ctx, token).site_id


def refresh_widget_token(ctx: Context, token: str, actor: Actor) -> tuple[str, int]:
    """A fresh token for a still-valid one, while its grant stands, asked for by the page
    it was given to: only a browser on the grant's own origin (it always sends Origin),
    so a token copied elsewhere dies within the hour."""
    grant = widget_grant(ctx, token)
    if actor.origin != grant.origin:
        raise errors.OriginNotAllowed(
            f"That writer sign-in was given to {grant.origin}, not {actor.origin or 'a program'}.",
            origin=actor.origin,
        )
    now = ctx.now()
    with ctx.db.write() as tx:
        store.touch_widget_grant(tx, grant.id, now)
    return _widget_token(ctx, grant.id, now)


def end_widget_token(ctx: Context, token: str) -> None:
    """The writer signed out in the widget: its grant ends (an expired token may end it too)."""
    if not is_widget_token(token):
        raise errors.InvalidToken("Send the widget's writer token to sign it out.")
    grant_id, _ = _grant_id(ctx, token)
    now = ctx.now()
    with ctx.db.write() as tx:
        grant = store.get_widget_grant(tx, grant_id)
        if grant is not None and store.revoke_widget_grant(tx, grant_id, now):
            audit.record(tx, grant.site_id, grant.user_id, "widget_sign_out", None, grant.origin, now)


def widget_grants(ctx: Context, user: User, site_id: str) -> list[WidgetGrant]:
    """The site's standing widget sign-ins this user may see and end: all of them for
    its owner, a moderator's own otherwise."""
    role = require_site(ctx, user, site_id)
    # A grant is live while its last token is: an hour after its last refresh (the page
    # that held it closed), nothing can renew it any more.
    since = ctx.now() - WIDGET_TOKEN_MINUTES * 60_000
    with ctx.db.read() as tx:
        return store.live_widget_grants(
            tx, site_id, ctx.now(), since, None if role is Role.OWNER else user.id
        )


def revoke_widget_grant(ctx: Context, user: User, site_id: str, grant_id: object) -> None:
    """End a widget sign-in from the desk, with its audit line in the same transaction."""
    role = require_site(ctx, user, site_id)
    if not isinstance(grant_id, str) or not (grant_id.isascii() and grant_id.isdigit()) or len(grant_id) > 18:
        raise errors.InvalidInput("Choose a sign-in to end.", field="grant")
    now = ctx.now()
    with ctx.db.write() as tx:
        grant = store.get_widget_grant(tx, int(grant_id))
        if grant is None or grant.site_id != site_id or (role is not Role.OWNER and grant.user_id != user.id):
            raise errors.NotPermitted("You do not have access to that.")
        if store.revoke_widget_grant(tx, grant.id, now):
            holder = store.get_user(tx, grant.user_id)
            whose = holder.email if holder is not None else "a deleted account"
            audit.record(tx, site_id, user.id, "widget_revoke", None, f"{whose} on {grant.origin}", now)
