"""A server's stop signals (SIGTERM, SIGINT): what a worker does when told to stop.

Two things granian does not do by itself. A worker ends its open pages' event streams as
soon as it is told (`end_streams_when_told_to_stop`), and a worker told to stop while it
is still starting stops once started rather than serving on (`hold_stop_signals`).

This is process state, as signal handlers are: `hold_stop_signals` runs in each worker
just after the fork (`parlour serve` registers it), and the app's lifespan acts on what
it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `parlour serve`'s lean main process imports this module
    from parlour.services.live import LiveFeed

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# The stop signals a worker received before the server's handlers were in place.
_held: list[int] = []
_holding = False


def hold_stop_signals() -> None:
    """In a worker just forked: keep the stop signals that come before the server has set
    its own handlers, to be acted on once it has (`end_streams_when_told_to_stop`).

    A forked worker starts with its main process's handlers, which in a worker only mark
    the main process's copy of itself as stopping. Told to stop while it imported the app
    (a rolling restart right after a start, systemd stopping a server that just started),
    a worker went on starting, served, and was killed 5 s later with the requests in hand.
    """
    global _holding
    _held.clear()
    _holding = True
    for sig in STOP_SIGNALS:
        signal.signal(sig, _hold)


def _hold(signum: int, _frame: FrameType | None) -> None:
    _held.append(signum)


def end_streams_when_told_to_stop(live: LiveFeed) -> Callable[[], None]:
    """End the open pages' event streams as soon as the server is told to stop (SIGTERM,
    SIGINT), then let its own handler go on. Granian finishes the requests in hand before
    a worker stops, and a stream never finishes by itself: with pages open, every stop
    waited the 5 s of cli/server.py and the worker was killed without its shutdown (the
    outbox's workers and the database pools left as they were). A stop signal held since
    the fork (`hold_stop_signals`) is delivered again now, to the server's handler.

    Returns what puts the handlers back. Only where the server's handlers are Python's, in
    the main thread; elsewhere (a test client's thread) nothing is changed."""
    global _holding
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Callable[[int, FrameType | None], object]] = {}

    def told_to_stop(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed already
            loop.call_soon_threadsafe(live.end_streams)
        previous[signum](signum, frame)

    for sig in STOP_SIGNALS:
        handler = signal.getsignal(sig)
        if handler is _hold:  # a server that set none: the default (stop at once) again
            signal.signal(sig, signal.SIG_DFL)
        elif callable(handler):  # the server's (granian's is its loop's); never the default
            previous[sig] = handler
            signal.signal(sig, told_to_stop)
    if _holding:
        _holding = False
        held = list(dict.fromkeys(_held))
        _held.clear()
        for signum in held:
            signal.raise_signal(signum)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is told_to_stop:
                signal.signal(sig, handler)

    return restore
