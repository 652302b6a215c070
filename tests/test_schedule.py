"""Scheduled crawls on one machine: ticks, locks, the foreground loop, outcomes and health."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from helpers import REPO, Sites, articles, run_ccnews

from ccnews.scheduler import is_running

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


DEAD = (
    '[[source]]\nid = "dead"\nname = "Dead"\nhomepage = "http://127.0.0.1:9/"\n'
    'feeds = ["http://127.0.0.1:9/feed"]\ndelay = 0.0\n'
)


@pytest.fixture
def sites(tmp_path):
    s = Sites(tmp_path / "sites").start()
    yield s
    s.stop()


def slow(sites, delay="0.4"):
    text = sites.registry.read_text("utf-8").replace("delay = 0.0", f"delay = {delay}")
    sites.registry.write_text(text, "utf-8")


def runs(data: Path) -> list[dict]:
    """The recorded runs; none yet while the crawl is still creating the archive."""
    try:
        return list(sqlite_utils.Database(data / "archive.db").query("select * from crawl_runs order by id"))
    except sqlite3.OperationalError:  # no crawl_runs table yet
        return []


def wait_for(predicate, timeout=120.0, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def ccnews_env(data: Path, registry: Path) -> dict:
    return {**os.environ, "CCNEWS_DATA": str(data), "CCNEWS_SOURCES": str(registry)}


def all_runs_ended(data: Path, n: int) -> bool:
    try:
        rows = runs(data)
    except Exception:  # noqa: BLE001 - the archive may not exist yet
        return False
    return len(rows) >= n and all(r["outcome"] not in (None, "running") for r in rows)


def test_tick_starts_every_due_source_once_in_its_own_process(sites, tmp_path):
    data = tmp_path / "data"
    first = run_ccnews("schedule", "tick", data_dir=data, registry=sites.registry)
    assert first.returncode == 0
    assert "started warta-uji (pid" in first.stderr and "started kota-uji (pid" in first.stderr
    pids = {int(x) for x in re.findall(r"pid (\d+)", first.stderr)}
    assert os.getpid() not in pids and len(pids) == 2
    again = run_ccnews("schedule", "tick", data_dir=data, registry=sites.registry)
    assert "nothing due" in again.stderr
    assert wait_for(lambda: all_runs_ended(data, 2))
    assert {r["source"]: r["outcome"] for r in runs(data)} == {"warta-uji": "ok", "kota-uji": "ok"}
    assert len(articles(data)) >= 10
    listed = json.loads(run_ccnews("schedule", "list", "--json", data_dir=data, registry=sites.registry).stdout)
    for row in listed:
        assert row["last_outcome"] == "ok"
        due = datetime.fromisoformat(row["next_due"])
        started = datetime.fromisoformat(row["last_started"])
        assert due - started == timedelta(hours=6)  # the registry's default


def test_a_running_source_is_never_started_twice(sites, tmp_path):
    slow(sites)
    data = tmp_path / "data"
    env = ccnews_env(data, sites.registry)
    crawl = subprocess.Popen([sys.executable, "-m", "ccnews", "crawl", "warta-uji"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(
            lambda: (
                (data / "locks" / "warta-uji.lock").exists() and bool(runs(data))
                if (data / "archive.db").exists()
                else False
            )
        )
        tick = run_ccnews("schedule", "tick", data_dir=data, registry=sites.registry)
        assert "started kota-uji" in tick.stderr and "warta-uji" not in tick.stderr
        second = run_ccnews("crawl", "warta-uji", data_dir=data, registry=sites.registry)
        assert second.returncode == 1 and "being crawled already" in second.stderr
    finally:
        crawl.communicate(timeout=240)
    assert wait_for(lambda: all_runs_ended(data, 2))
    assert [r["source"] for r in runs(data)].count("warta-uji") == 1


def test_schedule_run_stops_cleanly_on_sigterm_and_records_interrupted_runs(sites, tmp_path):
    slow(sites, "3.0")  # 3 s between requests: both crawls are surely still running when SIGTERM comes
    data = tmp_path / "data"
    loop = subprocess.Popen(
        [sys.executable, "-m", "ccnews", "schedule", "run", "--every", "1"],
        cwd=REPO,
        env=ccnews_env(data, sites.registry),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: (data / "archive.db").exists() and len(runs(data)) == 2 and all(
            r["outcome"] == "running" for r in runs(data)), timeout=60)
        # "running" is recorded once a crawl's reactor runs, its signal handlers installed.
        loop.send_signal(signal.SIGTERM)
        _out, err = loop.communicate(timeout=90)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert loop.returncode == 0, err
    assert "stopping 2 running crawl(s)" in err and "stopped" in err
    assert {r["outcome"] for r in runs(data)} == {"interrupted"}
    assert not is_running(data, "warta-uji") and not is_running(data, "kota-uji")


def test_a_crawl_killed_hard_is_recorded_as_interrupted(sites, tmp_path):
    slow(sites, "1.0")
    data = tmp_path / "data"
    crawl = subprocess.Popen([sys.executable, "-m", "ccnews", "crawl", "warta-uji"], cwd=REPO,
                             env=ccnews_env(data, sites.registry), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: (data / "archive.db").exists() and bool(runs(data)), timeout=60)
    crawl.kill()
    crawl.wait()
    assert runs(data)[0]["outcome"] == "running"
    listed = json.loads(run_ccnews("runs", "--json", data_dir=data, registry=sites.registry).stdout)
    assert listed[0]["outcome"] == "interrupted"


def test_a_run_that_fetched_nothing_failed_whatever_the_exit_code(tmp_path):
    reg = tmp_path / "dead.toml"
    reg.write_text(DEAD)
    data = tmp_path / "data"
    result = run_ccnews("crawl", "dead", "-s", "RETRY_TIMES=0", data_dir=data, registry=reg)
    # Scrapy itself "finished"; the crawl's exit code and last line agree with the recorded outcome.
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "dead failed: connection refused"
    assert runs(data)[-1]["outcome"] == "failed"
    failed = json.loads(run_ccnews("runs", "--failed", "--json", data_dir=data, registry=reg).stdout)
    assert [r["source"] for r in failed] == ["dead"]


def test_health_reports_repeated_failures(tmp_path):
    reg = tmp_path / "dead.toml"
    reg.write_text(DEAD)
    data = tmp_path / "data"
    for _ in range(3):
        run_ccnews("crawl", "dead", "-s", "RETRY_TIMES=0", data_dir=data, registry=reg)
    result = run_ccnews("health", "--json", data_dir=data, registry=reg)
    assert result.returncode == 1
    assert json.loads(result.stdout)[0]["problem"] == "last 3 runs failed"


def test_health_reports_a_source_that_lists_entries_but_collects_nothing(sites, tmp_path):
    data = tmp_path / "data"
    run_ccnews("crawl", "warta-uji", "-s", "AUTOTHROTTLE_START_DELAY=0.01", data_dir=data, registry=sites.registry)
    assert run_ccnews("health", data_dir=data, registry=sites.registry).returncode == 0
    db = sqlite_utils.Database(data / "archive.db")
    old = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0).isoformat()
    db.execute("update articles set first_seen = ?", [old])
    db.execute("update crawl_runs set started = ?", [old])
    db.conn.commit()
    result = run_ccnews("health", "--json", data_dir=data, registry=sites.registry)
    assert result.returncode == 1
    problem = json.loads(result.stdout)[0]
    assert problem["source"] == "warta-uji" and "no new article for 10 days" in problem["problem"]


def test_interval_adapts_to_how_often_a_source_publishes(tmp_path):
    from archive import Archive
    from ccnews.scheduler import adapted_interval
    from crawler.registry import parse_registry

    reg = parse_registry('[[source]]\nid = "s"\nname = "S"\nhomepage = "http://127.0.0.1:9/"\nevery = "6h"\n'
                         'adapt = true\nmin_every = "1h"\nmax_every = "2d"\n', "t.toml")
    src = reg["s"]
    base = 6 * 3600
    with Archive(tmp_path) as archive:
        assert adapted_interval(archive, src, base) == base
        for new in (0, 0, 0):
            rid = archive.start_run("s")
            archive.finish_run(rid, {"outcome": "ok", "articles_new": new, "finish_reason": "finished"})
        assert adapted_interval(archive, src, base) == 48 * 3600  # 6h doubled three times, capped at 2d
        rid = archive.start_run("s")
        archive.finish_run(rid, {"outcome": "ok", "articles_new": 25, "finish_reason": "finished"})
        assert adapted_interval(archive, src, base) == 3 * 3600


def test_cron_rule_sets_the_next_due_time(tmp_path):
    from archive import Archive
    from ccnews.scheduler import status
    from crawler.registry import parse_registry

    reg = parse_registry(
        '[[source]]\nid = "c"\nname = "C"\nhomepage = "http://127.0.0.1:9/"\nschedule = "30 7 * * *"\n', "t.toml"
    )
    with Archive(tmp_path) as archive:
        rid = archive.start_run("c")
        archive.db["crawl_runs"].update(rid, {"started": "2026-03-01T08:00:00+00:00", "outcome": "ok"})
        (st,) = status(archive, tmp_path, reg, now=datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert st.next_due == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert not st.due(datetime(2026, 3, 2, 7, 29, tzinfo=UTC))


def test_crontab_and_systemd_entries_use_absolute_paths(tmp_path):
    data = tmp_path / "data"
    reg = tmp_path / "s.toml"
    reg.write_text(DEAD)
    cron = run_ccnews("schedule", "crontab", "--data-dir", str(data), "--sources", str(reg)).stdout
    line = [ln for ln in cron.splitlines() if not ln.startswith("#")][0]
    assert line.startswith("* * * * * ") and f"{sys.executable} -m ccnews schedule tick" in line
    assert str(data) in line and str(reg) in line
    unit = run_ccnews("schedule", "systemd", "--data-dir", str(data), "--user", "ccnews").stdout
    assert "[Timer]" in unit and "OnCalendar=" in unit and "User=ccnews" in unit
    assert f"ExecStart={sys.executable} -m ccnews schedule tick --data-dir {data}" in unit


def test_registry_schedule_errors_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nid = "x"\nname = "X"\nhomepage = "http://127.0.0.1:9/"\nschedule = "every day"\n')
    result = run_ccnews("schedule", "list", "--sources", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1 and "source #1 (x), field 'schedule'" in result.stderr
    bad.write_text('[defaults]\nevery = "soon"\n[[source]]\nid = "x"\nname = "X"\nhomepage = "http://127.0.0.1:9/"\n')
    result = run_ccnews("schedule", "list", "--sources", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1 and "field 'every': 'soon' is not an interval" in result.stderr
