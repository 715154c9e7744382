"""Reading a file in a second process while this one stores what it read.

An import's reading phase is two halves of about equal cost: the format's `read`
(parsing, HTML to Markdown) and the runner's checks, rendering and staging
(`services/importing.py`). `read_ahead` runs the first half in a child process, so that
on a machine with two cores they overlap (bench/README.md has the figures). The child
is a fresh interpreter (`python -P -m parlour.importers.ahead`), not a fork: it inherits
none of this process's threads, database connections or progress bar, and loads only
the format's module.

Records come back as batches on the child's stdout (`parlour.pipes` messages). The
pipe holds a batch or two, so the child waits while this side catches up and memory
stays bounded whatever the file's size. An error the reader raises (a `bad_file` naming
the line) is raised here as it was raised there; a child that dies without a word, or in
the middle of a message, is an error too, never a short import.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from parlour import pipes
from parlour.domain.imports import Record

BATCH = 500  # records a message: large enough that pickling is cheap, small enough to stream


class ReaderStopped(Exception):
    """The reading process ended without finishing or saying why (killed, out of memory)."""


@contextmanager
def read_ahead(name: str, path: Path) -> Iterator[Iterator[Record]]:
    """The records of `path` in format `name`, read by a child process started now.

    The child starts at once, so it reads while the caller is still getting ready; the
    records come in the order `read` yields them. Leaving the block stops the child,
    whether or not every record was taken.
    """
    child = subprocess.Popen(
        # -P: not the working directory on sys.path (`-m` puts it first), as for `serve`.
        [sys.executable, "-P", "-m", "parlour.importers.ahead", name, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        yield _received(child, child.stdout, name)
    finally:
        if child.poll() is None:  # stopped early: the caller failed, or took only some
            child.kill()
        child.stdout.close()
        child.wait()


def _received(child: subprocess.Popen[bytes], stream: IO[bytes], name: str) -> Iterator[Record]:
    def stopped(code: int) -> ReaderStopped:
        return ReaderStopped(f"the {name} reader stopped before the end of the file (exit code {code})")

    for batch in pipes.received(child, stream, "records", stopped):
        yield from batch


def _main(argv: list[str]) -> int:
    """The child: read the file, write its records to stdout in batches."""
    from parlour.importers import reader

    name, path = argv

    def work(out: int) -> None:
        batch: list[Record] = []
        for record in reader(name)(Path(path)):
            batch.append(record)
            if len(batch) == BATCH:
                pipes.send(out, "records", batch)
                batch = []
        if batch:
            pipes.send(out, "records", batch)

    return pipes.child_main(work)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
