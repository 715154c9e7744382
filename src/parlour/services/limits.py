"""Limits counted in memory, for actions that store nothing to count (previews)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

WINDOW_MS = 60_000
MAX_KEYS = 10_000  # addresses remembered; the least recently seen are forgotten first


class SlidingWindow:
    """At most `limit` actions per key in any minute, in this process."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, deque[int]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, limit: int, now: int) -> bool:
        with self._lock:
            times = self._seen.pop(key, None) or deque()
            while times and times[0] <= now - WINDOW_MS:
                times.popleft()
            allowed = len(times) < limit
            if allowed:
                times.append(now)
            self._seen[key] = times
            while len(self._seen) > MAX_KEYS:
                self._seen.popitem(last=False)
            return allowed
