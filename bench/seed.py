"""Deterministic seed data for bench/compare-isso, posted through each server's HTTP API.

Data set (identical for every server, same order, same texts):
  /big      1,000 comments: 500 top-level, 500 replies. Replies go to earlier
            comments: mostly to top-level comments (uniformly among those that
            exist at that point, so early comments collect more replies), and
            about a fifth to a first-level reply, i.e. nested two levels deep.
  /t1../t99 10 comments each (7 top-level, 3 replies, one of them nested).

Every body is unique (it carries its sequence number), so Parlour's
"same author, same text, same parent within minutes" de-duplication never fires.

Standalone use (seeds one server):
  python3 bench/seed.py isso http://127.0.0.1:PORT
  python3 bench/seed.py parlour http://127.0.0.1:PORT
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import time
import urllib.parse
from dataclasses import dataclass

SEED = 20240611

BIG_THREAD = "/big"
BIG_TOP = 500
BIG_REPLIES = 500
SMALL_THREADS = [f"/t{i}" for i in range(1, 100)]
SMALL_PATTERN = ["T", "T", "R", "T", "R2", "T", "T", "T", "R", "T"]  # 7 top, 3 replies

SENTENCES = [
    "I have been running this setup for about two years now and it has been remarkably stable.",
    "The only hiccup was the upgrade from the old major version, which needed a manual migration.",
    "Thanks for the detailed write-up.",
    "Could you say a bit more about how you handle backups?",
    "We do something similar, but we keep the database on a separate volume.",
    "Honestly the hardest part was convincing the rest of the team that self-hosting was worth it.",
    "I disagree with the point about caching; in my experience it adds more problems than it solves at this size.",
    "That is a fair criticism, though I think it depends a lot on the traffic pattern.",
    "Our blog gets maybe a few hundred visits a day, so none of this matters much for us.",
    "The moderation queue is the feature I use most.",
    "Spam was a real problem until we added a simple rate limit per address.",
    "Does anyone know whether this works behind a reverse proxy with a path prefix?",
    "Yes, it does, you just have to set the public endpoint correctly.",
    "I ran into the same issue and the fix was to clear the browser cache.",
    "Great post, bookmarked for later.",
    "The screenshots in the second section seem to be out of date.",
    "It would be nice to have an export in a plain format, just in case.",
    "I moved off a hosted service last year and have not looked back.",
    "Page load time dropped noticeably once the third-party scripts were gone.",
    "One small correction: the default port changed in the latest release.",
    "I tried this on a tiny virtual machine with half a gigabyte of memory and it was fine.",
    "Markdown support is a must for me, especially code blocks.",
    "How does it behave when two people reply to the same comment at the same time?",
    "Nothing bad happens, both replies just show up in order.",
    "The email notifications are a nice touch, though I wish they were batched.",
    "This thread is getting long, but it is one of the more useful ones on the site.",
    "I would love to see some numbers on how it performs under load.",
    "Agreed, a benchmark against the usual alternatives would be really interesting.",
    "Interesting read, and the comments are almost better than the article.",
    "Please keep writing these; the practical detail is what makes them worth reading.",
    "For what it is worth, the same approach also works with a containerised deployment.",
    "We saw the database file grow to a few hundred megabytes before we bothered to vacuum it.",
]
DECORATIONS = [
    lambda s: s,
    lambda s: s,
    lambda s: s,
    lambda s: s.replace("really", "*really*").replace("must", "**must**"),
    lambda s: s + " See https://example.com/notes for the details.",
    lambda s: s + " The relevant setting is `max-age`.",
]
AUTHORS = [
    "Alice Martin",
    "Bob Nguyen",
    "Carla Rossi",
    "Dev Patel",
    "Emma Schulz",
    "Farid Haddad",
    "Grace Kim",
    "Hugo Lefebvre",
    "Ines Costa",
    "Jonas Berg",
    "Kemi Adeyemi",
    "Luis Ortega",
    "Mia Novak",
    "Noah Fischer",
    "Olga Ivanova",
    "Pablo Diaz",
    "Quinn Murphy",
    "Rosa Jansen",
    "Sam Taylor",
    "Tara Singh",
    "Uma Rao",
    "Victor Hugo",
    "Wen Li",
    "Ximena Ruiz",
    "Yusuf Demir",
    "Zoe Clark",
    "anon",
    "a reader",
    "Lurker",
    "Pat",
]


@dataclass
class Comment:
    seq: int  # global sequence number, unique across the whole data set
    thread: str
    parent: int | None  # index into the plan (same thread), None for top-level
    text: str
    author: str
    email: str


def _text(rng: random.Random, seq: int) -> str:
    paragraphs = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        sents = [rng.choice(DECORATIONS)(rng.choice(SENTENCES)) for _ in range(rng.randint(1, 3))]
        paragraphs.append(" ".join(sents))
    paragraphs[-1] += f" (comment {seq})"
    return "\n\n".join(paragraphs)


def plan() -> list[Comment]:
    """The full, deterministic list of comments in posting order."""
    rng = random.Random(SEED)
    out: list[Comment] = []
    seq = 0

    def add(thread, parent):
        nonlocal seq
        seq += 1
        author = rng.choice(AUTHORS)
        email = author.lower().replace(" ", ".") + "@example.org"
        out.append(Comment(seq, thread, parent, _text(rng, seq), author, email))
        return len(out) - 1

    # /big: 500 top-level + 500 replies, interleaved; first 20 are top-level.
    kinds = ["T"] * (BIG_TOP - 20) + ["R"] * BIG_REPLIES
    rng.shuffle(kinds)
    kinds = ["T"] * 20 + kinds
    tops: list[int] = []
    depth1: list[int] = []
    for kind in kinds:
        if kind == "T":
            tops.append(add(BIG_THREAD, None))
        elif depth1 and rng.random() < 0.2:
            add(BIG_THREAD, rng.choice(depth1))  # reply to a reply: two levels deep
        else:
            depth1.append(add(BIG_THREAD, rng.choice(tops)))

    for thread in SMALL_THREADS:
        tops, depth1 = [], []
        for kind in SMALL_PATTERN:
            if kind == "T":
                tops.append(add(thread, None))
            elif kind == "R":
                depth1.append(add(thread, rng.choice(tops)))
            else:
                add(thread, rng.choice(depth1) if depth1 else rng.choice(tops))
    return out


def plan_stats(p: list[Comment]) -> dict:
    big = [c for c in p if c.thread == BIG_THREAD]
    depth = {}
    for i, c in enumerate(p):
        depth[i] = 0 if c.parent is None else depth[c.parent] + 1
    big_idx = [i for i, c in enumerate(p) if c.thread == BIG_THREAD]
    return {
        "total": len(p),
        "big": len(big),
        "big_top": sum(1 for i in big_idx if depth[i] == 0),
        "big_depth1": sum(1 for i in big_idx if depth[i] == 1),
        "big_depth2": sum(1 for i in big_idx if depth[i] == 2),
        "threads": len({c.thread for c in p}),
        "avg_text_chars": round(sum(len(c.text) for c in p) / len(p)),
    }


class Client:
    """Keep-alive JSON client for one server (reconnects when the server closes)."""

    def __init__(self, base: str, origin: str):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.origin = origin
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body=None) -> tuple[int, bytes, dict]:
        headers = {"Accept": "*/*", "Origin": self.origin}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                if resp.getheader("connection", "").lower() == "close":
                    self.conn.close()
                return resp.status, payload, dict(resp.getheaders())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        self.conn.close()


def _post_isso(cl: Client, c: Comment, parent_id):
    path = "/new?uri=" + urllib.parse.quote(c.thread, safe="")
    # "title" is what the widget sends from data-title; without it Isso fetches
    # the page from the site origin to read its <title> on a thread's first comment.
    body = {
        "text": c.text,
        "author": c.author,
        "email": c.email,
        "parent": parent_id,
        "title": "Thread " + c.thread,
    }
    status, payload, _ = cl.request("POST", path, body)
    if status != 201:
        raise RuntimeError(f"isso POST {path} -> {status}: {payload[:300]!r}")
    return json.loads(payload)["id"]


def _post_parlour(cl: Client, c: Comment, parent_id):
    body = {
        "site": "bench",
        "thread": c.thread,
        "body": c.text,
        "author_name": c.author,
        "author_email": c.email,
    }
    if parent_id is not None:
        body["parent_id"] = parent_id
    status, payload, _ = cl.request("POST", "/api/v1/comments", body)
    if status != 201:
        raise RuntimeError(f"parlour POST /api/v1/comments -> {status}: {payload[:300]!r}")
    return json.loads(payload)["comment"]["id"]


POSTERS = {"isso": _post_isso, "parlour": _post_parlour}


def seed(kind: str, base: str, origin: str, p: list[Comment] | None = None) -> float:
    """Post the whole plan to one server; returns seconds taken."""
    p = p or plan()
    post = POSTERS[kind]
    cl = Client(base, origin)
    ids: list[int] = []
    t0 = time.monotonic()
    try:
        for c in p:
            parent_id = None if c.parent is None else ids[c.parent]
            ids.append(post(cl, c, parent_id))
    finally:
        cl.close()
    return time.monotonic() - t0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in POSTERS:
        sys.exit("usage: seed.py isso|parlour BASE_URL [ORIGIN]")
    base = sys.argv[2].rstrip("/")
    print(json.dumps(plan_stats(plan())))
    print(f"seeded in {seed(sys.argv[1], base, sys.argv[3] if len(sys.argv) == 4 else base):.1f}s")
