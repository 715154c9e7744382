"""How Parlour writes its log: lines for people (`text`), or one JSON object a line
(`json`, PARLOUR_LOG_FORMAT) carrying the id of the request being handled.

The request's id, method and path live in a context variable set by the web edge
(web/observe.py) when a request comes in; every record logged while that request is
handled (in the event loop or in a worker thread, which copies the context) takes them
as it is made (`_with_request`), whenever and wherever it is formatted later. Granian's
own lines go through the same formatter (`granian_config`).
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

from parlour.settings import Settings

REQUEST: ContextVar[tuple[str, str, str] | None] = ContextVar("parlour_request", default=None)
"""(request id, method, path) of the request being handled, if any."""

ACCESS = "parlour.access"  # the logger of the access lines (one per request, PARLOUR_ACCESS_LOG)

# What LogRecord carries on its own; anything else in `record.__dict__` came as `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the request's
    fields while one is handled, anything passed as `extra=`, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


_make_record = logging.getLogRecordFactory()


def _with_request(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """A log record, with the fields of the request being handled, if any."""
    record = _make_record(*args, **kwargs)
    request = REQUEST.get()
    if request is not None:
        record.request_id, record.method, record.path = request
    return record


def configure(settings: Settings) -> None:
    """Set up this process's log unless it has been already (by granian, or a test runner);
    records carry the request's fields either way."""
    if logging.getLogRecordFactory() is not _with_request:
        logging.setLogRecordFactory(_with_request)
    root = logging.getLogger()
    if root.handlers:
        return
    if settings.log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(settings.log_level.upper())
    else:
        logging.basicConfig(level=settings.log_level.upper())


def early_warning(settings: Settings, logger: str, message: str) -> None:
    """Write one warning on standard error before any log is set up (the server's main
    process, before granian's), in the format the log will have: a JSON object, or
    granian's `[LEVEL] message` text."""
    record = logging.LogRecord(logger, logging.WARNING, __file__, 0, message, None, None)
    formatter = (
        JsonFormatter() if settings.log_format == "json" else logging.Formatter("[%(levelname)s] %(message)s")
    )
    print(formatter.format(record), file=sys.stderr, flush=True)


def granian_config(settings: Settings) -> dict[str, Any] | None:
    """Granian's logging configuration (a dictConfig) for JSON lines, all on standard error;
    None keeps granian's own text lines."""
    if settings.log_format != "json":
        return None
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "_granian": {"handlers": ["stderr"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
