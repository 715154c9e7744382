"""Tokens and keyed hashes: edit tokens, reader identities, writer tokens, address hashes.

Edit and reader tokens are signed, not stored: the server can check them without a
lookup, and a database dump does not leak them. Writer tokens are random and only
their SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    """HMAC-SHA256 under the instance secret, with a purpose string per use."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def sign(self, purpose: str, message: str, length: int = 24) -> str:
        mac = hmac.new(self._key, f"{purpose}\x00{message}".encode(), hashlib.sha256).digest()
        return _b64(mac[:length])

    def ip_hash(self, address: str) -> str:
        """A keyed hash of a client address: comparable, not reversible."""
        return self.sign("ip", address, 16)

    def edit_token(self, comment_id: int, created_at: int, author_key: str) -> str:
        return f"e1.{comment_id}.{self.sign('edit', f'{comment_id}:{created_at}:{author_key}')}"

    def check_edit_token(self, token: str, comment_id: int, created_at: int, author_key: str) -> bool:
        expected = self.edit_token(comment_id, created_at, author_key)
        return token.isascii() and hmac.compare_digest(token, expected)

    def new_reader_token(self) -> tuple[str, str]:
        """(reader id, the token the browser keeps for it)."""
        reader_id = _b64(secrets.token_bytes(12))
        return reader_id, f"r1.{reader_id}.{self.sign('reader', reader_id)}"

    def reader_id(self, token: str) -> str | None:
        """The reader id inside a token, or None when the token is not one we signed."""
        parts = token.split(".")
        if not token.isascii() or len(parts) != 3 or parts[0] != "r1" or not parts[1]:
            return None
        if not hmac.compare_digest(parts[2], self.sign("reader", parts[1])):
            return None
        return parts[1]


def new_writer_token() -> str:
    return "pw_" + _b64(secrets.token_bytes(24))


def hash_writer_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def content_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()
