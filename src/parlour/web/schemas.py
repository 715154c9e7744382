"""The API's documented shapes (OpenAPI). Responses are built by the services; tests
validate real responses against these schemas so the document stays true."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from parlour.domain.model import MAX_ID


class Author(BaseModel):
    name: str | None = Field(description="Display name; null when anonymous or removed.")
    is_writer: bool = Field(description="True when the site's writer wrote this.")
    avatar_url: str | None = Field(default=None, description="The writer's picture, on her comments (https).")
    verified: bool = Field(
        default=False,
        description="A reader signed in by the writer's site (single sign-on): the name is theirs.",
    )


class CommentOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    parent_id: int | None
    author: Author
    body: str = Field(description="Markdown source as typed. Never insert it as HTML; use `html`.")
    html: str = Field(description="Sanitised HTML rendering of `body`, safe to insert.")
    created_at: str = Field(description="RFC 3339, UTC.")
    edited_at: str | None
    hearts: int
    liked_by_writer: bool
    pinned: bool
    removed: bool = Field(description="Removed comments keep their place (and replies) but no text.")
    held: bool = Field(
        default=False,
        description="Held for review: only in the answer to its author's post; shown to nobody else yet.",
    )
    reply_count: int = Field(description="Direct replies that are published.")
    replies: list[CommentOut]
    replies_cursor: str | None = Field(
        default=None,
        description="On top-level comments: when more replies exist, pass as `cursor` with `root=<id>`.",
    )


class ThreadOut(BaseModel):
    site: str
    key: str
    title: str | None
    url: str | None
    comment_count: int
    locked: bool = Field(default=False, description="Locked or closed: new comments are refused.")
    closes_at: str | None = Field(
        default=None,
        description="When the site's `close_after_days` closes the thread to new comments (RFC 3339), if it does.",
    )
    who_may_comment: Literal["everyone", "signed-in", "members", "paid", "closed"] = Field(
        default="everyone",
        description="Who may post here (the thread's choice, or its site's): `signed-in` and `members` need "
        "a single sign-on token (`X-Parlour-SSO`), `paid` one with tier `paid`; `closed`, no reader.",
    )


class PageOut(BaseModel):
    thread: ThreadOut
    comments: list[CommentOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class CountsOut(BaseModel):
    counts: dict[str, int]


class CommentIn(BaseModel):
    site: str
    thread: str = Field(description="The page's key, usually its canonical path.")
    body: str = Field(description="Markdown.")
    # Strict: JSON's true is no comment id (lax, it was comment 1), nor "1" or 1.0.
    parent_id: StrictInt | None = Field(default=None, ge=1, le=MAX_ID)
    author_name: str | None = None
    author_email: str | None = Field(default=None, description="Private: never shown or returned.")
    notify: Literal["replies", "thread"] | None = Field(
        default=None,
        description="Email author_email every reply to this comment (`replies`) or every new comment of "
        "the thread (`thread`), once the address is confirmed by the link Parlour mails it.",
    )
    title: str | None = Field(default=None, description="The post's title, kept when the thread is created.")
    url: str | None = Field(default=None, description="The post's URL, kept when the thread is created.")


class ReaderName(BaseModel):
    name: str = Field(description="The name the reader comments under from now on.")


class ReaderDelete(BaseModel):
    comments: Literal["remove", "keep"] = Field(
        description='"remove": each comment is removed (text and name erased); "keep": they stay, as '
        '"A former reader", linked to no one.'
    )


class CommentEdit(BaseModel):
    body: str


class PreviewIn(BaseModel):
    body: str = Field(description="Markdown, as it would be posted.")


class PreviewOut(BaseModel):
    html: str = Field(description="The sanitised HTML the comment would show.")


class PostedOut(BaseModel):
    comment: CommentOut
    edit_token: str | None = Field(
        description="Bearer token for PATCH/DELETE of this comment within the edit window (reader comments)."
    )
    notify: Literal["requested"] | None = Field(
        default=None,
        description="With `notify`: `requested`. Mail starts once the address is confirmed (by the link "
        "Parlour mails an address new to the site); the answer does not say whether it was already.",
    )


class CommentEnvelope(BaseModel):
    comment: CommentOut


class HeartOut(BaseModel):
    id: int
    hearts: int
    liked_by_writer: bool
    hearted: bool


class ReaderOut(BaseModel):
    reader_token: str = Field(description="Send as `X-Parlour-Reader` to heart comments.")


class WriterTokenOut(BaseModel):
    writer_token: str = Field(description="The widget's writer token: send as `Authorization: Bearer`.")
    expires_at: str = Field(description="When it stops working (ISO 8601, UTC); refresh before then.")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable snake_case code; see docs/api.md for the list.")
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in [
        (400, "Malformed request"),
        (401, "Bad token"),
        (403, "Not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Too large"),
        (415, "Not JSON"),
        (422, "Invalid input"),
        (429, "Rate limited"),
    ]
}
