"""Messages between Parlour's own processes: a pickled value, its length first.

An import does part of its work in a child process on a second core: reading the file
(importers/ahead.py) and planning each thread's tree (services/import_plans.py). Both
talk to the parent through a pipe in these messages: `child_main` is the child's side,
`received` the parent's. Pickle is safe here because both
ends are Parlour's code: a file's contents travel as strings inside records, never as
pickle code.

`send` writes with `os.write` until every byte is out, not through a buffered file: a
write into a full pipe that a stop signal interrupts (Ctrl+Z and `fg`, a profiler
attaching) returns having written part of it, and CPython's buffered writer then lost or
repeated bytes in our runs, which the other side read as a corrupted message
(tests/importers/test_ahead.py stops and continues the child). Like `settings.py`, this
module imports nothing of Parlour's, and any layer may use it.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

_LENGTH = struct.Struct("<Q")  # each message's size in bytes, before it


def send(fd: int, kind: str, payload: Any) -> None:
    """One message, `(kind, payload)`, on the file descriptor `fd`, written whole even
    when a signal cuts a write short."""
    message = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    left = memoryview(_LENGTH.pack(len(message)) + message)
    while left:
        left = left[os.write(fd, left) :]


def receive(stream: IO[bytes]) -> tuple[str, Any] | None:
    """The next whole message as `(kind, payload)`, or None if the stream ends before
    one does (the other side stopped, or was killed in mid-message)."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(header)
    message = stream.read(size)
    if len(message) != size:
        return None
    kind, payload = pickle.loads(message)
    return kind, payload


def crossable(error: BaseException) -> BaseException:
    """`error` if it pickles, else a RuntimeError carrying its words."""
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def received(
    child: subprocess.Popen[bytes], stream: IO[bytes], kind: str, stopped: Callable[[int], Exception]
) -> Iterator[Any]:
    """The payloads of the `kind` messages a child process sends on `stream`, until it
    says "done" (it is then waited for). Its "error" is raised here as it was raised
    there; a child that stops without a word, or in mid-message, raises `stopped(its
    exit code)`: never a short answer."""
    while True:
        message = receive(stream)
        if message is None:
            raise stopped(child.wait())
        got, payload = message
        if got == kind:
            yield payload
        elif got == "error":
            raise payload
        else:
            child.wait()
            return


def child_main(work: Callable[[int], None]) -> int:
    """A child process's whole life: `work(fd)` sends its messages on standard output's
    descriptor, then "done"; an error it raises is sent as "error" for the parent to
    raise. Nothing printed by mistake may corrupt the stream: `print` goes to stderr.
    Returns the exit status."""
    out = sys.stdout.fileno()
    sys.stdout.flush()
    sys.stdout = sys.stderr
    try:
        work(out)
        send(out, "done", None)
    except KeyboardInterrupt:  # the terminal's Ctrl+C reaches both processes; the parent reports it
        return 130
    except BrokenPipeError:  # the parent stopped reading: it is gone or has given up
        return 1
    except Exception as error:
        try:
            send(out, "error", crossable(error))
        except BrokenPipeError:
            return 1
    return 0
