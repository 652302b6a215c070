"""Scheduled crawls: which sources are due, starting each in its own process, never twice at once.

A source's crawl holds an exclusive lock on `DATA_DIR/locks/SOURCE.lock` for as long as it runs (the
lock is taken by whoever starts it and inherited by the crawl process), so a second tick, another
`schedule run`, or a manual `ccnews crawl` on the same data directory sees it running and skips it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive import Archive
from archive.errors import ServiceFileError
from crawler.registry import DEFAULT_EVERY, Source, every_seconds

LOCK_ENV = "CCNEWS_LOCK_HELD"  # set for a crawl started by the scheduler: it already holds its lock


@dataclass
class Status:
    source: str
    rule: str  # "every 6h", "cron 30 7 * * *"
    last: dict[str, Any] | None
    next_due: datetime
    running: bool

    def due(self, now: datetime) -> bool:
        return not self.running and self.next_due <= now


def utcnow() -> datetime:
    return datetime.now(UTC)


def _parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts) if ts else None


# -- locks ---------------------------------------------------------------------------------------


def lock_path(data_dir: Path, source: str) -> Path:
    return Path(data_dir) / "locks" / f"{source}.lock"


def try_lock(data_dir: Path, source: str) -> int | None:
    """An fd holding the source's lock, or None when a crawl of it is running."""
    path = lock_path(data_dir, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.set_inheritable(fd, True)
    return fd


def is_running(data_dir: Path, source: str) -> bool:
    fd = try_lock(data_dir, source)
    if fd is None:
        return True
    os.close(fd)
    return False


def mark_stale_runs(archive: Archive, data_dir: Path) -> int:
    """Runs still marked running whose crawl no longer holds its lock died: record them as interrupted."""
    n = 0
    for run in archive.runs(outcome="running", limit=10_000):
        if run.get("job"):
            continue  # a Scrapyd job: its own daemon runs it, judged by its stats when it ends
        if not is_running(data_dir, run["source"]):
            archive.mark_interrupted(run["id"])
            n += 1
    return n


# -- due times -----------------------------------------------------------------------------------


def adapted_interval(archive: Archive, src: Source, base: int) -> int:
    """Media Cloud's idea, simply: double the interval for each latest run that found nothing new,
    halve it after a run that found many; always within the source's min_every and max_every."""
    lo = every_seconds(src.min_every) if src.min_every else max(600, base // 8)
    hi = every_seconds(src.max_every) if src.max_every else base * 8
    runs = [r for r in archive.runs(src.id, limit=6) if r.get("outcome") == "ok"]
    if not runs:
        return base
    empty = 0
    for r in runs:
        if r.get("articles_new"):
            break
        empty += 1
    interval = (
        base * (2 ** min(empty, 5)) if empty else (base // 2 if (runs[0].get("articles_new") or 0) >= 10 else base)
    )
    return max(lo, min(hi, interval))


def status(archive: Archive, data_dir: Path, registry: dict[str, Source], now: datetime | None = None) -> list[Status]:
    from croniter import croniter

    now = now or utcnow()
    last_runs = archive.last_runs()
    out = []
    for src in registry.values():
        last = last_runs.get(src.id)
        started = _parse(last["started"]) if last else None
        if src.schedule:
            rule = f"cron {src.schedule}"
            base = started or (now - timedelta(days=366))
            next_due = croniter(src.schedule, base).get_next(datetime)
            if started is None:
                next_due = min(next_due, now)  # never crawled: due now
        else:
            base = every_seconds(src.every or DEFAULT_EVERY)
            interval = adapted_interval(archive, src, base) if src.adapt else base
            rule = f"every {src.every or DEFAULT_EVERY}" + (
                f" (adapted: {_human(interval)})" if interval != base else ""
            )
            next_due = started + timedelta(seconds=interval) if started else now
        out.append(Status(src.id, rule, last, next_due, is_running(data_dir, src.id)))
    return out


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


# -- starting crawls -----------------------------------------------------------------------------


def crawl_command(source: str, data_dir: Path, sources_file: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "ccnews", "crawl", source, "--data-dir", str(data_dir)]
    if sources_file:
        cmd += ["--sources", str(Path(sources_file).resolve())]
    return cmd


def start_crawl(source: str, data_dir: Path, sources_file: Path | None, lock_fd: int,
                extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """The crawl in its own process, holding the source's lock until it ends."""
    env = {**os.environ, LOCK_ENV: source, **(extra_env or {})}
    return _spawn(crawl_command(source, data_dir, sources_file), Path(data_dir), source, lock_fd, env)


def _spawn(cmd: list[str], data_dir: Path, name: str, lock_fd: int, env: dict[str, str]) -> subprocess.Popen:
    logs = Path(data_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    log = open(logs / f"{name}-{stamp}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                pass_fds=(lock_fd,), start_new_session=True)
    finally:
        log.close()
        os.close(lock_fd)  # the child keeps the lock


def start_first_backfills(archive: Archive, data_dir: Path, registry: dict[str, Source],
                          sources_file: Path | None) -> list[dict[str, Any]]:
    """A backfill from `backfill_since` for each source that has one and was never backfilled:
    once per source, never repeated (a failed one is for the user to run again)."""

    done = {r["source"] for r in archive.db.query("select distinct source from backfills")}
    started = []
    for src in registry.values():
        if not src.backfill_since or src.id in done:
            continue
        fd = try_lock(data_dir, f"backfill-{src.id}")
        if fd is None:
            continue  # running
        cmd = [sys.executable, "-m", "ccnews", "backfill", src.id, "--since", src.backfill_since,
               "--data-dir", str(data_dir)]
        if sources_file:
            cmd += ["--sources", str(Path(sources_file).resolve())]
        proc = _spawn(cmd, data_dir, f"backfill-{src.id}", fd, dict(os.environ))
        started.append({"source": src.id, "pid": proc.pid, "backfill": True})
    return started


DEFAULT_MAX_RUNNING = 4  # crawls at once on one machine: each is a Scrapy process of ~100-200 MB


def tick(archive: Archive, data_dir: Path, registry: dict[str, Source], sources_file: Path | None,
         now: datetime | None = None, scrapyd: list[str] | None = None,
         max_running: int = DEFAULT_MAX_RUNNING) -> list[dict[str, Any]]:
    """Start due sources, most overdue first, up to `max_running` crawls at once on this machine;
    returns what was started (source, pid or Scrapyd job). The rest start at a later tick."""
    data_dir = Path(data_dir)
    mark_stale_runs(archive, data_dir)
    now = now or utcnow()
    started = []
    statuses = status(archive, data_dir, registry, now)
    if scrapyd:
        due = sorted((st for st in statuses if st.due(now)), key=lambda st: st.next_due)
        from ccnews import scrapyd as sd

        return sd.submit_due(archive, data_dir, [st.source for st in due], scrapyd, sources_file)
    for proc, source in start_due(data_dir, statuses, now, sources_file, max_running):
        started.append({"source": source, "pid": proc.pid})
    started += start_first_backfills(archive, data_dir, registry, sources_file)
    return started


def start_due(data_dir: Path, statuses: list[Status], now: datetime, sources_file: Path | None,
              max_running: int) -> list[tuple[subprocess.Popen, str]]:
    """Start the most overdue sources, each in its own process, leaving at most `max_running`."""
    due = sorted((st for st in statuses if st.due(now)), key=lambda st: st.next_due)
    room = max(0, max_running - sum(st.running for st in statuses))
    started = []
    for st in due[:room]:
        fd = try_lock(data_dir, st.source)
        if fd is None:
            continue  # started by someone else since we looked
        started.append((start_crawl(st.source, data_dir, sources_file, fd), st.source))
    return started


def run_loop(archive_factory: Callable[[], Archive], data_dir: Path, registry: dict[str, Source],
             sources_file: Path | None, every: float = 60.0, say: Callable[[str], None] = print,
             max_running: int = DEFAULT_MAX_RUNNING) -> None:
    """Tick until SIGINT or SIGTERM; then stop the crawls it started and record them interrupted."""
    stopping = {"flag": False}
    children: dict[int, tuple[subprocess.Popen, str]] = {}

    def stop(signum, _frame):
        stopping["flag"] = True

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping["flag"]:
            with archive_factory() as archive:
                mark_stale_runs(archive, data_dir)
                now = utcnow()
                statuses = status(archive, data_dir, registry, now)
                for proc, source in start_due(data_dir, statuses, now, sources_file, max_running):
                    children[proc.pid] = (proc, source)
                    say(f"started {source} (pid {proc.pid})")
            for pid, (proc, src) in list(children.items()):
                if proc.poll() is not None:
                    say(f"{src} ended (exit {proc.returncode})")
                    del children[pid]
            deadline = time.monotonic() + every
            while not stopping["flag"] and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if children:
            say(f"stopping {len(children)} running crawl(s)")
        for proc, _src in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # Scrapy closes the spider cleanly: finish_reason "shutdown"
        deadline = time.monotonic() + 30
        for proc, _src in children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with archive_factory() as archive:
            mark_stale_runs(archive, data_dir)


# -- health --------------------------------------------------------------------------------------


def health(archive: Archive, registry: dict[str, Source], failed_runs: int = 3, quiet_days: int = 7,
           now: datetime | None = None) -> list[dict[str, Any]]:
    """Sources whose last N runs failed, or whose feeds/sitemaps list entries but which have found
    no new article for D days: the "feed works but nothing is collected" failure."""
    import json

    now = now or utcnow()
    problems = []
    for src in registry.values():
        runs = [r for r in archive.runs(src.id, limit=max(failed_runs, 20)) if r.get("outcome") != "running"]
        if len(runs) >= failed_runs and all(r.get("outcome") == "failed" for r in runs[:failed_runs]):
            problems.append({"source": src.id, "problem": f"last {failed_runs} runs failed",
                             "since": runs[failed_runs - 1]["started"]})
            continue
        ok_runs = [r for r in runs if r.get("outcome") == "ok"]
        if not ok_runs:
            continue
        problems += _redesign_signs(archive, src, ok_runs)
        listed = sum(json.loads(r.get("stats") or "{}").get("ccnews/discovery/entries", 0) for r in ok_runs)
        newest = archive.db.execute("select max(first_seen) from articles where source = ?", [src.id]).fetchone()[0]
        oldest_run = _parse(ok_runs[-1]["started"])
        quiet_since = _parse(newest) if newest else oldest_run
        if listed and quiet_since and now - quiet_since >= timedelta(days=quiet_days) and \
                oldest_run and now - oldest_run >= timedelta(days=quiet_days):
            problems.append({"source": src.id, "problem": f"feeds and sitemaps list entries but no new article for "
                             f"{(now - quiet_since).days} days", "since": newest or ok_runs[-1]["started"]})
    return problems


# A site redesign shows as a pattern that suddenly rejects most of what the outlet lists, or as
# extraction that suddenly yields far fewer words per article than the source's own history.
REJECTED_NOW, REJECTED_BEFORE = 0.5, 0.2
WORDS_DROP = 0.5


def _redesign_signs(archive: Archive, src: Source, ok_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import json

    problems = []

    def rejected_share(run: dict[str, Any]) -> float | None:
        stats = json.loads(run.get("stats") or "{}")
        mismatch, taken = stats.get("ccnews/discovery/pattern_mismatch", 0), stats.get("ccnews/discovery/entries", 0)
        return mismatch / (mismatch + taken) if mismatch + taken else None

    last, *earlier = ok_runs
    now_share = rejected_share(last)
    before = [s for s in map(rejected_share, earlier) if s is not None]
    if now_share is not None and now_share > REJECTED_NOW and len(before) >= 2 and \
            sum(before) / len(before) < REJECTED_BEFORE:
        problems.append({"source": src.id, "since": last["started"],
                         "problem": f"article_pattern now rejects {now_share:.0%} of listed URLs (before: "
                                    f"{sum(before) / len(before):.0%}): has the site changed its URLs?"})
    recent = archive.db.execute("select avg(word_count), count(*) from articles where source = ? and first_seen >= ?",
                                [src.id, last["started"]]).fetchone()
    history = archive.db.execute("select avg(word_count), count(*) from articles where source = ? and first_seen < ?",
                                 [src.id, last["started"]]).fetchone()
    if recent[1] >= 3 and history[1] >= 5 and history[0] and recent[0] < WORDS_DROP * history[0]:
        problems.append({"source": src.id, "since": last["started"],
                         "problem": f"articles of the last run average {recent[0]:.0f} words, against "
                                    f"{history[0]:.0f} before: has the page layout changed?"})
    return problems


# -- installing ----------------------------------------------------------------------------------


def _safe(value: str, what: str) -> str:
    """A value to write into a crontab line or a unit file: no control characters (a newline would
    start a line of the attacker's choosing)."""
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise ServiceFileError(f"{what} {value!r} contains a control character; refusing to write it into a "
                               "service file")
    return value


def _tick_command(data_dir: Path, sources_file: Path | None) -> str:
    parts = [sys.executable, "-m", "ccnews", "schedule", "tick", "--data-dir", str(Path(data_dir).resolve())]
    if sources_file:
        parts += ["--sources", str(Path(sources_file).resolve())]
    return " ".join(shlex.quote(_safe(p, "the path")) for p in parts)


def crontab(data_dir: Path, sources_file: Path | None) -> str:
    logs = Path(data_dir).resolve() / "logs"
    line = (f"cd {shlex.quote(_safe(str(Path.cwd()), 'the working directory'))} && "
            f"mkdir -p {shlex.quote(_safe(str(logs), 'the data directory'))} && "
            f"{_tick_command(data_dir, sources_file)} >> {shlex.quote(str(logs / 'tick.log'))} 2>&1")
    # cron turns an unescaped % into a newline.
    return "# ccnews: start every due source once a minute\n* * * * * " + line.replace("%", "\\%") + "\n"


def systemd(data_dir: Path, sources_file: Path | None, user: str | None = None) -> str:
    if user is not None and not re.fullmatch(r"[a-z_][a-z0-9_-]*\$?", user, re.I):
        raise ServiceFileError(f"--user {user!r} is not a user name")
    user_line = f"User={user}\n" if user else ""
    # systemd expands %-specifiers in these settings: a literal % is written %%.
    cwd = _safe(str(Path.cwd()), "the working directory").replace("%", "%%")
    return (
        "# /etc/systemd/system/ccnews-tick.service\n"
        "[Unit]\nDescription=ccnews: start due crawls\nAfter=network-online.target\n\n"
        f"[Service]\nType=oneshot\n{user_line}WorkingDirectory={cwd}\n"
        f"ExecStart={_tick_command(data_dir, sources_file).replace('%', '%%')}\n"
        # The crawls outlive the tick: they run in their own sessions, so keep them on exit.
        "KillMode=process\n\n"
        "# /etc/systemd/system/ccnews-tick.timer\n"
        "[Unit]\nDescription=ccnews: tick every minute\n\n"
        "[Timer]\nOnCalendar=*-*-* *:*:00\nPersistent=true\n\n"
        "[Install]\nWantedBy=timers.target\n\n"
        "# then: systemctl daemon-reload && systemctl enable --now ccnews-tick.timer\n"
    )
