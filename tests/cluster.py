"""Several `parlour serve` instances on one database behind Debian's nginx, for the tests
of running Parlour for real (tests/test_cluster.py, tests/test_upgrading.py).

The nginx site is the shipped recipe, deploy/nginx/parlour.conf, rendered with the
test's ports: its upstream's `server` lines become the instances', its `listen` line
the test's. nginx runs unprivileged with its pid, temp files and logs in a directory of
the test's.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

from servers import free_port, wait_until_up

NGINX = "/usr/sbin/nginx"
RECIPE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "parlour.conf"
_UPSTREAM_SERVER = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+( [^;]*)?;\n", re.MULTILINE)
_UPSTREAM = re.compile(r"^upstream [\w-]+ \{\n.*?^\}\n", re.MULTILINE | re.DOTALL)
_LISTEN = re.compile(r"^(\s*)listen (\[::\]:)?80;\n", re.MULTILINE)


class Instance:
    """One `parlour serve` process (one granian worker) on a port of its own, which it
    keeps across restarts, in a process group of its own (`kill`)."""

    def __init__(self, name: str, database: str, env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.database = database
        self.env = env
        self.logs = logs
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "parlour", "serve", "--port", str(self.port), "--workers", "1"]
        log = self.logs / f"{self.name}.{self.starts}.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, "--database", self.database], env={**os.environ, **self.env},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.log = log

    def wait_ready(self) -> None:
        assert self.process is not None
        wait_until_up(self.base + "/-/health", self.process, self.log)

    def stop(self) -> None:
        """SIGTERM, as systemd or a container engine stops it, and wait for it to end."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """kill -9 the server and its workers at once, as a crash or the OOM killer would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)


def render_site(recipe: str, upstreams: list[int], listen: int) -> str:
    """The recipe with the test's instances in each of its upstreams and the test's port
    to listen on. Everything else stays as shipped."""

    def instances(block: re.Match[str]) -> str:
        servers = _UPSTREAM_SERVER.findall(block.group(0))
        assert servers, "an upstream of the recipe lists no `server 127.0.0.1:PORT` line"
        indent, options = servers[0]
        lines = "".join(f"{indent}server 127.0.0.1:{port}{options};\n" for port in upstreams)
        body = _UPSTREAM_SERVER.sub("", block.group(0), count=len(servers) - 1)
        return _UPSTREAM_SERVER.sub(lines, body, count=1)

    site, blocks = _UPSTREAM.subn(instances, recipe)
    assert blocks, "the recipe has no upstream"
    assert len(_LISTEN.findall(site)) == 2, "the recipe listens on port 80, IPv4 and IPv6"
    site = _LISTEN.sub(lambda m: "" if m.group(2) else f"{m.group(1)}listen 127.0.0.1:{listen};\n", site)
    return site


def nginx_main(directory: Path, site: Path) -> str:
    """A main configuration like Debian's, unprivileged: the site included in `http`,
    and the connections raised as the recipe's header says."""
    d = directory
    return f"""daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 16384; }}
http {{
    log_format upstream '$status $request_method $request_uri -> $upstream_addr $upstream_status';
    access_log {d}/access.log upstream;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {site};
}}
"""


def nginx_test(directory: Path, site_text: str) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a site, inside the unprivileged main configuration."""
    directory.mkdir(parents=True, exist_ok=True)
    site = directory / "parlour.conf"
    site.write_text(site_text)
    (directory / "nginx.conf").write_text(nginx_main(directory, site))
    return subprocess.run(
        [NGINX, "-t", "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(directory / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@contextmanager
def running_nginx(directory: Path, upstreams: list[int]) -> Iterator[str]:
    """Debian's nginx on the rendered recipe; yields its base URL."""
    port = free_port()
    checked = nginx_test(directory, render_site(RECIPE.read_text(), upstreams, port))
    assert checked.returncode == 0, checked.stderr
    conf = directory / "nginx.conf"
    with (directory / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            [NGINX, "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(conf)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/-/health", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, (directory / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
