"""A static file as it is served: scripts without the lines that only hold a comment.

The widget's scripts are written to be read, with a comment wherever the intent is not
obvious; those words cost every reader's download (a sixth of embed.js gzipped). Only
whole `//` lines go: a `//` after code may be inside a string ("https://..."). A `//`
line inside a multi-line template string would go too: the scripts have none, and the
browser tests run the served scripts. Imports nothing, so bench/widget-size measures
the same bytes.
"""

from __future__ import annotations


def served(name: str, body: bytes) -> bytes:
    """The bytes served for the static file `name` (vendored files are served as they are)."""
    if not name.endswith(".js") or name.startswith("vendor/"):
        return body
    return b"".join(line for line in body.splitlines(keepends=True) if not line.lstrip().startswith(b"//"))
