"""Reading an export in a second process: the same records, the same errors, no leftovers."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from factories import started_processes
from parlour.domain.errors import InvalidImportFile
from parlour.domain.imports import CommentRecord, ExtraRecord, Skipped, State, ThreadRecord
from parlour.importers import ahead, disqus
from parlour.importers.ahead import ReaderStopped, read_ahead

BLOG = Path(__file__).parent / "disqus" / "blog.xml"


def disqus_file(path: Path, n: int) -> Path:
    """A Disqus export of one thread and `n` comments, each answering the one before."""
    posts = "".join(
        f'<post dsq:id="{i}"><message><![CDATA[<p>Comment number {i}, with <b>bold</b> words '
        f"and a line long enough to make the stream a few pipes full.</p>]]></message>"
        f"<createdAt>2020-01-01T00:00:{i % 60:02d}Z</createdAt><isDeleted>false</isDeleted>"
        f'<isSpam>false</isSpam><author><name>Reader {i}</name></author><thread dsq:id="1"/>'
        + (f'<parent dsq:id="{i - 1}"/>' if i > 1 else "")
        + "</post>"
        for i in range(1, n + 1)
    )
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        '<thread dsq:id="1"><id>one</id><link>https://blog.example/one/</link><title>One</title>'
        f"<isClosed>false</isClosed><isDeleted>false</isDeleted></thread>{posts}</disqus>",
        encoding="utf-8",
    )
    return path


def children(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """The reading processes `read_ahead` starts from now on."""
    return started_processes(monkeypatch, ahead)


def test_records_read_ahead_are_the_records_the_format_reads_in_the_same_order() -> None:
    with read_ahead("disqus", BLOG) as records:
        assert list(records) == list(disqus.read(BLOG))


def test_a_file_of_many_batches_arrives_whole_and_in_order(tmp_path: Path) -> None:
    path = disqus_file(tmp_path / "many.xml", ahead.BATCH * 3 + 7)
    with read_ahead("disqus", path) as records:
        got = list(records)
    assert got == list(disqus.read(path))
    assert len(got) == 1 + ahead.BATCH * 3 + 7


def test_every_kind_of_record_crosses_the_pipe_with_every_field() -> None:
    records = [
        ThreadRecord("t1", "https://blog.example/a/", "/a/", "A post", True, 3, {"pins": [1]}),
        CommentRecord(
            source_id="c1",
            thread="t1",
            body="Hello",
            created_at=1_600_000_000_000,
            parent="c0",
            author_name="Ann",
            author_email="ann@example.org",
            state=State.SPAM,
            hearts=4,
            is_writer=True,
            pinned=True,
            edited_at=1_600_000_001_000,
            line=12,
            extra={"hearted_by": [["r1", 5]]},
        ),
        Skipped("pingback", "c2", 20),
        ExtraRecord("reader", {"id": "r1"}, 30),
    ]
    for record in records:
        crossed = pickle.loads(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(crossed) is type(record)
        assert crossed == record


def test_a_bad_file_stops_with_the_readers_own_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(disqus_file(tmp_path / "whole.xml", 40).read_text()[:-200], encoding="utf-8")
    with pytest.raises(InvalidImportFile) as direct:
        list(disqus.read(path))
    with read_ahead("disqus", path) as records, pytest.raises(InvalidImportFile) as there:
        list(records)
    assert there.value.message == direct.value.message
    assert there.value.details == direct.value.details
    assert "line" in there.value.message


def test_leaving_early_stops_the_reading_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = children(monkeypatch)
    path = disqus_file(tmp_path / "big.xml", 5_000)
    with read_ahead("disqus", path) as records:
        next(iter(records))
    (child,) = started
    assert child.returncode is not None  # ended and waited for: no process left behind


def test_a_reader_that_dies_midway_is_an_error_not_a_short_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = children(monkeypatch)
    path = disqus_file(tmp_path / "big.xml", 5_000)  # far more than the pipe holds
    with read_ahead("disqus", path) as records:
        stream = iter(records)
        next(stream)
        started[0].kill()
        with pytest.raises(ReaderStopped, match="stopped before the end of the file"):
            for _ in stream:
                pass


def test_stopping_and_continuing_the_reader_midway_loses_no_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+Z then `fg` (or a profiler attaching) stops the child in the middle of a write
    into a full pipe; the write returns cut short, and every record must still arrive."""
    started = children(monkeypatch)
    path = disqus_file(tmp_path / "big.xml", 20_000)
    done = threading.Event()

    def stop_and_continue() -> None:
        while not started:
            time.sleep(0.001)
        try:
            while not done.is_set():
                os.kill(started[0].pid, signal.SIGSTOP)
                time.sleep(0.002)
                os.kill(started[0].pid, signal.SIGCONT)
                time.sleep(0.003)
        except ProcessLookupError:  # it ended and was waited for
            pass

    pauser = threading.Thread(target=stop_and_continue)
    pauser.start()
    try:
        with read_ahead("disqus", path) as records:
            got = []
            for i, record in enumerate(records):
                got.append(record)
                if i % 1_000 == 0:
                    time.sleep(0.01)  # the pipe fills, so the child's writes block and are cut
    finally:
        done.set()
        pauser.join()
    assert got == list(disqus.read(path))
