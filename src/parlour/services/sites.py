"""Sites (publications), the origins they embed from, and their writers' tokens."""

from __future__ import annotations

from parlour.domain import errors
from parlour.domain.model import Actor, Site
from parlour.services import lifecycle, rules
from parlour.services.context import Context
from parlour.services.security import hash_writer_token, new_writer_token
from parlour.store import Tx
from parlour.store import sites as store


def create_site(
    ctx: Context,
    site_id: str,
    name: str,
    writer_name: str,
    origins: list[str],
    who: lifecycle.Audit | None = None,
) -> Site:
    """A new site; `who` names the desk user who made it (an audit line)."""
    site_id = rules.site_id(site_id)
    clean = sorted({rules.origin(o) for o in origins})
    with ctx.db.write() as tx:
        if store.get_site(tx, site_id) is not None:
            raise errors.SiteExists(f"A site with id {site_id!r} already exists.")
        store.insert_site(tx, site_id, name or site_id, writer_name or "The writer", ctx.now())
        store.replace_origins(tx, site_id, clean)
        lifecycle.site_changed(tx, site_id, ctx.now(), who)
        site = store.get_site(tx, site_id)
    ctx.sites.invalidate()
    assert site is not None
    return site


def update_site(
    ctx: Context,
    site_id: str,
    *,
    name: str | None = None,
    writer_name: str | None = None,
    origins: list[str] | None = None,
) -> Site:
    clean = None if origins is None else sorted({rules.origin(o) for o in origins})
    with ctx.db.write() as tx:
        require_site(tx, site_id)
        store.update_site(tx, site_id, name=name, writer_name=writer_name)
        if clean is not None:
            store.replace_origins(tx, site_id, clean)
        lifecycle.site_changed(tx, site_id, ctx.now())  # her name is in every cached page
        site = store.get_site(tx, site_id)
    ctx.sites.invalidate()
    assert site is not None
    return site


def get_site(ctx: Context, site_id: str) -> Site:
    with ctx.db.read() as tx:
        return require_site(tx, site_id)


def list_sites(ctx: Context) -> list[Site]:
    with ctx.db.read() as tx:
        return store.list_sites(tx)


def known_site(ctx: Context, site_id: str) -> Site:
    """A site from this process's directory (no query on the hot write path)."""
    site = ctx.sites.get(site_id)
    if site is None:
        raise errors.UnknownSite(site_id)
    return site


def require_site(tx: Tx, site_id: str) -> Site:
    site = store.get_site(tx, site_id)
    if site is None:
        raise errors.UnknownSite(site_id)
    return site


def create_writer_token(ctx: Context, site_id: str, label: str = "") -> str:
    """A new token that acts as the site's writer. Only its hash is stored: show it once."""
    token = new_writer_token()
    with ctx.db.write() as tx:
        require_site(tx, site_id)
        store.insert_token(tx, site_id, hash_writer_token(token), label, ctx.now())
    return token


def is_writer_token(token: str) -> bool:
    return token.startswith("pw_")


def site_for_writer_token(ctx: Context, token: str) -> str:
    with ctx.db.read() as tx:
        site_id = store.site_for_token(tx, hash_writer_token(token))
    if site_id is None:
        raise errors.InvalidToken("That writer token is not known here.")
    return site_id


def check_origin(site: Site, actor: Actor) -> None:
    """Writes from a browser must come from one of the site's own origins (or Parlour's).

    Requests without an Origin header come from programs, not pages, and carry no
    ambient credentials (Parlour uses no cookies for the API), so they are allowed.
    """
    if actor.origin is None or actor.origin == actor.own_origin or actor.origin in site.origins:
        return
    raise errors.OriginNotAllowed(
        f"The site {site.id!r} does not accept writes from {actor.origin}.", origin=actor.origin
    )
