"""The demo site: a writer's post and the conversation under it, written for Parlour.

Loaded by `parlour demo` (and by the README's run command) so a new user has something
real to look at. Loading twice changes nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from parlour.domain import errors
from parlour.domain.model import Actor
from parlour.services import posting, sites
from parlour.services.context import Context
from parlour.store import threads as thread_store

SITE = "demo"
THREAD = "/welcome"
TITLE = "The garden in November, and what it asked of me"
WRITER = "Maren Holt"

# (reader, text, writer's reply or None, replies from other readers [(reader, text)])
Conversation = list[tuple[str, str, str | None, list[tuple[str, str]]]]

CONVERSATION: Conversation = [
    (
        "Tove",
        "I read this twice, once on the bus and once with tea. The part about leaving the seed heads "
        "standing for the finches made me put down my phone and look out the window for a long while.\n\n"
        "Thank you for writing about rest as something a garden *does*, not something it fails at. 🫶🏽",
        "Tove, the picture of you looking out the window is exactly what I hoped for. The finches thank you too.",
        [],
    ),
    (
        "Jonas Falk",
        "Honest question: how do you decide what to cut back and what to leave? I always feel I’m either "
        "being lazy or being tidy for the neighbours’ sake, never for the plants.",
        "Good question, Jonas. My rule is “hollow stems stay, soft leaves go”: the hollow ones shelter "
        "bees over winter, the soft ones just rot onto the crowns. Everything else is for the neighbours. 😊",
        [("Priya", "Saving this rule. I’ve been “tidy for the neighbours” for six years.")],
    ),
    (
        "Priya",
        "This year was the first autumn after my mother died, and I kept her dahlias in pots by the door "
        "because I couldn’t bear to lift them.\n\nYour line about not every bulb needing to be saved to be "
        "loved undid me a little. In a good way. ❤️",
        "Priya, I’m so sorry about your mother. Leaving them by the door is its own kind of care. "
        "If you want, lift one next spring and see; and if you don’t, that’s care too.",
        [("Tove", "Sending you something warm, Priya.")],
    ),
    (
        "Sam O.",
        "Came here from *Small Plot Letters*, which recommended you last week — so glad I did. "
        "The whole piece reads like a walk with a friend. 🌍🤝💪",
        "Welcome, Sam! Small Plot Letters is one of my favourite Sunday reads; I owe its writer a thank-you note.",
        [],
    ),
    (
        "Ines",
        "Three things I’m taking away:\n\n1. compost is slow and that’s the point\n2. the shed doesn’t need "
        "to be sorted before winter\n3. I can say no to the committee\n\nNumber three may be the hardest.",
        "Number three is always the hardest, Ines. I practise it on small things first, like refusing "
        "to weed on a Sunday.",
        [],
    ),
    (
        "Ruth Anand",
        "Do you ever feel guilty writing about the garden when so much else is going on in the world? "
        "I do, sometimes, about my own little newsletter.",
        "All the time, Ruth. Then a reader writes to say she planted garlic with her grandson because of "
        "something I wrote, and I remember small things are how most of us hold the big ones.",
        [
            (
                "Jonas Falk",
                "Small things are how most of us hold the big ones. Writing that on the shed door.",
            ),
            ("Ines", "Your newsletter helps more people than you know, Ruth."),
        ],
    ),
    (
        "Kit",
        "Lovely as always. Small correction for the garlic bit: our allotment society says plant before the "
        "shortest day, not after — or is that a northern thing?",
        "It is a bit of a northern thing, Kit! Down here the ground rarely freezes, so January works. "
        "I’ll add a note to the post so nobody gets confused.",
        [],
    ),
    (
        "Marguerite",
        "Pas de question, juste merci. Je lis chaque lettre avec mon café du dimanche. ☕️",
        "Merci, Marguerite ! Le café du dimanche est la meilleure compagnie.",
        [],
    ),
    (
        "Bea",
        "The bit about the old fork with the taped handle: my grandfather had one exactly like it. "
        "Funny how tools carry people in them.",
        None,
        [("Kit", "Mine has a blue handle from my aunt. I won’t replace it, ever.")],
    ),
    (
        "Daniel",
        "Is the book club still reading *The Well-Tempered Garden* next month? I’d like to join but I’m "
        "about halfway through something else.",
        "It is, Daniel, and you’re very welcome: we go slowly and nobody checks. First meeting is on the 12th.",
        [],
    ),
    (
        "Yusuf",
        "I don’t have a garden, only a windowsill with basil and a stubborn chilli plant. "
        "Still felt like this was written for me. 😊",
        "A windowsill is a garden, Yusuf. The stubborn chilli especially.",
        [],
    ),
    (
        "Anja",
        "Reading this in hospital, waiting on results. It helped to think about soil resting and "
        "coming back. Thank you for the company tonight.",
        "Anja, thank you for telling me. I hope the results are kind and that you rest well. "
        "I’m holding you in my thoughts. 🫶🏽",
        [],
    ),
]

PINNED = "Anja"
WRITER_HEARTS = {"Tove", "Priya", "Ruth Anand", "Yusuf"}
HEARTS = {"Tove": 5, "Jonas Falk": 3, "Priya": 9, "Sam O.": 2, "Ruth Anand": 6, "Anja": 11, "Ines": 4}


@dataclass(frozen=True)
class Loaded:
    site_created: bool
    comments: int


def load_demo(ctx: Context, origins: list[str]) -> Loaded:
    """Create the demo site and its conversation, unless they are there already."""
    try:
        site = sites.get_site(ctx, SITE)
        site_created = False
    except errors.UnknownSite:
        site = sites.create_site(ctx, SITE, "Notes from the Allotment", WRITER, origins)
        site_created = True
    else:
        wanted = sorted(set(site.origins) | set(origins))
        if wanted != list(site.origins):
            sites.update_site(ctx, SITE, origins=wanted)
    with ctx.db.read() as tx:
        thread = thread_store.get_thread(tx, SITE, THREAD)
    if thread is not None and thread.comment_count:
        return Loaded(site_created, 0)

    # Spread the conversation over the last few days, so times read naturally.
    start = ctx.now() - 4 * 24 * 3_600_000
    steps = itertools.count()
    demo = replace(ctx, now=lambda: start + next(steps) * 47 * 60_000)
    writer = Actor(ip_hash="demo-writer", writer_site=SITE)

    def reader(name: str) -> Actor:
        return Actor(ip_hash="demo-" + name, reader_id="demo-" + name.lower().replace(" ", "-"))

    def post(actor: Actor, body: str, parent: int | None = None, name: str | None = None) -> int:
        new = posting.NewComment(SITE, THREAD, body, parent, name, None, TITLE, "/demo")  # where the post is
        return int(posting.post_comment(demo, actor, new).comment["id"])

    count = 0
    ids: dict[str, int] = {}
    for name, text, answer, others in CONVERSATION:
        ids[name] = cid = post(reader(name), text, None, name)
        count += 1
        for other, reply in others:
            post(reader(other), reply, cid, other)
            count += 1
        if answer:
            post(writer, answer, cid)
            count += 1
    for name, n in HEARTS.items():
        for i in range(n):
            posting.set_heart(demo, Actor(ip_hash="demo", reader_id=f"demo-heart-{i}"), ids[name], True)
    for name in WRITER_HEARTS:
        posting.set_heart(demo, writer, ids[name], True)
    posting.set_pinned(demo, writer, ids[PINNED], True)
    return Loaded(site_created, count)
