"""Reading a file in a second process while this one stores what it read.

An import's reading phase is two halves of about equal cost: the format's `read`
(parsing, HTML to Markdown) and the runner's checks, rendering and staging
(`services/importing.py`). `read_ahead` runs the first half in a child process, so that
on a machine with two cores they overlap (bench/README.md has the figures). The child
is a fresh interpreter (`python -P -m parlour.importers.ahead`), not a fork: it inherits
none of this process's threads, database connections or progress bar, and loads only
the format's module.

Records come back as pickled batches on the child's stdout, each message its length
then its bytes. The pipe holds a batch or two, so the child waits while this side
catches up and memory stays bounded whatever the file's size. Pickle is safe here
because both ends are this module: the file's contents travel as strings inside
records, never as pickle code. An error the reader raises (a `bad_file` naming the
line) is raised here as it was raised there; a child that dies without a word, or in
the middle of a message, is an error too, never a short import.

The child writes with `os.write` until every byte is out, not through
`sys.stdout.buffer`: a write into a full pipe that a stop signal interrupts (Ctrl+Z and
`fg`, a profiler attaching) returns having written part of it, and CPython's buffered
writer then lost or repeated bytes in our runs, which the other side read as a
corrupted message (tests/importers/test_ahead.py stops and continues the child).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from parlour.domain.imports import Record

BATCH = 500  # records a message: large enough that pickling is cheap, small enough to stream
_LENGTH = struct.Struct("<Q")  # each message's size in bytes, before it


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
    while True:
        message = _message(stream)
        if message is None:  # ended, or killed in mid-message
            code = child.wait()
            raise ReaderStopped(f"the {name} reader stopped before the end of the file (exit code {code})")
        kind, payload = pickle.loads(message)
        if kind == "records":
            yield from payload
        elif kind == "error":
            raise payload
        else:
            return


def _message(stream: IO[bytes]) -> bytes | None:
    """The next whole message, or None if the stream ends before one does."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(header)
    message = stream.read(size)
    return message if len(message) == size else None


def _send(fd: int, kind: str, payload: Any) -> None:
    """One message on `fd`, written whole even when a signal cuts a write short."""
    message = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    left = memoryview(_LENGTH.pack(len(message)) + message)
    while left:
        left = left[os.write(fd, left) :]


def _main(argv: list[str]) -> int:
    """The child: read the file, write its records to stdout in batches."""
    from parlour.importers import reader

    name, path = argv
    out = sys.stdout.fileno()
    sys.stdout.flush()
    sys.stdout = sys.stderr  # nothing printed by mistake may corrupt the stream
    batch: list[Record] = []
    try:
        for record in reader(name)(Path(path)):
            batch.append(record)
            if len(batch) == BATCH:
                _send(out, "records", batch)
                batch = []
        if batch:
            _send(out, "records", batch)
        _send(out, "done", None)
    except KeyboardInterrupt:  # the terminal's Ctrl+C reaches both processes; the parent reports it
        return 130
    except BrokenPipeError:  # the parent stopped reading: it is gone or has given up
        return 1
    except Exception as error:
        try:
            pickle.dumps(error)
        except Exception:  # an error that cannot cross: its words can
            error = RuntimeError(f"{type(error).__name__}: {error}")
        try:
            _send(out, "error", error)
        except BrokenPipeError:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
