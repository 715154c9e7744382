"""@Name in a comment: a link to that commenter's latest earlier comment in the thread,
made on the server when the comment is written (services/mentions.py)."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

from starlette.testclient import TestClient

from factories import make_site, post, writer_headers
from parlour.services import markup, mentions
from parlour.services.context import Context
from xss_corpus import BASE


def linked(body: str, **names: int) -> str:
    known = mentions.authors(((cid, name.replace("_", " "), False) for name, cid in names.items()), "Wren")
    return mentions.link(markup.render(body), known)


def test_a_mention_links_to_the_named_commenters_comment() -> None:
    assert linked("Thanks @Ada, that helped.", Ada=3) == (
        '<p>Thanks <a href="#comment-3" class="mention">@Ada</a>, that helped.</p>\n'
    )


def test_the_longest_known_name_wins_so_names_with_spaces_are_matched_whole() -> None:
    html = linked("@Ann Marie and @Ann agree.", Ann=1, Ann_Marie=2)
    assert '<a href="#comment-2" class="mention">@Ann Marie</a>' in html
    assert '<a href="#comment-1" class="mention">@Ann</a> agree' in html


def test_names_of_one_length_are_told_apart_on_a_thread_of_thousands() -> None:
    known = mentions.authors(((n, f"Reader {n:04}", False) for n in range(3000)), "Wren")
    html = mentions.link(markup.render("@" * 2000 + " @reader 0042 and @Reader 2999!"), known)
    assert html.count('class="mention"') == 2
    assert '<a href="#comment-42" class="mention">@reader 0042</a>' in html
    assert '<a href="#comment-2999" class="mention">@Reader 2999</a>!' in html


def test_a_mention_ends_where_a_word_ends_and_ignores_case() -> None:
    assert "mention" not in linked("@Annabel said so.", Ann=1)
    assert '<a href="#comment-1" class="mention">@ann</a>' in linked("Right, @ann.", Ann=1)
    assert "mention" not in linked("mail ann@example.org", Ann=1)


def test_a_look_alike_name_is_not_mentioned_by_the_real_one() -> None:
    # "Аda" with a Cyrillic А: "@Ada" names the Latin Ada only, never the impostor.
    assert '<a href="#comment-1" class="mention">@Ada</a>' in linked("Hi @Ada", Ada=1, **{"\u0410da": 2})
    assert "#comment-2" not in linked("Hi @Ada", **{"\u0410da": 2})


def test_code_and_links_keep_their_text() -> None:
    assert "mention" not in linked("`@Ada` and [@Ada](https://ada.example)", Ada=1)
    assert "mention" not in linked("```\n@Ada\n```", Ada=1)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside mention links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.mentions: list[str] = []
        self._in_mention = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_mention = dict(attrs).get("class") == "mention"
        if self._in_mention:
            self.mentions.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_mention = False

    def handle_data(self, data: str) -> None:
        if self._in_mention:
            self.mentions[-1] += data


def test_a_hostile_name_is_escaped_text_inside_the_link() -> None:
    matched = 0
    for payload in BASE:
        name = " ".join(payload.split())[:200]
        rendered = markup.render(f"Hello @{name} there")
        html = mentions.link(rendered, mentions.authors([(9, name, False)], "Wren"))
        parsed = Tags()
        parsed.feed(html)
        # Markdown may read part of the name as syntax (an entity, emphasis): then the
        # text shown is not the name, and nothing is linked.
        shown = f"@{name}" in unescape(rendered)
        assert parsed.mentions == ([f"@{name}"] if shown else []), html
        matched += shown
        before = Tags()
        before.feed(rendered)
        assert {tag for tag, _ in parsed.tags} <= {tag for tag, _ in before.tags} | {"a"}, html
        for _, attrs in parsed.tags:
            assert all(not key.startswith("on") for key in attrs) and "style" not in attrs, html
    assert matched > len(BASE) / 2


def test_a_reader_cannot_forge_a_mention_with_a_link_of_her_own() -> None:
    html = markup.render('[@Ada](#comment-1) <a href="#comment-1" class="mention">x</a>')
    assert mentions.mentioned(html) == []


def test_a_posted_comment_links_the_latest_earlier_comment_of_that_name(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    post(client, "First thoughts", author_name="Ann Marie")
    latest = post(client, "Second thoughts", author_name="Ann Marie")["comment"]
    writer = post(client, "Welcome, all.", headers=writer_headers(ctx))["comment"]
    reply = post(client, "Agreed, @Ann Marie, and @wren too. @Nobody?", author_name="Bo")["comment"]
    assert f'<a href="#comment-{latest["id"]}" class="mention">@Ann Marie</a>' in reply["html"]
    assert f'<a href="#comment-{writer["id"]}" class="mention">@wren</a>' in reply["html"]
    assert "@Nobody" in reply["html"] and reply["html"].count("<a ") == 2
    assert mentions.mentioned(reply["html"]) == [latest["id"], writer["id"]]
    # A mention counts as no link against the site's link limit: the comment is shown.
    assert not reply.get("held")


def test_a_name_from_another_thread_or_a_later_comment_is_not_linked(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    post(client, "Elsewhere", author_name="Cy", thread="/other")
    early = post(client, "Hello @Dee and @Cy", author_name="Bo")["comment"]
    post(client, "I am Dee", author_name="Dee")
    assert "mention" not in early["html"]
