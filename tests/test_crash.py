"""kill -9 in the write phase of crawl, reindex and reextract (bench/crash.py runs 20 of each)."""

from __future__ import annotations

import pytest

from bench.crash import run

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


def test_kill_9_never_damages_the_archive_and_the_next_crawl_catches_the_index_up(tmp_path):
    # Killed within 50 ms of the archive or the index growing in that run: every kill lands in a
    # live process in the middle of writing (a kill after the process ended is not counted).
    result = run(trials=3, work=tmp_path, pages=150, max_delay=0.05)
    assert result["kills"] == {"crawl": 3, "reindex": 3, "reextract": 3}, result
    assert result["articles"] == 150
    assert result["index_in_step"]
    # nothing of the killed crawls keeps running (or holding memory) behind them
    assert result["leftover_processes"] == []


def test_interrupted_crawl_resumes_without_fetching_again(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from collections import Counter

    from helpers import REPO, Sites, articles

    sites = Sites(tmp_path / "sites").start()
    try:
        sites.registry.write_text(sites.registry.read_text("utf-8").replace("delay = 0.0", "delay = 0.5"), "utf-8")
        env = {**os.environ, "CCNEWS_DATA": str(tmp_path / "data"), "CCNEWS_SOURCES": str(sites.registry)}
        first = subprocess.Popen([sys.executable, "-m", "ccnews", "crawl", "warta-uji", "--resume"], cwd=REPO, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and len([1 for p, _m, s in sites.outlet.requests if p.startswith("/read/") and s == 200]) < 3
        ):
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it: to the whole process group
        _out, first_err = first.communicate(timeout=60)
        assert first.returncode == 130 and "Traceback" not in first_err
        assert first_err.strip().splitlines()[-1] == "interrupted; run again with --resume to go on"
        interrupted = len(articles(tmp_path / "data"))
        second = subprocess.run([sys.executable, "-m", "ccnews", "crawl", "warta-uji", "--resume"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=240)
        assert second.returncode == 0, second.stderr[-2000:]
    finally:
        sites.stop()
    rows = articles(tmp_path / "data")
    assert 0 < interrupted < len(rows) == 11
    assert not [a for a in rows if "/private/" in a["url"]]  # robots.txt still obeyed
    # Article pages are fetched once; feeds, sitemaps and listings are read again to find the rest.
    fetched = Counter(p for p, _m, s in sites.outlet.requests if s == 200 and p.startswith("/read/"))
    assert max(fetched.values()) == 1, {p: n for p, n in fetched.items() if n > 1}


def _wait_for_writers(proc, data) -> None:
    """Until the reindex `proc` has started its Whoosh writer processes."""
    import time

    from bench.crash import leftover_processes

    deadline = time.monotonic() + 120
    writers: list[int] = []
    while not writers and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        writers = [p for p in leftover_processes(str(data), wait_s=0) if p != proc.pid]
    assert writers, "the reindex never started its writer processes"


def test_a_killed_bulk_reindex_leaves_no_writer_process_behind(tmp_path):
    # From MP_MIN articles on, `reindex` writes with one Whoosh process per core; they must go
    # when the command is killed, not keep running (and writing) on their own.
    import os
    import signal
    import subprocess
    import sys

    from helpers import REPO

    from archive import Archive
    from bench.crash import leftover_processes
    from bench.search import corpus
    from indexer.index import MP_MIN

    data = tmp_path / "data"
    with Archive(data) as archive:
        archive.db["articles"].insert_all(corpus(MP_MIN + 1000), batch_size=2000)
    env = {**os.environ, "CCNEWS_DATA": str(data)}
    proc = subprocess.Popen([sys.executable, "-m", "ccnews", "reindex"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_writers(proc, data)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert leftover_processes(str(data), wait_s=20) == []


def test_ctrl_c_stops_a_bulk_reindex_and_keeps_the_index_in_use(tmp_path):
    # Whoosh's own cancel left the writer processes waiting for their next job, and the command
    # waiting for them at exit, for ever.
    import os
    import signal
    import subprocess
    import sys

    from helpers import REPO

    from archive import Archive
    from bench.crash import leftover_processes
    from bench.search import corpus
    from indexer import doc_count, rebuild
    from indexer.index import MP_MIN

    data = tmp_path / "data"
    with Archive(data) as archive:
        archive.db["articles"].insert_all(corpus(MP_MIN + 1000), batch_size=2000)
        rebuild(archive, data)
    env = {**os.environ, "CCNEWS_DATA": str(data)}
    proc = subprocess.Popen([sys.executable, "-m", "ccnews", "reindex"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_writers(proc, data)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    try:
        _out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("reindex did not stop within 15 s of Ctrl-C") from None
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    assert leftover_processes(str(data), wait_s=10) == []
    assert not (data / "index.new").exists()
    assert doc_count(data) == MP_MIN + 1000  # the index built before still serves
