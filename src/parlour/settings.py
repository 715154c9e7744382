"""Instance settings: one typed object, read from the environment (`PARLOUR_*`).

Per-site settings live in the database and content is content; this module is only
about how this server process runs. Every field is documented in docs/configuration.md
(a test checks that), and bad values fail loudly at start.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_DATABASE = "sqlite:///parlour.db"


class SettingsError(ValueError):
    """A setting has a value Parlour cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """How this Parlour instance runs. Field `x` is read from `PARLOUR_X`."""

    database: str = field(
        default=DEFAULT_DATABASE, metadata={"doc": "Database URL: sqlite:///FILE or postgresql://..."}
    )
    host: str = field(default="127.0.0.1", metadata={"doc": "Address `parlour serve` listens on."})
    port: int = field(default=8000, metadata={"doc": "Port `parlour serve` listens on."})
    workers: int = field(default=1, metadata={"doc": "Server processes started by `parlour serve`."})
    worker_requests: int = field(
        default=10_000,
        metadata={
            "doc": "Requests one server process holds at once, each open page's event stream among "
            "them (about 39 KiB each); more wait for one to end."
        },
    )
    cpu_scheduling: str = field(
        default="batch",
        metadata={
            "doc": "How Linux schedules `parlour serve`'s processes: `batch` (a woken one lets the "
            "running one finish its turn, so requests are taken in runs) or `normal`."
        },
    )
    public_url: str = field(
        default="",
        metadata={
            "doc": "The URL readers reach Parlour at. Every absolute link Parlour makes (sign-in mails, "
            "snippets, feeds) is built from it, never from a request's Host; sign-in links need it."
        },
    )
    secret: str = field(
        default="",
        metadata={
            "doc": "Key for signing reader and edit tokens; generated and kept in the database if unset."
        },
    )
    edit_window: int = field(default=900, metadata={"doc": "Seconds a reader may edit or delete a comment."})
    body_max: int = field(default=10_000, metadata={"doc": "Longest comment body, in characters."})
    name_max: int = field(default=80, metadata={"doc": "Longest author name, in characters."})
    email_max: int = field(default=254, metadata={"doc": "Longest author email, in characters."})
    thread_key_max: int = field(
        default=500, metadata={"doc": "Longest thread key (page path), in characters."}
    )
    request_max_bytes: int = field(
        default=65_536, metadata={"doc": "Largest request body accepted, in bytes."}
    )
    page_size: int = field(
        default=50, metadata={"doc": "Top-level comments per page when `limit` is not given."}
    )
    page_max: int = field(default=500, metadata={"doc": "Largest `limit` a client may ask for."})
    replies_size: int = field(
        default=50, metadata={"doc": "Replies sent under each top-level comment by default."}
    )
    replies_max: int = field(default=500, metadata={"doc": "Largest `replies_limit` a client may ask for."})
    dedupe_window: int = field(
        default=300, metadata={"doc": "Seconds in which the same text by the same author is one comment."}
    )
    comment_rate_limit: int = field(
        default=10, metadata={"doc": "Comments per minute from one address (0 turns the limit off)."}
    )
    preview_rate_limit: int = field(
        default=60,
        metadata={
            "doc": "Previews per minute from one address, counted by every instance together (0 turns it off)."
        },
    )
    reader_rate_limit: int = field(
        default=30, metadata={"doc": "Reader identities issued per hour to one address (0 turns it off)."}
    )
    mail_rate_limit: int = field(
        default=20,
        metadata={
            "doc": "Messages sent to one email address per hour (0 turns it off); more wait for the "
            "next hour, none is dropped."
        },
    )
    digest_hour: int = field(
        default=7,
        metadata={
            "doc": "The hour (0-23, UTC) after which the writer's daily digest and, on Mondays, her "
            "weekly mail of unanswered comments go out."
        },
    )
    cache_max_bytes: int = field(
        default=64 * 1024 * 1024, metadata={"doc": "Memory for rendered thread pages, per process."}
    )
    live_poll_ms: int = field(
        default=1000,
        metadata={"doc": "How often each process looks for new comments to push to open pages (ms)."},
    )
    smtp_url: str = field(
        default="",
        metadata={
            "doc": "Mail server for sign-in links and notifications, smtp://USER:PASS@HOST:PORT "
            "(STARTTLS when offered; ?starttls=required insists), or smtps:// for TLS from the start; "
            "empty: mail is written to the log instead."
        },
    )
    mail_from: str = field(
        default="Parlour <parlour@localhost>", metadata={"doc": "Sender of Parlour's mail."}
    )
    session_days: int = field(default=30, metadata={"doc": "Days a desk sign-in lasts."})
    sign_in_rate_limit: int = field(
        default=10,
        metadata={
            "doc": "Failed sign-ins per account in 15 minutes before it waits (three times as many per "
            "address; 0 turns the limit off)."
        },
    )
    trust_proxy: bool = field(
        default=False,
        metadata={
            "doc": "Take the client address from X-Forwarded-For (and the scheme from X-Forwarded-Proto), "
            "but only from a proxy in PARLOUR_TRUSTED_PROXIES."
        },
    )
    trusted_proxies: str = field(
        default="127.0.0.1/32, ::1/128",
        metadata={
            "doc": "With PARLOUR_TRUST_PROXY: the proxies' networks (CIDRs, separated by commas or spaces). "
            "Anyone else's X-Forwarded-* headers are ignored."
        },
    )
    log_level: str = field(default="info", metadata={"doc": "Log level: debug, info, warning, error."})
    log_format: str = field(
        default="text",
        metadata={"doc": "text (lines for people) or json (one JSON object a line, with the request's id)."},
    )
    access_log: bool = field(
        default=False, metadata={"doc": "Log a line for every request (`parlour serve --access-log`)."}
    )
    metrics_port: int = field(
        default=0,
        metadata={
            "doc": "Port of the Prometheus /metrics endpoint, served by `parlour serve` apart from the "
            "public port (0: no metrics)."
        },
    )
    metrics_host: str = field(
        default="127.0.0.1", metadata={"doc": "Address the /metrics endpoint listens on."}
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `PARLOUR_*` variables (and `PARLOUR_*_FILE` for secrets), then apply overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = "PARLOUR_" + f.name.upper()
            raw = env.get(name)
            file_name = env.get(name + "_FILE")
            if raw is None and file_name:
                try:
                    raw = Path(file_name).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise SettingsError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from exc
            if raw is not None:
                values[f.name] = _parse(name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Fail loudly on values no instance can run with."""
        positive = [
            "port", "workers", "worker_requests", "edit_window", "body_max", "name_max", "email_max",
            "thread_key_max", "request_max_bytes", "page_size", "page_max", "replies_size", "replies_max",
            "live_poll_ms", "session_days",
        ]  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"PARLOUR_{name.upper()} must be a positive number")
        for name in [
            "dedupe_window", "comment_rate_limit", "reader_rate_limit", "preview_rate_limit", "cache_max_bytes", "sign_in_rate_limit",
            "mail_rate_limit",
        ]:  # fmt: skip
            if getattr(self, name) < 0:
                raise SettingsError(f"PARLOUR_{name.upper()} must not be negative")
        for name, column in [("name_max", 200), ("email_max", 320), ("thread_key_max", 500)]:
            if getattr(self, name) > column:
                raise SettingsError(
                    f"PARLOUR_{name.upper()} can be at most {column} (the database column's size)"
                )
        if not 0 <= self.digest_hour <= 23:
            raise SettingsError("PARLOUR_DIGEST_HOUR must be an hour of the day, 0 to 23 (UTC)")
        if self.page_size > self.page_max:
            raise SettingsError("PARLOUR_PAGE_SIZE must not exceed PARLOUR_PAGE_MAX")
        if self.replies_size > self.replies_max:
            raise SettingsError("PARLOUR_REPLIES_SIZE must not exceed PARLOUR_REPLIES_MAX")
        if not self.database.split(":", 1)[0].startswith(("sqlite", "postgres")):
            raise SettingsError("PARLOUR_DATABASE must be a sqlite:/// or postgresql:// URL")
        if self.database.startswith("sqlite") and (
            ":memory:" in self.database or self.database.rstrip("/") == "sqlite:"
        ):
            raise SettingsError(
                "PARLOUR_DATABASE must name a SQLite file: an in-memory database is not shared"
            )
        if any(c in self.mail_from for c in "\r\n"):
            raise SettingsError("PARLOUR_MAIL_FROM must be one line")
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise SettingsError("PARLOUR_SMTP_URL must be an smtp:// or smtps:// URL")
        query = urlsplit(self.smtp_url).query if self.smtp_url else ""
        if query and (query != "starttls=required" or self.smtp_url.startswith("smtps://")):
            raise SettingsError(
                "PARLOUR_SMTP_URL takes one option, ?starttls=required, and only with smtp:// "
                "(smtps:// is TLS from the start)"
            )
        try:
            self.proxy_networks()
        except ValueError as exc:
            raise SettingsError(
                f"PARLOUR_TRUSTED_PROXIES must be a list of networks (CIDRs): {exc}"
            ) from None
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise SettingsError("PARLOUR_LOG_LEVEL must be debug, info, warning or error")
        if self.cpu_scheduling not in {"batch", "normal"}:
            raise SettingsError("PARLOUR_CPU_SCHEDULING must be batch or normal")
        if self.log_format not in {"text", "json"}:
            raise SettingsError("PARLOUR_LOG_FORMAT must be text or json")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError("PARLOUR_METRICS_PORT must be a port number, or 0 for no metrics")
        if self.metrics_port and self.metrics_port == self.port:
            raise SettingsError(
                "PARLOUR_METRICS_PORT must differ from PARLOUR_PORT: metrics are never public"
            )

    def proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """PARLOUR_TRUSTED_PROXIES, parsed."""
        return _networks(self.trusted_proxies)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated again."""
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def to_env(self) -> dict[str, str]:
        """These settings as `PARLOUR_*` variables, for worker processes."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out["PARLOUR_" + f.name.upper()] = (
                ("1" if value else "0") if isinstance(value, bool) else str(value)
            )
        return out


def _parse(name: str, kind: Any, raw: str) -> Any:
    if kind in (int, "int"):
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if kind in (bool, "bool"):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(f"{name} must be true or false, not {raw!r}")
    return raw


def documented_settings() -> list[tuple[str, str, Any]]:
    """(variable, description, default) for every setting, for docs and `parlour check`."""
    return [("PARLOUR_" + f.name.upper(), f.metadata.get("doc", ""), f.default) for f in fields(Settings)]


@lru_cache(maxsize=8)
def _networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(part, strict=False) for part in text.replace(",", " ").split())
