"""The recipes in deploy/, run: the systemd units verified and their sandbox served in,
Caddy in front of real instances, the compose file where a container engine works."""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import orjson
import pytest

from desk_helpers import PASSWORD
from factories import PUSH_WINDOW, within
from parlour.services import accounts, sites
from parlour.services.context import open_context
from parlour.settings import Settings
from parlour.store import Database, migrate
from servers import free_port, parlour_process, served_database, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PARLOUR = Path(sys.executable).with_name("parlour")  # this checkout's, for the units' ExecStart
BLOG = "https://blog.example"


def prepare_site(database: str, secret: str = "served") -> None:
    """The blog's site and its writer's account, on a migrated database."""
    db = Database(database)
    migrate.upgrade(db)
    db.dispose()
    ctx = open_context(Settings(database=database, secret=secret))
    try:
        sites.create_site(ctx, "blog", "Blog", "Wren", [BLOG])
        accounts.create_user(ctx, "wren@blog.example", PASSWORD, is_owner=True)
    finally:
        ctx.close()


# systemd


def unit_for_this_box(name: str, tmp_path: Path) -> Path:
    """A copy of deploy/systemd/NAME whose ExecStart is this checkout's `parlour` (verify
    wants the binary to exist); a template as its instance for port 8001."""
    text = (DEPLOY / "systemd" / name).read_text().replace("/opt/parlour/bin/parlour", str(PARLOUR))
    copy = tmp_path / name.replace("@.", "@8001.")
    copy.write_text(text)
    return copy


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", ["parlour.service", "parlour@.service"])
def test_the_systemd_unit_verifies_without_a_warning(name: str, tmp_path: Path) -> None:
    unit = unit_for_this_box(name, tmp_path)
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    about_the_unit = [line for line in (run.stdout + run.stderr).splitlines() if unit.name in line]
    assert run.returncode == 0, run.stderr
    assert about_the_unit == []


def test_the_instance_template_is_the_unit_with_a_port() -> None:
    """parlour@.service differs from parlour.service in its name and port only, so the
    hardening of the two cannot drift apart."""

    def settings(name: str) -> list[str]:
        lines = (DEPLOY / "systemd" / name).read_text().splitlines()
        return [line for line in lines if line and not line.startswith("#")]

    single, template = settings("parlour.service"), settings("parlour@.service")
    assert [line for line in template if line not in single] == [
        "Description=Parlour comment server on port %i",
        "ExecStart=/opt/parlour/bin/parlour serve --port %i",
    ]
    assert len(single) == len(template)


def can_sandbox() -> str | None:
    """Why tests/sandbox.py cannot run here, or None."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return "the sandbox knows only Linux on x86-64"
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "making namespaces needs root and unshare(1)"
    tried = subprocess.run(["unshare", "--mount", "--pid", "--fork", "true"], capture_output=True)
    return None if tried.returncode == 0 else f"unshare failed: {tried.stderr.decode()}"


@contextmanager
def sandboxed_parlour(
    database: str, state: Path, log: Path, policy_line: bool = True, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """`parlour serve --workers 2` inside tests/sandbox.py (without the unit's
    `CPUSchedulingPolicy=batch` if not `policy_line`); its base URL and the PID of the
    server's main process."""
    port = free_port()
    env = {**os.environ, "PARLOUR_SECRET": "served", "PARLOUR_DATABASE": database, **(env or {})}
    command = [
        *("unshare", "--mount", "--pid", "--fork", "--kill-child=SIGTERM"),
        *(sys.executable, str(Path(__file__).with_name("sandbox.py"))),
        *([] if policy_line else ["--no-cpu-scheduling-policy"]),
        str(state),
        *(str(PARLOUR), "serve", "--port", str(port), "--workers", "2"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/-/health", process, log)
        main = int(Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()[0])
        yield base, main
    finally:
        # unshare passes SIGTERM on to nothing (it blocks it); the server, PID 1 of its
        # namespace, gets it from the process group and stops its workers.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def sign_in(base: str) -> httpx.Response:
    """The desk's sign-in form, filled in, cookies carried by hand (they are Secure)."""
    form = httpx.get(base + "/desk/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    return httpx.post(
        base + "/desk/sign-in",
        data={"csrf": token[1], "email": "wren@blog.example", "password": PASSWORD, "next": "/desk"},
        headers={"Cookie": f"parlour_csrf={form.cookies['parlour_csrf']}"},
    )


NO_SANDBOX = can_sandbox()


@pytest.mark.slow
@pytest.mark.skipif(NO_SANDBOX is not None, reason=str(NO_SANDBOX))
def test_parlour_serves_readers_and_signs_the_writer_in_inside_the_units_sandbox(
    db_url: str, tmp_path: Path
) -> None:
    """Read-only files but the state directory, a /proc of its own, no capabilities, no
    new privileges, no writable executable memory (MemoryDenyWriteExecute=yes) and no
    system call of @resources: granian, uvloop, psycopg and argon2 still work, and the
    server runs under the SCHED_BATCH the unit starts it with."""
    state = tmp_path / "state"
    state.mkdir()
    database = served_database(db_url, state)
    prepare_site(database)
    with sandboxed_parlour(database, state, tmp_path / "serve.log") as (base, main):
        workers = [int(p) for p in Path(f"/proc/{main}/task/{main}/children").read_text().split()]
        assert len(workers) == 2
        for pid in (main, *workers):
            assert status(pid)["Seccomp"] == "2"
            assert status(pid)["NoNewPrivs"] == "1"
            assert int(status(pid)["CapBnd"], 16) == 0
            assert os.sched_getscheduler(pid) == os.SCHED_BATCH
        posted = httpx.post(
            base + "/api/v1/comments",
            json={"site": "blog", "thread": "/post", "body": "Under *guard*", "author_name": "Ada"},
            headers={"Origin": BLOG},
        )
        assert posted.status_code == 201, posted.text
        page = httpx.get(base + "/api/v1/comments", params={"site": "blog", "thread": "/post"})
        assert [c["html"] for c in page.json()["comments"]] == ["<p>Under <em>guard</em></p>\n"]
        signed_in = sign_in(base)
        assert signed_in.status_code == 303, signed_in.text
        assert "parlour_session=" in signed_in.headers["set-cookie"]
    assert "SCHED_BATCH" not in (tmp_path / "serve.log").read_text()  # nothing refused


@pytest.mark.slow
@pytest.mark.skipif(NO_SANDBOX is not None, reason=str(NO_SANDBOX))
def test_a_unit_without_the_scheduling_line_serves_as_started_and_says_why_in_its_log(
    db_url: str, tmp_path: Path
) -> None:
    """The unit's system call filter refuses the SCHED_BATCH that `parlour serve` asks
    for; a unit without `CPUSchedulingPolicy=batch` still serves, and the log says so."""
    state = tmp_path / "state"
    state.mkdir()
    database = served_database(db_url, state)
    prepare_site(database)
    log = tmp_path / "serve.log"
    with sandboxed_parlour(database, state, log, policy_line=False, env={"PARLOUR_LOG_FORMAT": "json"}) as (
        base,
        main,
    ):
        assert httpx.get(base + "/-/health").status_code == 200
        workers = [int(p) for p in Path(f"/proc/{main}/task/{main}/children").read_text().split()]
        assert {os.sched_getscheduler(pid) for pid in (main, *workers)} == {os.sched_getscheduler(0)}
    refused = [json.loads(line) for line in log.read_text().splitlines() if "SCHED_BATCH" in line]
    assert [(r["level"], r["logger"]) for r in refused] == [("warning", "parlour.serve")]
    assert "Operation not permitted" in refused[0]["message"]


# Caddy

CADDY = shutil.which("caddy")
needs_caddy = pytest.mark.skipif(CADDY is None, reason="caddy is not installed (apt-get install caddy)")


def caddy_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """Caddy's environment: its storage in tmp_path, the Caddyfile's placeholders."""
    return {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "caddy-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "caddy-config"),
        **variables,
    }


@needs_caddy
def test_the_caddyfile_is_valid(tmp_path: Path) -> None:
    assert CADDY is not None
    run = subprocess.run(
        [CADDY, "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "caddy" / "Caddyfile")],
        env=caddy_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "Valid configuration" in run.stdout + run.stderr


@contextmanager
def running_caddy(tmp_path: Path, upstreams: list[str]) -> Iterator[str]:
    """deploy/caddy/Caddyfile in front of `upstreams`, on plain HTTP at a free port. The
    copy's global options add `auto_https off` and no admin endpoint (it would take port
    2019), and wait at most a second for open connections when Caddy stops."""
    assert CADDY is not None
    port = free_port()
    config = tmp_path / "Caddyfile"
    recipe = (DEPLOY / "caddy" / "Caddyfile").read_text()
    options = "\n\tgrace_period 10s\n"
    assert options in recipe
    config.write_text(recipe.replace(options, "\n\tadmin off\n\tauto_https off\n\tgrace_period 1s\n"))
    env = caddy_env(
        tmp_path,
        PARLOUR_DOMAIN=f"http://127.0.0.1:{port}",
        PARLOUR_UPSTREAMS=" ".join(u.removeprefix("http://") for u in upstreams),
    )
    log = tmp_path / "caddy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CADDY, "run", "--adapter", "caddyfile", "--config", str(config)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/-/health", process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


PROXIED = {"PARLOUR_TRUST_PROXY": "1"}


@pytest.mark.slow
@needs_caddy
def test_readers_read_post_and_hear_live_through_caddy_in_front_of_two_instances(
    db_url: str, tmp_path: Path
) -> None:
    database = served_database(db_url, tmp_path)
    prepare_site(database)
    with (
        parlour_process(database, tmp_path / "a.log", env=PROXIED) as (first, _),
        parlour_process(database, tmp_path / "b.log", env=PROXIED) as (second, _),
        running_caddy(tmp_path, [first, second]) as caddy,
    ):
        params = {"site": "blog", "thread": "/post"}
        with httpx.stream(
            "GET", caddy + "/api/v1/events", params=params, headers={"Origin": BLOG}, timeout=10
        ) as events:
            assert events.status_code == 200
            assert "content-encoding" not in events.headers  # never compressed, never held
            lines = (line for line in events.iter_lines() if line)
            assert next(lines) == "retry: 3000"
            posted = httpx.post(
                caddy + "/api/v1/comments",
                json={**params, "body": "Through the proxy", "author_name": "Ada"},
                headers={"Origin": BLOG},
            )
            assert posted.status_code == 201, posted.text
            data = next(line for line in lines if line.startswith("data: "))
        assert orjson.loads(data.removeprefix("data: ")) == posted.json()["comment"]

        def every_read_shows_it() -> None:
            for _ in range(4):  # round robin: both instances, twice
                page = httpx.get(
                    caddy + "/api/v1/comments", params=params, headers={"Accept-Encoding": "gzip"}
                )
                assert page.headers["content-encoding"] == "gzip"
                assert page.json()["thread"]["comment_count"] == 1

        within(PUSH_WINDOW, every_read_shows_it)


@pytest.mark.slow
@needs_caddy
def test_caddy_keeps_answering_when_one_of_two_instances_stops(db_url: str, tmp_path: Path) -> None:
    """Reads that find the stopped instance are tried on the other; once Caddy has seen it
    down, posts go to the other too. (Caddy 2.6 cannot retry a request with a body: a post
    that is first to find the instance gone gets 502, caddy#5454; docs/deploy.md says so.)"""
    database = served_database(db_url, tmp_path)
    prepare_site(database)
    with (
        parlour_process(database, tmp_path / "a.log", env=PROXIED) as (first, stopping),
        parlour_process(database, tmp_path / "b.log", env=PROXIED) as (second, _),
        running_caddy(tmp_path, [first, second]) as caddy,
    ):
        stopping.terminate()
        stopping.wait(timeout=20)
        with httpx.Client(base_url=caddy) as client:
            for _ in range(4):  # round robin: two of them go to the stopped instance first
                counts = client.get("/api/v1/counts", params={"site": "blog", "thread": "/post"})
                assert counts.json() == {"counts": {"/post": 0}}
            for i in range(6):
                posted = client.post(
                    "/api/v1/comments",
                    json={"site": "blog", "thread": "/post", "body": f"comment {i}"},
                    headers={"Origin": BLOG},
                )
                assert posted.status_code == 201, posted.text
                counts = client.get("/api/v1/counts", params={"site": "blog", "thread": "/post"})
                assert counts.json() == {"counts": {"/post": i + 1}}


# Containers


def test_the_package_pip_builds_for_the_image_carries_every_file_of_the_source_tree(tmp_path: Path) -> None:
    """The image (and pip or pipx on a server) installs the wheel built from what the
    Dockerfile copies. Development runs an editable install, which reads the source tree:
    a template, asset or migration the wheel leaves out would be missed only in
    production."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):  # the Dockerfile's COPY lines
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    copied = (DEPLOY / "container" / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md /src/" in copied and "COPY src /src/src" in copied
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(tree)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("parlour-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name for name in archive.namelist() if name.startswith("parlour/")}
    sources = {
        path.relative_to(tree / "src").as_posix()
        for path in (tree / "src" / "parlour").rglob("*")
        if path.is_file()
    }
    assert sorted(sources - packaged) == []


def container_engine() -> str | None:
    """Why the compose recipe cannot run here, or None."""
    if not shutil.which("docker"):
        return "docker is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        return "no container engine answers (`docker info` failed): " + info.stderr.strip()[-200:]
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if compose.returncode != 0:
        return "docker compose is not installed"
    return None


NO_CONTAINERS = container_engine()


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(NO_CONTAINERS is not None, reason=str(NO_CONTAINERS))
def test_the_compose_recipe_serves_a_thread_through_caddy_from_two_instances() -> None:
    """Builds the image, starts PostgreSQL, the migration, two instances and Caddy, reads
    and posts through Caddy, and takes it all down again, volumes included."""
    port = free_port()
    project = f"parlour_test_{secrets.token_hex(4)}"
    env = {
        **os.environ,
        "PARLOUR_SECRET": secrets.token_urlsafe(32),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "PARLOUR_DOMAIN": "http://localhost",
        "PARLOUR_HTTP_PORT": str(port),
        "PARLOUR_HTTPS_PORT": str(free_port()),
    }
    compose = ["docker", "compose", "-p", project, "-f", str(DEPLOY / "container" / "compose.yaml")]

    def run(*args: str) -> str:
        done = subprocess.run([*compose, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        run("up", "--detach", "--build", "--wait")
        run("exec", "-T", "parlour1", "parlour", "site", "create", "blog", "--origin", BLOG)
        base = f"http://localhost:{port}"
        posted = httpx.post(
            base + "/api/v1/comments",
            json={"site": "blog", "thread": "/post", "body": "From a container", "author_name": "Ada"},
            headers={"Origin": BLOG},
        )
        assert posted.status_code == 201, posted.text

        def both_instances_show_it() -> None:
            for _ in range(4):
                page = httpx.get(base + "/api/v1/comments", params={"site": "blog", "thread": "/post"})
                assert [c["body"] for c in page.json()["comments"]] == ["From a container"]

        within(PUSH_WINDOW, both_instances_show_it)
    finally:
        run("down", "--volumes", "--remove-orphans")
