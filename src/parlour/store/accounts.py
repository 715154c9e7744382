"""Desk accounts: users, their roles per site, sign-in links and attempts, widget grants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update

from parlour.domain.model import Role, User, WidgetGrant
from parlour.store.database import Tx
from parlour.store.schema import (
    memberships,
    revoked_tokens,
    sign_in_attempts,
    sign_in_links,
    sites,
    users,
    widget_grants,
)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        is_owner=bool(row.is_owner),
        session_epoch=row.session_epoch,
        created_at=row.created_at,
        has_password=row.password_hash is not None,
    )


def count_users(tx: Tx) -> int:
    return int(tx.execute(select(func.count()).select_from(users)).scalar_one())


def insert_user(tx: Tx, email: str, password_hash: str | None, is_owner: bool, now: int) -> int:
    result = tx.execute(
        insert(users)
        .values(email=email, password_hash=password_hash, is_owner=is_owner, session_epoch=0, created_at=now)
        .returning(users.c.id)
    )
    return int(result.scalar_one())


def get_user(tx: Tx, user_id: int) -> User | None:
    row = tx.execute(select(users).where(users.c.id == user_id)).one_or_none()
    return None if row is None else _user(row)


def get_user_by_email(tx: Tx, email: str) -> tuple[User, str | None] | None:
    """The user and their password hash (None for link-only accounts)."""
    row = tx.execute(select(users).where(users.c.email == email)).one_or_none()
    return None if row is None else (_user(row), row.password_hash)


def set_password_hash(tx: Tx, user_id: int, password_hash: str) -> None:
    tx.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def bump_session_epoch(tx: Tx, user_id: int) -> None:
    tx.execute(update(users).where(users.c.id == user_id).values(session_epoch=users.c.session_epoch + 1))


def set_role(tx: Tx, user_id: int, site_id: str, role: Role) -> None:
    tx.execute(delete(memberships).where(memberships.c.user_id == user_id, memberships.c.site_id == site_id))
    tx.execute(insert(memberships).values(user_id=user_id, site_id=site_id, role=role.value))


def roles_of(tx: Tx, user_id: int) -> dict[str, Role]:
    """Site id -> role, for the sites this user was given (the instance owner has all)."""
    rows = tx.execute(
        select(memberships.c.site_id, memberships.c.role).where(memberships.c.user_id == user_id)
    )
    return {row.site_id: Role(row.role) for row in rows}


def all_site_ids(tx: Tx) -> list[str]:
    return list(tx.execute(select(sites.c.id).order_by(sites.c.id)).scalars())


def insert_sign_in_link(tx: Tx, token_hash: str, user_id: int, now: int, expires_at: int) -> None:
    tx.execute(
        insert(sign_in_links).values(
            token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires_at
        )
    )


def prune_sign_in_links(tx: Tx, expired_before: int) -> None:
    tx.execute(delete(sign_in_links).where(sign_in_links.c.expires_at < expired_before))


def use_sign_in_link(tx: Tx, token_hash: str, now: int) -> int | None:
    """Mark a link used, once: the user id, or None if it is unknown, used or expired.

    A compare-and-set, so two clicks racing on the same link cannot both sign in.
    """
    result = tx.execute(
        update(sign_in_links)
        .where(
            sign_in_links.c.token_hash == token_hash,
            sign_in_links.c.used_at.is_(None),
            sign_in_links.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(sign_in_links.c.user_id)
    )
    user_id = result.scalar_one_or_none()
    return None if user_id is None else int(user_id)


def record_attempt(tx: Tx, key: str, now: int) -> int:
    result = tx.execute(
        insert(sign_in_attempts).values(key=key, created_at=now).returning(sign_in_attempts.c.id)
    )
    return int(result.scalar_one())


def forget_attempts(tx: Tx, ids: list[int]) -> None:
    if ids:
        tx.execute(delete(sign_in_attempts).where(sign_in_attempts.c.id.in_(ids)))


def has_attempt(tx: Tx, key: str) -> bool:
    return (
        tx.execute(select(sign_in_attempts.c.id).where(sign_in_attempts.c.key == key).limit(1)).first()
        is not None
    )


def count_attempts(tx: Tx, key: str, since: int) -> int:
    query = select(func.count()).where(sign_in_attempts.c.key == key, sign_in_attempts.c.created_at >= since)
    return int(tx.execute(query).scalar_one())


def forget_attempts_before(tx: Tx, key: str, before: int) -> None:
    tx.execute(
        delete(sign_in_attempts).where(sign_in_attempts.c.key == key, sign_in_attempts.c.created_at < before)
    )


def clear_attempts(tx: Tx, key: str) -> None:
    tx.execute(delete(sign_in_attempts).where(sign_in_attempts.c.key == key))


def prune_attempts(tx: Tx, before: int, known_before: int) -> None:
    """Drop attempts older than `before`, and marks of known addresses (`known:` keys)
    older than `known_before`."""
    known = sign_in_attempts.c.key.startswith("known:")
    tx.execute(
        delete(sign_in_attempts).where(
            ((sign_in_attempts.c.created_at < before) & ~known)
            | ((sign_in_attempts.c.created_at < known_before) & known)
        )
    )


def revoke_token(tx: Tx, token_hash: str, expires_at: int, now: int) -> None:
    """End a token before it expires; expired entries are pruned on the way."""
    tx.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
    if not is_revoked(tx, token_hash):
        tx.execute(insert(revoked_tokens).values(token_hash=token_hash, expires_at=expires_at))


def is_revoked(tx: Tx, token_hash: str) -> bool:
    found = tx.execute(select(revoked_tokens.c.token_hash).where(revoked_tokens.c.token_hash == token_hash))
    return found.first() is not None


def insert_widget_grant(
    tx: Tx, user: User, site_id: str, role: Role, origin: str, now: int, expires_at: int
) -> int:
    """A new writer sign-in in a widget; grants past their end are pruned on the way."""
    tx.execute(delete(widget_grants).where(widget_grants.c.expires_at < now))
    result = tx.execute(
        insert(widget_grants)
        .values(
            user_id=user.id,
            site_id=site_id,
            role=role.value,
            origin=origin,
            session_epoch=user.session_epoch,
            created_at=now,
            expires_at=expires_at,
            last_used_at=now,
        )
        .returning(widget_grants.c.id)
    )
    return int(result.scalar_one())


def get_widget_grant(tx: Tx, grant_id: int) -> WidgetGrant | None:
    row = tx.execute(select(widget_grants).where(widget_grants.c.id == grant_id)).first()
    return None if row is None else _grant(row)


def touch_widget_grant(tx: Tx, grant_id: int, now: int) -> None:
    tx.execute(update(widget_grants).where(widget_grants.c.id == grant_id).values(last_used_at=now))


def revoke_widget_grant(tx: Tx, grant_id: int, now: int) -> bool:
    """End a grant; False when it was already ended (or never was)."""
    result = tx.execute(
        update(widget_grants)
        .where((widget_grants.c.id == grant_id) & widget_grants.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


def live_widget_grants(
    tx: Tx, site_id: str, now: int, used_since: int, user_id: int | None = None
) -> list[WidgetGrant]:
    """The site's standing grants refreshed since `used_since`, newest first (one user's
    only, when given)."""
    query = (
        select(widget_grants, users.c.email)
        .join(users, users.c.id == widget_grants.c.user_id)
        .where(
            (widget_grants.c.site_id == site_id)
            & widget_grants.c.revoked_at.is_(None)
            & (widget_grants.c.expires_at >= now)
            & (widget_grants.c.last_used_at >= used_since)
            & (widget_grants.c.session_epoch == users.c.session_epoch)
        )
        .order_by(widget_grants.c.id.desc())
    )
    if user_id is not None:
        query = query.where(widget_grants.c.user_id == user_id)
    return [_grant(row) for row in tx.execute(query)]


def _grant(row: Any) -> WidgetGrant:
    return WidgetGrant(
        id=row.id,
        user_id=row.user_id,
        site_id=row.site_id,
        role=Role(row.role),
        origin=row.origin,
        session_epoch=row.session_epoch,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        email=getattr(row, "email", None),
    )


def site_owner_emails(tx: Tx, site_id: str) -> list[str]:
    """Who mail about a site goes to: its owners, or the instance's owners if it has none."""
    found = tx.execute(
        select(users.c.email)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.site_id == site_id, memberships.c.role == Role.OWNER.value)
        .order_by(users.c.email)
    ).scalars()
    emails = list(found)
    if not emails:
        emails = list(
            tx.execute(select(users.c.email).where(users.c.is_owner).order_by(users.c.email)).scalars()
        )
    return emails
