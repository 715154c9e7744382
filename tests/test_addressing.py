"""Which reader comments wait for the writer (domain/addressing.py), and everything that
counts them agreeing: the inbox, the posts' counts, the reply rate, the Monday mail."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from factories import drain_all, make_site, post, writer_headers
from parlour.domain.addressing import addresses_writer, asks_a_question, for_writer, names
from parlour.services import accounts, inbox, records
from parlour.services.context import Context


def test_a_question_is_a_sentence_ending_with_a_question_mark() -> None:
    assert asks_a_question("Did it work for you?")
    assert asks_a_question("Really?! I had no idea.")
    assert asks_a_question("(what about the roots?)")
    assert not asks_a_question("See https://blog.example/page?id=3 for more.")
    assert not asks_a_question("I agree.")


def test_naming_the_writer_takes_her_whole_name_as_words() -> None:
    assert names("Thanks, Wren Ashby: lovely.", "Wren Ashby")
    assert names("@wren  ashby see this", "Wren Ashby")
    assert not names("A wrench and a wren ashbyfield", "Wren Ashby")
    assert not names("Anything", "   ")


def test_a_reply_to_a_reader_is_for_the_writer_only_when_it_addresses_her() -> None:
    assert for_writer("Agreed.", "Wren", parent_is_writer=None)  # starts a conversation
    assert for_writer("Thanks.", "Wren", parent_is_writer=True)  # answers her
    assert not for_writer("Agreed, Bo.", "Wren", parent_is_writer=False)
    assert for_writer("Agreed. @Wren, you too", "Wren", parent_is_writer=False)
    assert addresses_writer("Bo, how long did yours take?", "Wren")


def owner(ctx: Context) -> Any:
    return accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)


def test_replies_between_readers_wait_for_the_writer_only_when_they_address_her(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    user = owner(ctx)
    start = post(client, "My beans failed this year.", author_name="Ada")["comment"]
    chat_posted = post(client, "Mine too, Ada.", author_name="Bo", parent_id=start["id"])
    chat = chat_posted["comment"]
    named = post(client, "Wren will know the fix.", author_name="Cy", parent_id=start["id"])["comment"]
    asked_posted = post(client, "Did you water them daily?", author_name="Dee", parent_id=start["id"])
    asked = asked_posted["comment"]
    answer = post(client, "Too wet, I think.", parent_id=start["id"], headers=writer_headers(ctx))["comment"]
    to_her = post(client, "Thank you.", author_name="Ada", parent_id=answer["id"])["comment"]
    drain_all(ctx, inbox.CONSUMER)

    waiting = [item.id for item in inbox.waiting(ctx, user)]
    assert waiting == [named["id"], asked["id"], to_her["id"]]  # Ada's was answered
    (post_row,) = records.posts(ctx, user)
    assert post_row.unanswered == 3
    this_week = inbox.weekly(ctx, user)[-1]
    assert this_week.reply_rate == 1 / 4  # Ada's answered; Bo's chat counts neither way

    # An edit that asks her something brings the reply in; one that stops asking takes it out.
    edited = client.patch(
        f"/api/v1/comments/{chat['id']}",
        json={"body": "Mine too. Is it the soil?"},
        headers=bearer(chat_posted),
    )
    assert edited.status_code == 200, edited.text
    drain_all(ctx, inbox.CONSUMER)
    assert chat["id"] in [item.id for item in inbox.waiting(ctx, user)]
    client.patch(
        f"/api/v1/comments/{asked['id']}", json={"body": "Dee here: daily."}, headers=bearer(asked_posted)
    )
    drain_all(ctx, inbox.CONSUMER)
    assert [item.id for item in inbox.waiting(ctx, user)] == [chat["id"], named["id"], to_her["id"]]


def bearer(posted: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {posted['edit_token']}"}


def test_imported_replies_between_readers_are_marked_as_new_ones_are(ctx: Context) -> None:
    from sqlalchemy import select

    from parlour.domain.imports import CommentRecord, ThreadRecord
    from parlour.services import importing
    from parlour.store import inbox as inbox_store
    from parlour.store.schema import comments

    make_site(ctx)
    records = [
        ThreadRecord("t1", url="https://blog.example/old"),
        CommentRecord("c1", "t1", "Old thoughts", 1_600_000_000_000, author_name="Ada"),
        CommentRecord("c2", "t1", "Agreed, Ada.", 1_600_000_100_000, parent="c1", author_name="Bo"),
        CommentRecord("c3", "t1", "Wren, any tips", 1_600_000_200_000, parent="c1", author_name="Cy"),
        CommentRecord("c4", "t1", "Thanks!", 1_600_000_300_000, parent="c1", is_writer=True),
        CommentRecord("c5", "t1", "You are welcome", 1_600_000_400_000, parent="c4", author_name="Ada"),
    ]
    importing.run(ctx, records, importing.Options(site_id="blog", format="disqus"))
    with ctx.db.write() as tx:
        marks = {
            body: bool(mark) for body, mark in tx.execute(select(comments.c.body, comments.c.for_writer))
        }
        assert inbox_store.rebuild(tx) == 2  # Cy names her; Ada answers her ("Old thoughts" was answered)
    assert marks == {
        "Old thoughts": True, "Agreed, Ada.": False, "Wren, any tips": True, "Thanks!": True,
        "You are welcome": True,
    }  # fmt: skip
