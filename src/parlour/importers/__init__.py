"""Importers: one module per format, each turning a file into `domain.imports` records.

A format's module has one function, `read(path: Path) -> Iterator[Record]`, that streams
the file (memory must not grow with it) and raises `domain.imports.bad_file(...)` naming
the line when the file is not what it should be. It never touches the database:
`services/importing.py` stores what it yields. `paste` and `parlour` are formats too.
Modules are loaded on first use, so the CLI pays only for the format it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

from parlour.domain.imports import Record

Reader = Callable[[Path], Iterator[Record]]

FORMATS: dict[str, str] = {
    "disqus": "Disqus XML export",
    "wordpress": "WordPress export (WXR)",
    "isso": "Isso SQLite database",
    "remark42": "Remark42 backup (JSON lines)",
    "commento": "Commento / Comentario JSON export",
    "substack": "Substack comments JSON (a file, a folder or a zip of them)",
    "parlour": "Parlour's own export (JSON lines)",
    "paste": "A comment section copied from a page (plain text), for review in the desk",
}


def reader(name: str) -> Reader:
    """The `read` function of the format called `name` (one of FORMATS)."""
    if name not in FORMATS:
        raise KeyError(name)
    module = importlib.import_module(f"parlour.importers.{name}")
    read: Reader = module.read
    return read
