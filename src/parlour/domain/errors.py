"""Every failure a client can cause is a `ParlourError` subclass.

The stable error code is derived from the class name (`UnknownSite` -> `unknown_site`), so
a call site cannot pick the wrong code. The `kind` says what sort of failure it is; only the
web edge turns a kind into an HTTP status (web/errors.py).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

Kind = Literal[
    "bad_request", "unauthorized", "forbidden", "not_found", "conflict", "too_large",
    "unsupported", "invalid", "rate_limited", "unavailable",
]  # fmt: skip

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class ParlourError(Exception):
    """Base of every error a client may see; `message` is safe to show to a person."""

    kind: ClassVar[Kind] = "invalid"
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    @classmethod
    def code(cls) -> str:
        return _CAMEL.sub("_", cls.__name__).lower()


# 400: the request itself is not understood.
class MalformedJson(ParlourError):
    kind = "bad_request"
    default_message = "The request body is not valid JSON."


class InvalidCursor(ParlourError):
    kind = "bad_request"
    default_message = "The page cursor is not one this server gave out."


class InvalidParameter(ParlourError):
    kind = "bad_request"
    default_message = "A query parameter has a value that is not allowed."


# 401 / 403: who is asking.
class InvalidToken(ParlourError):
    kind = "unauthorized"
    default_message = "The token is not valid for this comment or site."


class ReaderRequired(ParlourError):
    kind = "unauthorized"
    default_message = "Hearts need a reader identity: ask POST /api/v1/readers for one."


class SignInFailed(ParlourError):
    kind = "unauthorized"
    default_message = "That email and password do not match an account."


class SignInRequired(ParlourError):
    kind = "unauthorized"
    default_message = "Please sign in first."


class InvalidSignInLink(ParlourError):
    kind = "unauthorized"
    default_message = "This sign-in link has expired or was already used. Ask for a new one."


class InvalidMailLink(ParlourError):
    kind = "not_found"
    default_message = "This link is not one Parlour sent, or it no longer works."


class InvalidSsoToken(ParlourError):
    kind = "unauthorized"
    default_message = "The sign-in token from the writer's site is not valid here."


class WrongSetupCode(ParlourError):
    kind = "forbidden"
    default_message = (
        "That is not this server's setup code. `parlour serve` prints it; so does `parlour admin setup-code`."
    )


class CsrfCheckFailed(ParlourError):
    kind = "forbidden"
    default_message = "The form had expired. Please reload the page and try again."


class NotPermitted(ParlourError):
    kind = "forbidden"
    default_message = "You may not do that."


class ReaderBlocked(ParlourError):
    kind = "forbidden"
    default_message = "You cannot comment on this site."


class CommentingRestricted(ParlourError):
    kind = "forbidden"
    default_message = "Only some readers may comment here."


class ThreadLocked(ParlourError):
    kind = "forbidden"
    default_message = "This conversation is locked: it takes no new comments."


class EditWindowClosed(ParlourError):
    kind = "forbidden"
    default_message = "The time for editing or deleting this comment has passed."


class EditNeedsReview(ParlourError):
    kind = "forbidden"
    default_message = (
        "This site reviews such changes before they are shown, so the comment was left as it was. "
        "Post the new text as a reply instead, or ask the writer."
    )


class OriginNotAllowed(ParlourError):
    kind = "forbidden"
    default_message = "This site does not accept comments from that origin."


# 404: the thing is not there.
class UnknownSite(ParlourError):
    kind = "not_found"
    default_message = "There is no site with that id."

    def __init__(self, site_id: str) -> None:
        super().__init__(f"There is no site with id {site_id!r}.", site=site_id)


class UnknownComment(ParlourError):
    kind = "not_found"
    default_message = "There is no comment with that id."


class UnknownAccount(ParlourError):
    kind = "not_found"
    default_message = "There is no account with that email."


class UnknownWebhook(ParlourError):
    kind = "not_found"
    default_message = "There is no webhook with that id."


class UnknownThread(ParlourError):
    kind = "not_found"
    default_message = "There is no thread with that key."


# 409: the thing is in a state that does not allow it.
class CommentRemoved(ParlourError):
    kind = "conflict"
    default_message = "That comment has been removed."


class IdempotencyKeyReused(ParlourError):
    kind = "conflict"
    default_message = "This Idempotency-Key was already used for a different request."


class AccountExists(ParlourError):
    kind = "conflict"
    default_message = "There is already an account with that email."


class SetupDone(ParlourError):
    kind = "conflict"
    default_message = "This Parlour already has an owner. Sign in instead."


class NameTaken(ParlourError):
    kind = "conflict"
    default_message = "That name looks like the writer's. Please choose another."


class PublicUrlMissing(ParlourError):
    kind = "conflict"
    default_message = (
        "Sign-in links need PARLOUR_PUBLIC_URL, the address readers reach Parlour at. "
        "Sign in with your password, or ask whoever runs Parlour to set it."
    )


class SiteExists(ParlourError):
    kind = "conflict"
    default_message = "A site with that id already exists."


# 413 / 415: the envelope of the request.
class RequestTooLarge(ParlourError):
    kind = "too_large"
    default_message = "The request body is too large."


class UnsupportedMediaType(ParlourError):
    kind = "unsupported"
    default_message = "Send the request body as application/json."


# 422: the content does not pass the rules.
class InvalidInput(ParlourError):
    kind = "invalid"
    default_message = "The request has a field with a value that is not allowed."


class EmptyBody(InvalidInput):
    default_message = "Write something before posting."


class BodyTooLong(InvalidInput):
    default_message = "The comment is too long."


class NameTooLong(InvalidInput):
    default_message = "The name is too long."


class InvalidEmail(InvalidInput):
    default_message = "The email address does not look right."


class EmailRequired(InvalidInput):
    default_message = "Give your email address to be told of replies."


class InvalidCharacters(InvalidInput):
    default_message = "The text contains control characters that cannot be stored."


class UnknownParent(InvalidInput):
    default_message = "The comment being replied to does not exist."


class ParentInOtherThread(InvalidInput):
    default_message = "The comment being replied to belongs to another thread."


class InvalidThreadKey(InvalidInput):
    default_message = "The thread key must be a non-empty page path or identifier."


class InvalidSiteId(InvalidInput):
    default_message = "A site id is 1 to 64 letters, digits, dots, dashes or underscores."


class InvalidOrigin(InvalidInput):
    default_message = "An origin is a scheme and host, like https://example.com."


class InvalidWebhookUrl(InvalidInput):
    default_message = (
        "A webhook address is an http:// or https:// URL with a host, like https://hooks.example.com/parlour."
    )


# 429: too much, too fast.
class CommentRejected(InvalidInput):
    default_message = "This site does not accept comments with some of these words."


class InvalidImportFile(InvalidInput):
    default_message = "The file cannot be imported: nothing was imported."


class WeakPassword(InvalidInput):
    default_message = "Choose a password of at least 10 characters."


class PreviewTooComplex(ParlourError):
    kind = "invalid"
    default_message = "This text takes too long to preview; simplify its formatting."


class RateLimited(ParlourError):
    kind = "rate_limited"
    default_message = "Too many requests from this address; try again in a minute."


# Backups (command line): `parlour backup` and `parlour restore`.
class InvalidBackupFile(InvalidInput):
    default_message = "The file is not a Parlour backup this command can read: nothing was restored."


class WrongDatabaseForBackup(ParlourError):
    kind = "conflict"
    default_message = (
        "A SQLite backup restores into SQLite and a PostgreSQL one into PostgreSQL; between the two, "
        "move each site with `parlour export` and `parlour import parlour`."
    )


class BackupFileExists(ParlourError):
    kind = "conflict"
    default_message = "The backup file exists already; give --force to replace it."


class DatabaseNotEmpty(ParlourError):
    kind = "conflict"
    default_message = "The database holds data already: nothing was restored."


class PostgresToolMissing(ParlourError):
    kind = "unsupported"
    default_message = "PostgreSQL's client tools (pg_dump, pg_restore) are not on PATH."


class BackupFailed(ParlourError):
    kind = "conflict"
    default_message = "The backup failed; nothing was written."


class RestoreFailed(ParlourError):
    kind = "conflict"
    default_message = "The restore failed."


# 503: this instance cannot serve yet (/-/ready); a load balancer sends readers elsewhere.
class DatabaseUnavailable(ParlourError):
    kind = "unavailable"
    default_message = "The database does not answer."


class MigrationsPending(ParlourError):
    kind = "unavailable"
    default_message = "The database is not migrated to this version of Parlour: run `parlour migrate`."


def all_error_classes() -> list[type[ParlourError]]:
    """Every concrete error class, for the API documentation."""
    out: list[type[ParlourError]] = []
    stack: list[type[ParlourError]] = [ParlourError]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            out.append(sub)
            stack.append(sub)
    return sorted(out, key=lambda c: c.code())
