"""Plain records passed between the store and the services."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_ID = 2**62  # ids are 64-bit in the database; anything larger is refused, not overflowed


def is_id(value: object) -> bool:
    """Could this be a stored row's id? (An int from 1 to MAX_ID.)"""
    return type(value) is int and 1 <= value <= MAX_ID


class Status(StrEnum):
    """Where a comment stands. Only `published` comments are shown with their text."""

    PUBLISHED = "published"
    REMOVED = "removed"
    PENDING = "pending"  # held for review: only its author is told about it
    REJECTED = "rejected"  # refused by a moderator: never shown
    SPAM = "spam"  # refused as spam: never shown


class Sort(StrEnum):
    OLDEST = "oldest"
    NEWEST = "newest"
    TOP = "top"


class Role(StrEnum):
    """What a person may do on a site in the writer's desk."""

    OWNER = "owner"  # the writer: everything on her site
    MODERATOR = "moderator"  # moderation and replies, on the sites they are given


@dataclass(frozen=True, slots=True)
class User:
    """Someone who signs in to the desk. `is_owner`: the instance's owner, every site."""

    id: int
    email: str
    is_owner: bool
    session_epoch: int
    created_at: int
    has_password: bool = True


class Moderation(StrEnum):
    """When a reader's comment appears."""

    PUBLISH = "publish"  # at once; moderators review afterwards
    FIRST_COMMENT = "first_comment"  # held until the reader's first comment is approved
    HOLD_ALL = "hold_all"  # every reader comment waits for approval


class WhoMayComment(StrEnum):
    """Who may post on a site, or on one thread of it."""

    EVERYONE = "everyone"
    SIGNED_IN = "signed-in"  # readers who signed in (by single sign-on from the writer's site)
    MEMBERS = "members"  # members of the writer's site (single sign-on)
    PAID = "paid"  # paying members (single sign-on, `tier` "paid")
    CLOSED = "closed"  # no reader


class WriterMail(StrEnum):
    """How the writer hears of new comments on a site, by mail."""

    EACH = "each"  # a mail for each reader comment (and each held for review)
    DAILY = "daily"  # one digest a day
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    writer_name: str
    origins: tuple[str, ...]
    created_at: int
    moderation: Moderation = Moderation.PUBLISH
    held_words: tuple[str, ...] = ()  # a comment with one of these waits for review
    rejected_words: tuple[str, ...] = ()  # a comment with one of these is refused
    max_links: int | None = None  # more links than this: held
    close_after_days: int | None = None  # threads older than this take no new comments
    edit_window: int | None = None  # seconds; None: the instance's PARLOUR_EDIT_WINDOW
    writer_heart: bool = True  # show "liked by the author" in the widget
    writer_avatar: str | None = None  # https URL of the writer's picture
    writer_mail: WriterMail = WriterMail.EACH  # new comments mailed to the site's owners
    unanswered_mail: bool = True  # a weekly mail of the comments still waiting for her answer
    who_may_comment: WhoMayComment = WhoMayComment.EVERYONE
    sso_secret: str | None = None  # signs the writer's site's single sign-on tokens; never shown


@dataclass(frozen=True, slots=True)
class Thread:
    id: int
    site_id: str
    key: str
    title: str | None
    url: str | None
    comment_count: int
    version: int
    created_at: int
    locked: bool = False
    who_may_comment: WhoMayComment | None = None  # None: the site's choice


@dataclass(frozen=True, slots=True)
class Comment:
    """One stored comment; `body` is Markdown source, `html` its sanitised rendering."""

    id: int
    thread_id: int
    parent_id: int | None
    root_id: int | None
    depth: int
    author_name: str | None
    author_email: str | None
    author_key: str
    is_writer: bool
    body: str
    html: str
    status: Status
    pinned: bool
    hearts: int
    liked_by_writer: bool
    reply_count: int
    created_at: int
    edited_at: int | None
    author_verified: bool = False  # a reader signed in by single sign-on: the name is theirs


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a request.

    `writer_site` is set when a writer token was presented (`writer_user` and
    `writer_role` too when it was the widget's, handed over by the desk); `reader_id` when the browser
    sent its signed reader identity; `ip_hash` is a keyed hash of the address, never the
    address itself.
    """

    ip_hash: str
    reader_id: str | None = None
    writer_site: str | None = None
    origin: str | None = None
    own_origin: str | None = None
    # With a widget token from the desk: whose account acts (for the audit log) and its
    # role on the site. An API token acts as the site's owner, with no account.
    writer_user: int | None = None
    writer_role: Role | None = None
    sso: str | None = None  # the X-Parlour-SSO token as sent, checked against a site's secret
    account: str | None = None  # the X-Parlour-Account session (a reader's email sign-in) as sent

    def is_writer_of(self, site_id: str) -> bool:
        return self.writer_site == site_id


@dataclass(frozen=True, slots=True)
class WidgetGrant:
    """The writer (or a moderator) signed in to a site's widget from the desk."""

    id: int
    user_id: int
    site_id: str
    role: Role
    origin: str
    session_epoch: int
    created_at: int
    expires_at: int
    last_used_at: int
    revoked_at: int | None = None
    email: str | None = None  # the account's, when listed for the desk


@dataclass(frozen=True, slots=True)
class Event:
    """One change, as written to the event record in the same transaction as the change.

    Kinds: posted (created and shown), held (created, awaiting review), published
    (approved from the queue), refused (rejected or spam), edited, removed, restored,
    hearted, pinned, answered (inbox: no reply needed, or needed again), locked (the
    thread opened or closed), thread_changed (who may comment on it), site_changed (every
    page of the site changed).
    """

    id: int
    tx_id: int
    kind: str
    site_id: str
    thread_id: int | None
    comment_id: int | None
    created_at: int


@dataclass(frozen=True, slots=True)
class MailReader:
    """An address a reader gave on a site for mail: confirmed (double opt-in) or not yet,
    and whether they asked for no more mail from the site."""

    id: int
    site_id: str
    email: str
    created_at: int
    confirm_sent_at: int | None = None
    confirmed_at: int | None = None
    unsubscribed_at: int | None = None

    @property
    def receives(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


@dataclass(frozen=True, slots=True)
class Webhook:
    """An address a site's comment changes are posted to, signed with `secret` (Standard
    Webhooks: `whsec_` and base64). `events` limits the types sent; None: every type."""

    id: int
    site_id: str
    url: str
    secret: str  # the signing key itself: never shown after `parlour webhook add`
    created_at: int
    events: tuple[str, ...] | None = None
    disabled_at: int | None = None

    def wants(self, event_type: str) -> bool:
        return self.disabled_at is None and (self.events is None or event_type in self.events)


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One message to one webhook: its `message_id` (the `webhook-id` header) is chosen
    when it is enqueued and kept across retries; `payload` is the exact JSON sent."""

    id: int
    webhook_id: int
    message_id: str
    event_type: str
    payload: str
    created_at: int
    due_at: int
    attempts: int = 0
    last_status: int | None = None  # the receiver's last HTTP status; None: no answer
    last_error: str | None = None
    delivered_at: int | None = None
    failed_at: int | None = None  # given up on: not retried
