"""Items per second through the Redis writer (`ccnews ingest`), and how long a tick takes.

    python bench/ingest.py --items 5000 --sources 50

Starts its own redis-server on a free 127.0.0.1 port. Pushes N crawled items (distinct texts, and
a second run of near-identical ones, the worst case for copy grouping), times the writer draining
them into a fresh archive and index; then times `ccnews schedule tick` over a registry of S
sources that are all due (their crawls go to a dead loopback port and end at once).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def push(url: str, n: int, similar: bool) -> None:
    import redis
    from test_redis import push_items

    if not similar:
        push_items(url, n)
        return
    from crawler.items import ArticleItem
    from crawler.redis_io import ITEMS_KEY, serialize_item

    client = redis.Redis.from_url(url)
    pipe = client.pipeline()
    for i in range(n):
        text = f"Pemerintah kota menggelar festival batik tahunan di alun-alun dengan ratusan perajin. Nomor {i}."
        item = ArticleItem(
            source="bench",
            url=f"http://127.0.0.1:1/s/{i}",
            pages=[{"url": f"http://127.0.0.1:1/s/{i}", "body": text.encode(), "encoding": "utf-8", "headers": {}}],
            fetched_at="2026-01-01T00:00:00+00:00",
            article={
                "url": f"http://127.0.0.1:1/s/{i}",
                "title": f"S {i}",
                "text": text,
                "published": "2025-01-01T10:00:00+07:00",
                "language": "id",
                "pages": 1,
            },
            tags={"cities": [], "fields": [], "network": [], "relevance": 0.0},
        )
        pipe.rpush(ITEMS_KEY, serialize_item(item))
    pipe.execute()


def wait_for_redis(url: str, timeout: float = 10.0) -> None:
    """Until the server answers PING (not a fixed sleep)."""
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def drain(url: str, data: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ccnews", "ingest", "--redis", url, "--data-dir", str(data), "--idle-exit", "1"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0 - 1.0  # less the idle second it waits before exiting


def tick_time(n_sources: int, work: Path) -> float:
    reg = work / "many.toml"
    reg.write_text("".join(
        f'[[source]]\nid = "s{i}"\nname = "S{i}"\nhomepage = "http://127.0.0.1:9/"\nfeeds = ["http://127.0.0.1:9/f{i}"]\n'
        f'delay = 0.0\n\n' for i in range(n_sources)))
    data = work / "tick"
    env = {**os.environ, "CCNEWS_DATA": str(data), "CCNEWS_SOURCES": str(reg)}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ccnews", "schedule", "tick"], cwd=REPO, env=env, check=True, capture_output=True
    )
    elapsed = time.perf_counter() - t0
    # The started crawls (of an unreachable port) end on their own; wait for each run's end.
    import sqlite3

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            running = sqlite3.connect(data / "archive.db").execute(
                "select count(*) from crawl_runs where outcome = 'running'").fetchone()[0]
        except sqlite3.Error:
            running = 1
        if not running:
            break
        time.sleep(0.2)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--sources", type=int, default=50)
    args = ap.parse_args()
    server = shutil.which("redis-server")
    if not server:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", tmp], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(url)
        try:
            push(url, args.items, similar=False)
            distinct_s = drain(url, work / "a")
            push(url, args.items, similar=True)
            similar_s = drain(url, work / "b")
        finally:
            proc.terminate()
        tick_s = tick_time(args.sources, work)
    print(f"{'items':34} {args.items}")
    print(f"{'writer items/s (distinct texts)':34} {args.items / distinct_s:8.1f}   ({distinct_s:.1f} s)")
    print(f"{'writer items/s (near-identical)':34} {args.items / similar_s:8.1f}   ({similar_s:.1f} s)")
    print(f"{'tick with ' + str(args.sources) + ' due sources, s':34} {tick_s:8.2f}")


if __name__ == "__main__":
    main()
