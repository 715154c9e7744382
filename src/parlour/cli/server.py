"""The process `parlour serve` becomes once the database is ready: granian, and no more.

`parlour serve` migrates and prints its welcome with the whole CLI loaded (Alembic,
every service), then replaces itself with this module (`os.execv`, same PID) so that
none of that stays in memory: granian forks its workers from this lean process, and
each worker loads the application itself (`parlour.app:create_app`). The settings come
from the environment, where `serve` put them.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    from parlour.settings import Settings

    settings = Settings.from_env()
    Granian(
        "parlour.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        log_level=LogLevels(settings.log_level.lower()),
        log_access="--access-log" in argv,
        respawn_failed_workers=True,
        # Open pages keep event streams (/api/v1/events) open; a restart does not wait
        # for them longer than this. Browsers reconnect by themselves.
        workers_kill_timeout=5,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
