"""Table definitions. Times are integer milliseconds since the Unix epoch, UTC.

Change a table only together with a migration in store/migrations/versions/.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("writer_name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Per-site settings, edited in the desk (instance settings stay in the environment).
    Column("moderation", String(16), nullable=False, default="publish", server_default="publish"),
    Column("held_words", Text, nullable=False, default="", server_default=""),  # one per line
    Column("rejected_words", Text, nullable=False, default="", server_default=""),
    Column("max_links", Integer),  # more links than this: held for review
    Column("close_after_days", Integer),  # threads take no new comments after this
    Column("edit_window", Integer),  # seconds; NULL: PARLOUR_EDIT_WINDOW
    Column("writer_heart", Boolean, nullable=False, default=True, server_default="1"),
    Column("writer_avatar", String(2000)),  # an https image URL shown by her comments
    Column("writer_mail", String(8), nullable=False, default="each", server_default="each"),
    Column("unanswered_mail", Boolean, nullable=False, default=True, server_default="1"),
    Column("who_may_comment", String(16), nullable=False, default="everyone", server_default="everyone"),
    # Single sign-on: the HS256 key (its UTF-8 bytes) the writer's site signs tokens with.
    Column("sso_secret", String(100)),
)

site_origins = Table(
    "site_origins",
    metadata,
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("origin", String(300), primary_key=True),
    Index("ix_site_origins_origin", "origin"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
)

threads = Table(
    "threads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(500), nullable=False),
    Column("title", String(500)),
    Column("url", String(2000)),
    Column("comment_count", Integer, nullable=False, default=0),
    # Bumped by every change to the thread's comments; readers' caches are keyed on it.
    Column("version", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("locked", Boolean, nullable=False, default=False, server_default="0"),
    Column("who_may_comment", String(16)),  # NULL: the site's choice
    UniqueConstraint("site_id", "key"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Id, ForeignKey("comments.id")),
    # The top-level ancestor; NULL for top-level comments. Lets one query fetch a subtree.
    Column("root_id", Id),
    Column("depth", Integer, nullable=False, default=0),
    Column("author_name", String(200)),
    # Private: never returned by a public endpoint.
    Column("author_email", String(320)),
    Column("author_key", String(80), nullable=False),
    Column("ip_hash", String(64), nullable=False),
    Column("is_writer", Boolean, nullable=False, default=False),
    # Markdown source as the author typed it. Never render this as HTML: use `html`.
    Column("body", Text, nullable=False),
    Column("body_hash", String(64), nullable=False),
    # Rendered and sanitised once, at write time.
    Column("html", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("pinned", Boolean, nullable=False, default=False),
    Column("hearts", Integer, nullable=False, default=0),
    Column("liked_by_writer", Boolean, nullable=False, default=False),
    Column("reply_count", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("published_at", BigInteger),  # when it became visible: posted, or approved
    Column("edited_at", BigInteger),
    # The writer marked it "no reply needed": it leaves her reply inbox.
    Column("inbox_done", Boolean, nullable=False, default=False, server_default="0"),
    # Posted by a reader signed in by single sign-on: their name is theirs (a mark).
    Column("author_verified", Boolean, nullable=False, default=False, server_default="0"),
    # For the writer to answer, if a reader wrote it: it starts a conversation, answers
    # her, or names her or asks a question (domain/addressing.py). A reader answering a
    # reader otherwise never waits in her inbox.
    Column("for_writer", Boolean, nullable=False, default=True, server_default="1"),
    Index("ix_comments_thread_top", "thread_id", "parent_id", "id"),
    Index("ix_comments_root", "root_id", "id"),
    # A comment's replies: "has the writer answered it?" (the inbox, on every post) and
    # the reply counts. Without it each of those scanned every comment.
    Index("ix_comments_parent", "parent_id"),
    # Three equality columns, so the planner prefers it to ix_comments_thread_top when
    # looking for a repeated post (measured: with two, SQLite scanned the thread).
    Index("ix_comments_dedupe", "thread_id", "author_key", "body_hash"),
    Index("ix_comments_ip_recent", "ip_hash", "created_at"),
    # The live feed's poll: comments published in the last few seconds, across threads.
    Index("ix_comments_published", "published_at"),
)

hearts = Table(
    "hearts",
    metadata,
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("reader_id", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

readers = Table(
    "readers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ip_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_readers_ip_recent", "ip_hash", "created_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


# The writer's desk: people who sign in, what they may do on which site, and their sign-ins.
users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # stored lower-cased
    Column("password_hash", String(255)),  # argon2id; NULL: signs in by emailed link only
    # The instance owner: every site, and creates sites and accounts.
    Column("is_owner", Boolean, nullable=False, default=False),
    # Bumped by "sign out everywhere": sessions carry the value they were issued under.
    Column("session_epoch", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),  # owner | moderator
)

sign_in_links = Table(
    "sign_in_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # the link's secret is never stored
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger),
)

sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),  # "email:..." or "ip:<hash>"
    Column("created_at", BigInteger, nullable=False),
    Index("ix_sign_in_attempts_key", "key", "created_at"),
)

# Mail waiting to be sent: written in the same transaction as its cause, claimed by one
# worker with compare-and-set, retried on failure. Never an in-memory queue.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("claimed_at", BigInteger),
    Column("sent_at", BigInteger),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    # Chosen once, at enqueue: every attempt sends the message under the same Message-ID.
    Column("message_id", String(255)),
    # The receiving server refused it for good (or it failed MAX_ATTEMPTS times): not retried.
    Column("failed_at", BigInteger),
    # An HTML alternative to `body`, and headers beyond From/To/Subject/Date/Message-ID
    # (threading, List-Unsubscribe) as a JSON object.
    Column("html", Text),
    Column("headers", Text),
    # The message's text was with the server and its final dot about to go: from then on
    # the server may have it, so a process that died here is not followed by a resend.
    Column("handed_at", BigInteger),
    Index("ix_outbox_due", "sent_at", "due_at"),
    Index("ix_outbox_recipient", "recipient", "sent_at"),  # the per-recipient rate limit
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("action", String(40), nullable=False),
    Column("comment_id", Id),
    Column("reason", Text),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_audit_log_site", "site_id", "id"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # reader | email | address
    Column("value", String(320), nullable=False),  # reader id, lower-cased email, or address hash
    Column("reason", Text, nullable=False, default=""),
    Column("expires_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_blocks_site", "site_id", "kind", "value"),
)

# What happened to comments, threads and sites, one row per change, written in the same
# transaction as the change (services/lifecycle.py). Consumers read it in order through
# their own cursor (event_cursors); every process learns of changes from it (on
# PostgreSQL a trigger made by migration 0008 also NOTIFYs `parlour_changes`).
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # PostgreSQL: the writing transaction's id (pg_current_xact_id), which orders events
    # by when they can become visible; SQLite: 0 (one writer at a time, ids in order).
    Column("tx_id", BigInteger, nullable=False, default=0),
    Column("kind", String(32), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("thread_id", Id),
    Column("comment_id", Id),
    Column("created_at", BigInteger, nullable=False),
    # Consumers read in (tx_id, id) order on PostgreSQL; on SQLite tx_id is always 0 and
    # the primary key is the order, so the index would only cost every post a page write.
    Index("ix_events_order", "tx_id", "id").ddl_if(dialect="postgresql"),
)

# How far each durable consumer of `events` has read.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tx_id", BigInteger, nullable=False, default=0),
    Column("event_id", BigInteger, nullable=False, default=0),
    Column("updated_at", BigInteger, nullable=False),
)

# The writer's reply inbox: reader comments that may be waiting for her answer, kept by
# the inbox consumer from `events`. The desk re-checks each row when it lists them.
inbox = Table(
    "inbox",
    metadata,
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_inbox_site", "site_id", "created_at", "comment_id"),
)

# Desk sessions and widget tokens ended before they expire ("sign out"): the SHA-256 of
# the token, kept until the token would have expired anyway.
revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)

# The writer in the widget: each sign-in handed from the desk to a widget is a grant. The
# widget's token names the grant and lives an hour; it is refreshed while the grant
# stands (until `expires_at`, unrevoked, the account's role on the site unchanged and no
# "sign out everywhere" since: `session_epoch`). The desk lists and revokes grants.
widget_grants = Table(
    "widget_grants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("origin", String(400), nullable=False),
    Column("session_epoch", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Index("ix_widget_grants_site", "site_id", "id"),
)

# Readers who gave an address for mail, one row per address per site: the double opt-in
# (`confirmed_at`) and "no more mail from this site" (`unsubscribed_at`).
mail_readers = Table(
    "mail_readers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),  # stored lower-cased
    Column("created_at", BigInteger, nullable=False),
    Column("confirm_sent_at", BigInteger),  # the last confirmation mail: at most one a day
    Column("confirmed_at", BigInteger),
    Column("unsubscribed_at", BigInteger),
    UniqueConstraint("site_id", "email"),
)

# What a reader asked to hear of: replies to one comment (`replies`), or every new
# comment of a thread (`thread`). Ended by "no more mail for this conversation".
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reader_id", Id, ForeignKey("mail_readers.id", ondelete="CASCADE"), nullable=False),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE")),  # `replies` only
    Column("kind", String(16), nullable=False),  # replies | thread
    Column("created_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger),
    Index("ix_subscriptions_comment", "comment_id"),  # who hears of a reply to this comment
    Index("ix_subscriptions_thread", "thread_id", "kind"),  # who hears of every comment here
    Index("ix_subscriptions_reader", "reader_id", "thread_id"),
)

# Digests sent to the writer, one row per site, kind and period (a day, a week): whoever
# inserts the row sends the digest, so several processes never send one twice.
digests = Table(
    "digests",
    metadata,
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # daily | unanswered
    Column("period", String(16), primary_key=True),  # 2026-12-05 | 2026-W49
    Column("created_at", BigInteger, nullable=False),
)

# Readers signed in by single sign-on, per site: the name each last came with (kept, so
# nobody else posts under it), and what the writer's site said of them.
site_readers = Table(
    "site_readers",
    metadata,
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    # "sso:" + the token's `sub`, or "account:" + a reader account's id (email sign-in)
    Column("subject", String(220), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("folded_name", String(200), nullable=False),  # services/folding.py: compared, never shown
    Column("email", String(320)),
    Column("picture", String(2000)),
    Column("tier", String(8), nullable=False),  # free | paid
    Column("created_at", BigInteger, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Index("ix_site_readers_name", "site_id", "folded_name"),
)

# Webhooks: addresses a site's comment changes are posted to (Standard Webhooks). The
# secret is the signing key itself, kept because every delivery is signed with it.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("secret", String(100), nullable=False),  # whsec_ and base64
    Column("events", Text),  # the event types sent, space-separated; NULL: every type
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger),  # paused (by the CLI, or a 410 Gone): nothing sent
    Index("ix_webhooks_site", "site_id"),
)

# Each message to each webhook, written by the webhooks consumer in the transaction that
# moves its cursor, claimed by one process with compare-and-set, retried with backoff
# under the same `message_id` (the `webhook-id` header). Also the desk's delivery log.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("webhook_id", Id, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("event_type", String(32), nullable=False),
    Column("payload", Text, nullable=False),  # the JSON body, byte for byte as signed and sent
    Column("created_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("claimed_at", BigInteger),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_status", Integer),  # the receiver's last HTTP status; NULL: no answer
    Column("last_error", Text),
    Column("delivered_at", BigInteger),
    Column("failed_at", BigInteger),  # given up on (too many attempts, or 410 Gone)
    Index("ix_webhook_deliveries_due", "delivered_at", "due_at"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),  # the desk's log, newest first
)

# Readers who signed in with an email link (from the widget's popup): one account per
# address, on every site of the instance; their names are kept per site in site_readers
# (subject "account:<id>"). `epoch` is bumped to end every session (account deleted).
reader_accounts = Table(
    "reader_accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # lower-cased
    Column("name", String(200)),
    Column("epoch", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
)

# A reader's sign-in in progress: the link mailed (only its hash kept) and the browser
# that asked (the hash of a first-party cookie's value): the link signs in that browser
# only. The popup that asked waits for it to be used.
reader_sign_ins = Table(
    "reader_sign_ins",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("name", String(200)),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("browser_hash", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger),
    Column("account_id", Id, ForeignKey("reader_accounts.id", ondelete="CASCADE")),
    Index("ix_reader_sign_ins_browser", "browser_hash", "id"),
)

# Each import run: what it read, what it did (the report, JSON), and for a pasted comment
# section, the writer's review (`review`: "pending" until she publishes, then "done").
imports = Table(
    "imports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("format", String(32), nullable=False),
    Column("file_name", String(500)),
    Column("thread_key", String(500)),  # the thread a paste (or --thread) went to
    Column("report", Text, nullable=False),
    Column("review", String(16)),  # NULL: nothing to review
    Column("created_at", BigInteger, nullable=False),
    Index("ix_imports_site", "site_id", "id"),
)

# Where an imported comment came from: "FORMAT:ID" in its old home. Importing the same
# file again finds each comment here and adds nothing; an export names comments by it.
imported_comments = Table(
    "imported_comments",
    metadata,
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", String(64), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(300), nullable=False),
    Column("import_id", Id, ForeignKey("imports.id", ondelete="SET NULL")),
    UniqueConstraint("site_id", "source"),
    Index("ix_imported_comments_import", "import_id"),
)
