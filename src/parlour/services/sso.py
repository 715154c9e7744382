"""Single sign-on from the writer's site, and who may comment.

The writer's site signs a short-lived JWT (HS256, with the site's secret as printed by
`parlour site sso-secret`, its UTF-8 bytes) for a reader signed in there: `sub` (their
id on her site), `name`, and optionally `email`, `picture` (https), `tier` ("free" or
"paid"), `exp` at most an hour ahead. The widget sends it as `X-Parlour-SSO` on every
call; a write that carries it is that reader's: their name, with a mark, and nobody
else on the site may post under it (folded as services/folding.py does). The token
decides nothing else: a site's (or thread's) `WhoMayComment` says who may post.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass

import jwt

from parlour.domain import errors
from parlour.domain.model import Site, Thread, WhoMayComment
from parlour.services import lifecycle, rules
from parlour.services.context import Context
from parlour.services.folding import fold
from parlour.services.security import content_hash
from parlour.services.views import who_may_comment
from parlour.store import Tx
from parlour.store import readers as store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store

MAX_AHEAD_S = 3600  # a token may not live longer than this
LEEWAY_S = 60  # clocks of the writer's site and Parlour may differ this much
TIERS = ("free", "paid")
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,200}")  # storable: no controls, no lone surrogates
_PICTURE = re.compile(r"https://[A-Za-z0-9.-]+(?::\d{1,5})?/[\x21-\x7e]*")  # printable ASCII only


@dataclass(frozen=True, slots=True)
class SsoReader:
    """A reader the writer's site vouches for."""

    site_id: str
    subject: str
    name: str
    email: str | None
    picture: str | None
    tier: str

    @property
    def key(self) -> str:
        """Their author key: the same from any device, never the same on another site."""
        return "s:" + content_hash(self.site_id, self.subject)[:32]


def _claim(claims: dict[str, object], name: str) -> object:
    return claims.get(name)


def reader(ctx: Context, site: Site, token: str | None) -> SsoReader | None:
    """The reader a token signs in, or None without one; `invalid_sso_token` (401) for a
    token the site did not sign, an expired one, or one that lives too long."""
    if not token:
        return None
    if not site.sso_secret:
        raise errors.InvalidSsoToken("This site has no single sign-on: ask its writer to set it up.")
    try:
        claims = jwt.decode(
            token, site.sso_secret.encode("utf-8"), algorithms=["HS256"],
            options={"require": ["exp", "sub"], "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )  # fmt: skip
    except jwt.InvalidTokenError as exc:
        raise errors.InvalidSsoToken(f"The sign-in token is not valid here: {exc}.") from None
    now = ctx.now() / 1000
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not _is_time(exp):
        raise errors.InvalidSsoToken("The sign-in token's exp is not a time.")
    if nbf is not None and not _is_time(nbf):
        raise errors.InvalidSsoToken("The sign-in token's nbf is not a time.")
    assert isinstance(exp, int | float)
    if exp < now - LEEWAY_S:
        raise errors.InvalidSsoToken("The sign-in token has expired: sign in again.", expired=True)
    if exp > now + MAX_AHEAD_S + LEEWAY_S:
        raise errors.InvalidSsoToken("The sign-in token may live an hour at most (exp).")
    if isinstance(nbf, int | float) and nbf > now + LEEWAY_S:
        raise errors.InvalidSsoToken("The sign-in token is not valid yet (nbf).")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise errors.InvalidSsoToken("The sign-in token's sub must be 1 to 200 characters.")
    email = claims.get("email")
    if email is not None and not isinstance(email, str):
        raise errors.InvalidSsoToken("The sign-in token's email is not text.")
    try:
        name = rules.name(claims.get("name"), ctx.settings)
        email = rules.mail_address(email) if email else None
    except errors.ParlourError as exc:
        raise errors.InvalidSsoToken(f"The sign-in token's name or email: {exc.message}") from None
    if name is None:
        raise errors.InvalidSsoToken("The sign-in token needs a name.")
    picture = claims.get("picture")
    if picture is not None and not (
        isinstance(picture, str) and len(picture) <= 2000 and _PICTURE.fullmatch(picture)
        and not any(c in picture for c in "\"'<>\\")
    ):  # fmt: skip
        raise errors.InvalidSsoToken("The sign-in token's picture must be an https:// address.")
    tier = claims.get("tier", "free")
    if tier not in TIERS:
        raise errors.InvalidSsoToken('The sign-in token\'s tier is "free" or "paid".')
    return SsoReader(site.id, subject, name, email, picture, str(tier))


def _is_time(value: object) -> bool:
    """A JSON number of seconds: not a boolean, not NaN or infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def remember(tx: Tx, who: SsoReader, now: int) -> None:
    """Keep the reader's name as theirs on the site (in the transaction of their post)."""
    store.remember(
        tx, who.site_id, f"sso:{who.subject}", who.name, fold(" ".join(who.name.split())), who.email,
        who.picture, who.tier, now,
    )  # fmt: skip


def check_name(
    tx: Tx, site: Site, name: str | None, who: SsoReader | None, subject: str | None = None
) -> None:
    """No one posts under the name of another reader signed in on the site (any case,
    width or look-alike letters); `subject` is the poster's own, if they signed in with
    an email link. Readers signed in by the writer's site post under the names it gives
    them, even two of the same name."""
    if not name or who is not None:
        return
    holder = store.name_holder(tx, site.id, fold(" ".join(name.split())))
    if holder is not None and holder != subject:
        raise errors.NameTaken("A reader who signs in here goes by that name.", field="author_name")


def check_may_comment(
    site: Site, thread: Thread | None, who: SsoReader | None, by_email: bool = False
) -> None:
    """Refuse a reader the thread's choice leaves out: `commenting_restricted` (403),
    with the choice in `details.who_may_comment`. `by_email`: signed in with an email
    link, which is enough for `signed-in`, not for members."""
    rule = who_may_comment(site, thread)
    if rule is WhoMayComment.EVERYONE or (rule is WhoMayComment.SIGNED_IN and by_email):
        return
    if rule is WhoMayComment.CLOSED:
        raise errors.CommentingRestricted("This conversation takes no comments.", who_may_comment=rule.value)
    if who is None:
        what = "signed-in readers" if rule is WhoMayComment.SIGNED_IN else "members"
        if rule is WhoMayComment.PAID:
            what = "paying members"
        raise errors.CommentingRestricted(
            f"Only {what} may comment here: sign in first.", who_may_comment=rule.value
        )
    if rule is WhoMayComment.PAID and who.tier != "paid":
        raise errors.CommentingRestricted("Only paying members may comment here.", who_may_comment=rule.value)


def sso_secret(ctx: Context, site_id: str, rotate: bool = False) -> str:
    """The site's SSO secret, made now if it has none (or `rotate`: a new one, and every
    token signed with the old one stops working)."""
    with ctx.db.write() as tx:
        site = site_store.get_site(tx, site_id)
        if site is None:
            raise errors.UnknownSite(f"There is no site {site_id!r}.")
        secret = site.sso_secret
        if secret is None or rotate:
            secret = secrets.token_urlsafe(32)
            store.set_sso_secret(tx, site_id, secret)
            lifecycle.site_changed(tx, site_id, ctx.now())  # every process reloads the site now
    ctx.sites.invalidate()
    return secret


def set_who_may_comment(
    ctx: Context, site_id: str, who: str, thread_key: str | None = None, audit: lifecycle.Audit | None = None
) -> None:
    """Who may comment on the site, or (with `thread_key`) on one thread; for a thread,
    "site" goes back to the site's choice."""
    choice: WhoMayComment | None
    if thread_key is not None and who == "site":
        choice = None
    else:
        try:
            choice = WhoMayComment(who)
        except ValueError:
            allowed = ", ".join(w.value for w in WhoMayComment)
            raise errors.InvalidInput(f"Who may comment: one of {allowed}.", field="comments") from None
    with ctx.db.write() as tx:
        if site_store.get_site(tx, site_id) is None:
            raise errors.UnknownSite(f"There is no site {site_id!r}.")
        now = ctx.now()
        if thread_key is None:
            assert choice is not None
            store.set_site_policy(tx, site_id, choice)
            lifecycle.site_changed(tx, site_id, now, audit)
        else:
            key = rules.thread_key(thread_key, ctx.settings)
            thread = thread_store.get_or_create_thread(tx, site_id, key, None, None, now)
            lifecycle.set_who_may_comment(tx, thread, choice, now, audit)
    ctx.sites.invalidate()
