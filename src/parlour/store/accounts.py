"""Desk accounts: users, their roles per site, sign-in links and attempts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update

from parlour.domain.model import Role, User
from parlour.store.database import Tx
from parlour.store.schema import memberships, revoked_tokens, sign_in_attempts, sign_in_links, sites, users


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
