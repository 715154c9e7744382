"""A real comment section (from ../shared, never copied into the project) survives the trip.

The copy repeats comments, as pages copied twice do; reposting the same text by the same
author returns the first comment instead of a second copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from factories import make_site, read, walk, writer_headers
from parlour.services.context import Context

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "comment-section-copy.txt"


@pytest.fixture
def seed_lines() -> list[str]:
    if not SEED.exists():
        pytest.skip(f"{SEED} is not here")
    return [line.rstrip("\n") for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_real_comments_round_trip_exactly_and_repeats_are_not_doubled(
    ctx: Context, client: TestClient, seed_lines: list[str]
) -> None:
    make_site(ctx)
    writer = writer_headers(ctx)
    statuses = []
    for i, text in enumerate(seed_lines):
        as_writer = i % 2 == 1
        payload = {"site": "blog", "thread": "/seed", "body": text}
        if not as_writer:
            payload["author_name"] = "Reader"
        response = client.post("/api/v1/comments", json=payload, headers=writer if as_writer else {})
        statuses.append(response.status_code)
        assert response.status_code in (200, 201), response.text
    distinct = len({(text, i % 2 == 1) for i, text in enumerate(seed_lines)})
    stored = [c["body"] for c in walk(read(client, "/seed", limit=500)["comments"])]
    assert len(stored) == distinct < len(seed_lines)
    assert set(stored) == set(seed_lines)
    assert statuses.count(200) == len(seed_lines) - distinct
