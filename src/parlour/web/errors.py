"""The one error envelope: `{"error": {"code", "message", "details"}}` for every JSON error.

Services raise `ParlourError`s that know their code and kind; only here does a kind
become an HTTP status.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from parlour.domain.errors import Kind, ParlourError
from parlour.services.logs import REQUEST

log = logging.getLogger("parlour.web")

STATUS: dict[Kind, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unsupported": 415,
    "invalid": 422,
    "rate_limited": 429,
    "unavailable": 503,
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
# What FastAPI says of a JSON body it could not decode at all (json.loads raised other
# than a syntax error: bytes that are not UTF-8, nesting past the recursion limit).
_UNPARSED = "There was an error parsing the body"


def status_of(exc: ParlourError) -> int:
    """The HTTP status of an error: the one place a kind becomes a status."""
    return STATUS[exc.kind]


def error_for(exc: ParlourError) -> Response:
    """The envelope of a ParlourError, with its status."""
    return error_response(status_of(exc), exc.code(), exc.message, exc.details)


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    headers = {"Cache-Control": "no-store"}
    if status == 429:
        headers["Retry-After"] = str((details or {}).get("retry_after", 60))
    try:
        content = orjson.dumps(body)
    except orjson.JSONEncodeError:  # a lone surrogate the request sent, echoed in the message
        content = orjson.dumps(_encodable(body))
    return Response(content, status_code=status, media_type="application/json", headers=headers)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any) -> Any:
    """`value` with every string made valid UTF-8 (a lone surrogate becomes U+FFFD)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return value


async def parlour_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParlourError)
    return error_for(exc)


async def validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    fields = [{"field": _field_name(p.get("loc", ())), "problem": p.get("msg", "")} for p in problems]
    names = ", ".join(f["field"] for f in fields if f["field"]) or "the request"
    return error_response(422, "invalid_request", f"Check these fields: {names}.", {"fields": fields})


def _field_name(loc: Any) -> str:
    """`("body", "author_name")` -> `author_name`; `("path", "comment_id")` -> `comment_id`."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        without_slash = _without_trailing_slash(request)
        if without_slash is not None:
            return Response(status_code=307, headers={"Location": without_slash, "Cache-Control": "no-store"})
    if exc.status_code == 400 and exc.detail == _UNPARSED:  # FastAPI's: not UTF-8, or too deep
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = "There is nothing at this address." if exc.status_code == 404 else str(exc.detail)
    response = error_response(exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _without_trailing_slash(request: Request) -> str | None:
    """Where `/feeds/blog.atom/` is, if it is somewhere: the same path without its last
    slash, as a path of this server alone, written as the client sent it (still
    percent-encoded). Starlette's own redirect wrote the address from the request's Host
    header, which a client chooses; app.py turns it off."""
    path = request.url.path
    if request.method not in ("GET", "HEAD") or not path.endswith("/") or path == "/":
        return None
    scope = {**request.scope, "path": path[:-1]}
    if not any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
        return None
    raw: bytes = request.scope.get("raw_path") or path.encode()
    sent = raw.decode("latin-1")
    if not sent.endswith("/"):  # a last "%2F": not a slash to take off
        return None
    target = sent[:-1]
    if target.startswith("//") or "\\" in target or not target.startswith("/"):
        return None  # a browser would read another host
    query = request.scope.get("query_string", b"").decode("latin-1")
    return target + (f"?{query}" if query else "")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    response = error_response(500, "internal_error", "Something went wrong on our side; the error is logged.")
    current = REQUEST.get()
    if current is not None:  # answered outside web/observe.py, which echoes the id otherwise
        response.headers["X-Request-ID"] = current[0]
    return response


HANDLERS: dict[Any, Any] = {
    ParlourError: parlour_error,
    RequestValidationError: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
