"""Observing Parlour: request ids, JSON logs, and /metrics on its own port."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from factories import PUSH_WINDOW, within
from parlour.app import create_app
from parlour.services import health, sites
from parlour.services.context import Context, open_context
from parlour.services.logs import JsonFormatter
from parlour.services.metrics import Metrics, OutboxCollector
from parlour.settings import Settings, SettingsError
from parlour.store import outbox as mail_store
from parlour.store import webhooks as webhook_store
from servers import free_port, parlour_process, served_database

# Request ids and logs


def test_a_sane_request_id_from_the_proxy_is_echoed(client: TestClient) -> None:
    answer = client.get("/-/health", headers={"X-Request-ID": "f3c2a1-9b.7:x"})
    assert answer.headers["x-request-id"] == "f3c2a1-9b.7:x"


@pytest.mark.parametrize("sent", ["a" * 129, "two words", "<script>", "é"])
def test_an_insane_request_id_is_replaced_by_a_fresh_one(client: TestClient, sent: str) -> None:
    answer = client.get("/-/health", headers={"X-Request-ID": sent.encode("utf-8")})
    echoed = answer.headers["x-request-id"]
    assert echoed != sent and len(echoed) == 32 and int(echoed, 16) >= 0


def test_each_request_without_an_id_gets_its_own(client: TestClient) -> None:
    ids = {client.get("/api/v1/counts").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_an_unexpected_error_is_logged_and_answered_under_the_requests_id(
    ctx: Context, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_ctx: Context) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(health, "readiness", broken)
    with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
        answer = client.get("/-/ready", headers={"X-Request-ID": "incident-42"})
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "internal_error"
    assert answer.headers["x-request-id"] == "incident-42"
    (record,) = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "incident-42" and line["path"] == "/-/ready" and line["level"] == "error"
    assert "the disk is on fire" in line["exception"]


def test_a_json_log_line_is_one_object_with_time_level_logger_and_message() -> None:
    record = logging.LogRecord("parlour.x", logging.WARNING, __file__, 1, "a\nb %s", ("c",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "a\nb c" and line["level"] == "warning" and line["logger"] == "parlour.x"
    assert line["time"].endswith("Z") and "request_id" not in line
    assert "\n" not in JsonFormatter().format(record)


def test_log_format_and_metrics_port_are_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="PARLOUR_LOG_FORMAT"):
        Settings.from_env({"PARLOUR_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="PARLOUR_METRICS_PORT"):
        Settings.from_env({"PARLOUR_METRICS_PORT": "70000"})
    with pytest.raises(SettingsError, match="PARLOUR_METRICS_PORT"):
        Settings.from_env({"PARLOUR_METRICS_PORT": "8000", "PARLOUR_PORT": "8000"})


# Metrics, in one process


class Flushed:
    """A worker's registry, read after its counts are flushed (as at most a second later)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        self.metrics.flush()
        return self.metrics.registry.get_sample_value(name, labels)

    def collect(self) -> Any:
        self.metrics.flush()
        return self.metrics.registry.collect()


@pytest.fixture
def measured(make_ctx: Any) -> Iterator[tuple[TestClient, Any]]:
    ctx = make_ctx(metrics_port=free_port())
    sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
    app = create_app(context=ctx)
    with TestClient(app, base_url="http://parlour.test") as client:
        yield client, Flushed(app.state.metrics)


def test_latencies_counted_in_bulk_make_the_histogram_observe_would() -> None:
    bulk, direct = Metrics(), Metrics()
    seconds = [0.0004, 0.001, 0.0011, 0.003, 0.02, 0.02, 0.7, 12.0]

    async def answer() -> None:
        for s in seconds:
            bulk.request("/r", "GET", 200, s)
        bulk.flush()

    asyncio.run(answer())
    for s in seconds:
        direct.latency.labels("/r", "GET").observe(s)
    samples = [
        [(x.name, x.labels, x.value) for m in metrics.registry.collect() if m.name.endswith("duration_seconds")
         for x in m.samples if not x.name.endswith("_created")]
        for metrics in (bulk, direct)
    ]  # fmt: skip
    assert samples[0] == samples[1] and samples[0]


def test_requests_are_counted_by_route_template_never_by_raw_path(measured: tuple[TestClient, Any]) -> None:
    client, registry = measured
    for i in range(3):
        client.patch(f"/api/v1/comments/{1000 + i}", json={"body": "x"})
    client.get("/no/such/page")
    client.get("/wp-login.php")
    count = registry.get_sample_value
    labels = {"route": "/api/v1/comments/{comment_id}", "method": "PATCH"}
    assert (
        sum(count("parlour_http_requests_total", {**labels, "status": s}) or 0 for s in ("401", "404", "422"))
        == 3
    )
    assert count("parlour_http_requests_total", {"route": "unmatched", "method": "GET", "status": "404"}) == 2
    assert count("parlour_http_request_duration_seconds_count", labels) == 3
    names = {s.labels.get("route") for m in registry.collect() for s in m.samples}
    assert not any(name and ("1000" in name or "wp-login" in name) for name in names)


def test_hot_reads_count_page_cache_hits_and_misses(measured: tuple[TestClient, Any]) -> None:
    client, registry = measured
    posted = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/p", "body": "hi"},
        headers={"Origin": "https://blog.example"},
    )  # fmt: skip
    assert posted.status_code == 201
    for _ in range(3):
        assert client.get("/api/v1/comments", params={"site": "blog", "thread": "/p"}).status_code == 200
    assert registry.get_sample_value("parlour_page_cache_misses_total") == 1
    assert registry.get_sample_value("parlour_page_cache_hits_total") == 2
    read = {"route": "/api/v1/comments", "method": "GET", "status": "200"}
    assert registry.get_sample_value("parlour_http_requests_total", read) == 3


def test_the_public_app_has_no_metrics(measured: tuple[TestClient, Any]) -> None:
    client, _ = measured
    answer = client.get("/metrics")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_the_outbox_is_counted_with_the_age_of_its_oldest_message(ctx: Context) -> None:
    now = 1_800_000_000_000
    sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
    with ctx.db.write() as tx:
        mail_store.enqueue(tx, "a@example.org", "s", "b", now - 90_000, "<1@x>")
        sent = mail_store.enqueue(tx, "b@example.org", "s", "b", now - 500_000, "<2@x>")
        mail_store.mark_sent(tx, sent, now)
        mail_store.enqueue(tx, "c@example.org", "s", "b", now - 30_000, "<3@x>")
        hook = webhook_store.add_webhook(tx, "blog", "https://hooks.example/x", "whsec_x", None, now)
        webhook_store.enqueue(
            tx, [webhook_store.NewDelivery(hook.id, "msg_1", "comment.created", "{}")], now - 5_000
        )
    found = {
        (m.name, s.labels["queue"]): s.value
        for m in OutboxCollector(lambda: ctx.db, now=lambda: now).collect()
        for s in m.samples
    }
    assert found == {
        ("parlour_outbox_unsent", "mail"): 2,
        ("parlour_outbox_unsent", "webhooks"): 1,
        ("parlour_outbox_oldest_unsent_age_seconds", "mail"): 90,
        ("parlour_outbox_oldest_unsent_age_seconds", "webhooks"): 5,
    }


# Metrics and logs of a real `parlour serve`


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_one_scrape_of_the_metrics_port_sums_every_worker(db_url: str, tmp_path: Path, workers: int) -> None:
    database = served_database(db_url, tmp_path)
    port = free_port()
    scratch = tmp_path / "tmp"  # where serve makes the workers' metrics directory
    scratch.mkdir()
    env = {
        "PARLOUR_METRICS_PORT": str(port), "PARLOUR_LOG_FORMAT": "json", "PARLOUR_ACCESS_LOG": "1",
        "TMPDIR": str(scratch),
    }  # fmt: skip
    errors = tmp_path / "stderr.log"
    with parlour_process(database, tmp_path / "serve.log", workers, env=env, errors=errors) as (base, _):
        ctx = open_context(Settings(database=database, secret="served"))
        sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
        ctx.close()
        for _ in range(20):  # new connections, which the kernel spreads over the workers
            assert (
                httpx.get(base + "/api/v1/counts", params={"site": "blog", "thread": "/a"}).status_code == 200
            )
        assert httpx.get(base + "/metrics").status_code == 404  # never on the public port
        reads = (
            "parlour_http_requests_total",
            (("method", "GET"), ("route", "/api/v1/counts"), ("status", "200")),
        )

        def counted() -> None:
            assert _scrape(port).get(reads) == 20

        within(PUSH_WINDOW * 5, counted)
        scraped = _scrape(port)
        assert scraped[("parlour_outbox_unsent", (("queue", "mail"),))] == 0
        assert scraped[("parlour_outbox_unsent", (("queue", "webhooks"),))] == 0
        assert scraped[("parlour_db_pool_size", ())] > 0
        assert ("parlour_db_pool_checked_out", ()) in scraped
        assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404

        # An open page's event stream is a live listener until it closes.
        opened, done = threading.Event(), threading.Event()

        def listen() -> None:
            params = {"site": "blog", "thread": "/a"}
            with httpx.stream("GET", base + "/api/v1/events", params=params, timeout=30):
                opened.set()
                done.wait(30)

        listener = threading.Thread(target=listen)
        listener.start()
        try:
            assert opened.wait(10)
            within(PUSH_WINDOW * 5, lambda: _listeners_are(port, 1))
        finally:
            done.set()
            listener.join()
        within(PUSH_WINDOW * 5, lambda: _listeners_are(port, 0))

        sent = httpx.get(base + "/-/health", headers={"X-Request-ID": "trace-7f3a"})
        assert sent.headers["x-request-id"] == "trace-7f3a"

        def logged() -> None:
            lines = [json.loads(line) for line in errors.read_text().splitlines()]  # every line is JSON
            mine = [x for x in lines if x.get("request_id") == "trace-7f3a"]
            assert len(mine) == 1
            line = mine[0]
            assert line["logger"] == "parlour.access" and line["status"] == 200
            assert line["route"] == "/-/health" and line["path"] == "/-/health"
            assert {"time", "level", "message"} <= line.keys()

        within(PUSH_WINDOW * 5, logged)
        assert [p.name[:16] for p in scratch.iterdir()] == ["parlour-metrics-"]
    assert list(scratch.iterdir()) == []  # removed when serve stops


def _listeners_are(port: int, n: int) -> None:
    assert _scrape(port)[("parlour_live_listeners", ())] == n
