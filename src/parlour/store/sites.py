"""Sites, their allowed origins, writer tokens and instance metadata."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from parlour.domain.model import Moderation, Site, WhoMayComment, WriterMail
from parlour.store.database import Tx, driver_rows
from parlour.store.schema import digests, meta, site_origins, sites, tokens


def get_site(tx: Tx, site_id: str) -> Site | None:
    row = tx.execute(select(sites).where(sites.c.id == site_id)).one_or_none()
    if row is None:
        return None
    origins = tx.execute(
        select(site_origins.c.origin).where(site_origins.c.site_id == site_id).order_by(site_origins.c.origin)
    ).scalars()
    return Site(
        row.id, row.name, row.writer_name, tuple(origins), row.created_at,
        moderation=Moderation(row.moderation),
        held_words=_words(row.held_words),
        rejected_words=_words(row.rejected_words),
        max_links=row.max_links,
        close_after_days=row.close_after_days,
        edit_window=row.edit_window,
        writer_heart=bool(row.writer_heart),
        writer_avatar=row.writer_avatar,
        writer_mail=WriterMail(row.writer_mail),
        unanswered_mail=bool(row.unanswered_mail),
        who_may_comment=WhoMayComment(row.who_may_comment),
        sso_secret=row.sso_secret,
    )  # fmt: skip


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.splitlines() if w.strip())


def list_sites(tx: Tx) -> list[Site]:
    ids = tx.execute(select(sites.c.id).order_by(sites.c.id)).scalars().all()
    return [s for s in (get_site(tx, i) for i in ids) if s is not None]


def insert_site(tx: Tx, site_id: str, name: str, writer_name: str, now: int) -> None:
    tx.execute(insert(sites).values(id=site_id, name=name, writer_name=writer_name, created_at=now))


def update_site(tx: Tx, site_id: str, *, name: str | None = None, writer_name: str | None = None) -> None:
    values = {k: v for k, v in {"name": name, "writer_name": writer_name}.items() if v is not None}
    if values:
        tx.execute(update(sites).where(sites.c.id == site_id).values(**values))


def update_moderation(
    tx: Tx,
    site_id: str,
    *,
    moderation: Moderation,
    held_words: tuple[str, ...],
    rejected_words: tuple[str, ...],
    max_links: int | None,
    close_after_days: int | None,
    edit_window: int | None,
    writer_heart: bool,
    writer_avatar: str | None,
    writer_mail: WriterMail = WriterMail.EACH,
    unanswered_mail: bool = True,
) -> None:
    """The per-site settings edited in the desk, all at once."""
    values = {
        "moderation": moderation.value, "held_words": "\n".join(held_words),
        "rejected_words": "\n".join(rejected_words), "max_links": max_links,
        "close_after_days": close_after_days, "edit_window": edit_window, "writer_heart": writer_heart,
        "writer_avatar": writer_avatar, "writer_mail": writer_mail.value, "unanswered_mail": unanswered_mail,
    }  # fmt: skip
    tx.execute(update(sites).where(sites.c.id == site_id).values(**values))


def replace_origins(tx: Tx, site_id: str, origins: list[str]) -> None:
    tx.execute(delete(site_origins).where(site_origins.c.site_id == site_id))
    if origins:
        tx.execute(insert(site_origins), [{"site_id": site_id, "origin": o} for o in origins])


def all_origins(tx: Tx) -> set[str]:
    """Every origin any site allows: what CORS answers for."""
    return set(tx.execute(select(site_origins.c.origin).distinct()).scalars())


def insert_token(tx: Tx, site_id: str, token_hash: str, label: str, now: int) -> None:
    tx.execute(insert(tokens).values(site_id=site_id, token_hash=token_hash, label=label, created_at=now))


def site_for_token(tx: Tx, token_hash: str) -> str | None:
    return tx.execute(select(tokens.c.site_id).where(tokens.c.token_hash == token_hash)).scalar_one_or_none()


def get_meta(tx: Tx, key: str) -> str | None:
    return tx.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_meta(tx: Tx, key: str, value: str) -> None:
    tx.execute(insert(meta).values(key=key, value=value))


def claim_digest(tx: Tx, site_id: str, kind: str, period: str, now: int) -> bool:
    """Record that this digest is being sent; False when some process already did."""
    sql = (
        "INSERT INTO digests (site_id, kind, period, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (site_id, kind, period) DO NOTHING RETURNING site_id"
    )
    return bool(driver_rows(tx, sql, (site_id, kind, period, now)))


def sites_due_digest(tx: Tx, kind: str, period: str) -> list[str]:
    """Sites that want this kind of digest ("daily": writer_mail is daily; "unanswered":
    unanswered_mail) and have no row for this period yet."""
    wanted = sites.c.writer_mail == WriterMail.DAILY.value if kind == "daily" else sites.c.unanswered_mail
    sent = select(digests.c.site_id).where(digests.c.kind == kind, digests.c.period == period)
    query = select(sites.c.id).where(wanted, sites.c.id.not_in(sent)).order_by(sites.c.id)
    return list(tx.execute(query).scalars())


def set_created_at(tx: Tx, site_id: str, created_at: int) -> None:
    """When the site was made, as its export says (services/restoring.py)."""
    tx.execute(update(sites).where(sites.c.id == site_id).values(created_at=created_at))
