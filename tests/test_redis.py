"""Several machines: crawler processes share scrapy-redis's queue and push items through a real
redis-server on 127.0.0.1; one writer moves them into the archive, surviving kill -9."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import REPO, Sites, articles

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


REDIS = shutil.which("redis-server")
if REDIS is None:
    if os.environ.get("CI"):
        raise RuntimeError("redis-server is missing: .ci/run installs it")
    pytest.skip("redis-server is not installed", allow_module_level=True)


@pytest.fixture
def redis_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def env_for(data: Path, registry: Path, redis_url: str | None, run: str = "t") -> dict:
    env = {**os.environ, "CCNEWS_DATA": str(data), "CCNEWS_SOURCES": str(registry), "CCNEWS_RUN": run}
    env.pop("CCNEWS_REDIS_URL", None)
    if redis_url:
        env["CCNEWS_REDIS_URL"] = redis_url
    return env


def ingest(data: Path, redis_url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ccnews", "ingest", "--redis", redis_url, "--data-dir", str(data), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


class SharedGate:
    """Holds article requests at the fixture site until two are waiting at once. Each worker has
    one request in flight (CONCURRENT_REQUESTS=1), so two waiting requests are one from each
    worker: both have taken work from the shared queue before either can finish it alone."""

    def __init__(self, server, waiting_for: int = 2, timeout: float = 120):
        self.cond = threading.Condition()
        self.waiting = 0
        self.opened = False
        self.waiting_for = waiting_for
        self.timeout = timeout
        handle = server._handle

        def gated(req):
            if "/read/" in req.path:
                with self.cond:
                    self.waiting += 1
                    if self.waiting >= self.waiting_for:
                        self.opened = True
                        self.cond.notify_all()
                    self.cond.wait_for(lambda: self.opened, timeout=self.timeout)
            handle(req)

        server._handle = gated


def test_two_crawlers_and_one_writer_archive_every_article_once(redis_url, tmp_path):
    sites = Sites(tmp_path / "sites").start()
    try:
        # The same crawl without Redis, for the list of articles to expect.
        ref = tmp_path / "ref"
        subprocess.run([sys.executable, "-m", "ccnews", "crawl", "warta-uji", "-s", "AUTOTHROTTLE_START_DELAY=0.01"],
                       cwd=REPO, env=env_for(ref, sites.registry, None), capture_output=True, timeout=240, check=True)
        expected = sorted(a["url"].split("/", 3)[3] for a in articles(ref))
        sites.outlet.requests.clear()
        gate = SharedGate(sites.outlet)

        data = tmp_path / "data"
        # The writer stops when both workers have reported the end of their run: no idle timeout.
        writer = subprocess.Popen(
            [sys.executable, "-m", "ccnews", "ingest", "--redis", redis_url, "--data-dir", str(data),
             "--stop-after-runs", "2"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        one_at_a_time = ["-s", "CONCURRENT_REQUESTS=1", "-s", "AUTOTHROTTLE_START_DELAY=0.01"]
        # One worker told by the environment, the other by crawl settings, as under Scrapyd.
        as_setting = ["-s", f"CCNEWS_REDIS_URL={redis_url}", "-s", "CCNEWS_RUN=t"]
        workers = [subprocess.Popen([sys.executable, "-m", "ccnews", "crawl", "warta-uji", *one_at_a_time, *extra],
                                    cwd=REPO, env=env_for(tmp_path / "w", sites.registry, url),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for url, extra in ((redis_url, []), (None, as_setting))]
        for w in workers:
            _out, err = w.communicate(timeout=300)
            assert w.returncode == 0, err[-2000:]
        _out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err[-2000:]
    finally:
        sites.stop()
    assert gate.opened and gate.waiting >= 2  # both workers had an article request in flight at once
    rows = articles(data)
    got = sorted(a["url"].split("/", 3)[3] for a in rows)
    assert got == expected  # every article, each once
    fetched = Counter(
        path for path, _m, status in sites.outlet.requests if status in (200, 304) and path != "/robots.txt"
    )
    assert fetched and max(fetched.values()) == 1, {p: n for p, n in fetched.items() if n > 1}
    db = sqlite3.connect(data / "archive.db")
    runs = db.execute("select pages_fetched, outcome from crawl_runs").fetchall()
    assert len(runs) == 2 and all(pages > 1 for pages, _o in runs), runs  # robots.txt and real work, each
    assert {outcome for _p, outcome in runs} == {"ok"}
    # Together the workers fetched what the site answered: each URL once, robots.txt once each.
    assert sum(pages for pages, _o in runs) == len(sites.outlet.requests)
    # ... and the writer indexed them.
    hits = json.loads(
        subprocess.run(
            [sys.executable, "-m", "ccnews", "search", "Icheon", "--json", "--data-dir", str(data)],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert len(hits) == 1


def push_items(redis_url: str, n: int) -> None:
    """n distinct crawled items, serialized as crawler processes do."""
    import random

    import redis

    from crawler.items import ArticleItem
    from crawler.redis_io import ITEMS_KEY, serialize_item

    words = "batik kota kreatif perajin museum festival motif pesisir canting warna pameran desa".split()
    rng = random.Random(n)
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline()
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(60))
        html = f"<html><body><p>Artikel nomor {i} tentang batik.</p></body></html>".encode()
        item = ArticleItem(
            source="bench",
            url=f"http://127.0.0.1:1/read/{i}/artikel",
            requested_url=f"http://127.0.0.1:1/read/{i}/artikel",
            pages=[
                {
                    "url": f"http://127.0.0.1:1/read/{i}/artikel",
                    "status": 200,
                    "headers": {},
                    "content_type": "text/html",
                    "encoding": "utf-8",
                    "body": html,
                    "fetched_at": "2026-01-01T00:00:00+00:00",
                    "text": html.decode(),
                }
            ],
            fetched_at="2026-01-01T00:00:00+00:00",
            article={
                "url": f"http://127.0.0.1:1/read/{i}/artikel",
                "canonical_url": None,
                "title": f"Artikel {i}",
                "text": f"Artikel nomor {i}. {body}",
                "authors": [],
                "published": "2025-01-01T10:00:00+07:00",
                "modified": None,
                "language": "id",
                "description": None,
                "image": None,
                "tags": [],
                "word_count": 15,
                "pages": 1,
            },
            tags={"cities": [], "fields": [], "network": [], "relevance": 0.0},
        )
        pipe.rpush(ITEMS_KEY, serialize_item(item))
    pipe.execute()


def test_writer_killed_mid_stream_loses_and_duplicates_nothing(redis_url, tmp_path):
    import redis

    n = 3000
    push_items(redis_url, n)
    data = tmp_path / "data"
    writer = subprocess.Popen([sys.executable, "-m", "ccnews", "ingest", "--redis", redis_url, "--data-dir", str(data),
                               "--batch", "25"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stored() -> int:
        try:
            with sqlite3.connect(data / "archive.db", timeout=5) as db:
                return db.execute("select count(*) from articles").fetchone()[0]
        except sqlite3.Error:
            return 0

    deadline = time.monotonic() + 120
    while stored() < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.kill()  # SIGKILL: no chance to clean up
    writer.wait()
    halfway = stored()
    assert 0 < halfway < n
    client = redis.Redis.from_url(redis_url)
    result = ingest(data, redis_url, "--idle-exit", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    with sqlite3.connect(data / "archive.db") as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        total, distinct = db.execute("select count(*), count(distinct url) from articles").fetchone()
    assert total == distinct == n
    assert client.llen("ccnews:items") == 0 and client.llen("ccnews:items:processing") == 0


def test_unreachable_redis_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = ingest(tmp_path / "d", f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 1 and "cannot use Redis" in result.stderr and "Traceback" not in result.stderr


def test_a_restarted_writer_with_an_empty_queue_indexes_what_a_killed_writer_stored(redis_url, tmp_path):
    from archive import Archive
    from indexer import matching_ids

    data = tmp_path / "data"
    with Archive(data) as archive:
        # What a writer killed between its SQLite commit and its indexing left behind.
        for n in range(30):
            archive.store_article(
                {
                    "url": f"http://127.0.0.1:1/read/{n}/artikel",
                    "source": "s",
                    "title": f"Artikel {n}",
                    "text": f"Kabar batik nomor {n} dari Pekalongan untuk pembaca setia.",
                },
                pages=[{"url": f"http://127.0.0.1:1/read/{n}/artikel", "body": b"<html></html>"}],
            )
        assert archive.count_unindexed() == 30
    result = ingest(data, redis_url, "--idle-exit", "0.5")
    assert result.returncode == 0, result.stderr
    assert len(matching_ids(data, "batik")) == 30
    with Archive(data) as archive:
        assert archive.count_unindexed() == 0
