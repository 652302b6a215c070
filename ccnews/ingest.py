"""The one archive writer of a multi-machine setup: items and run records from Redis into SQLite.

Reliable queue (Redis's documented pattern): each item is atomically moved from `ccnews:items` to
`ccnews:items:processing` (LMOVE) and removed from there only after the SQLite transaction that
stores it has committed. Items left in the processing list by a writer that died are stored again
at the next start; storing is an idempotent upsert keyed by URL and content hash, so an item the
dead writer had already committed is recognised as unchanged, and every item ends up archived
exactly once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from archive import Archive
from archive.errors import CcnewsError
from crawler.pipelines.archive import remember_skip
from crawler.pipelines.archive import store_item as archive_item
from crawler.redis_io import ITEMS_KEY, RUNS_KEY, deserialize_item

PROCESSING = ITEMS_KEY + ":processing"
RUNS_PROCESSING = RUNS_KEY + ":processing"


class IngestError(CcnewsError):
    """Redis cannot be used (shown as one line)."""


def connect(url: str) -> redis.Redis:
    try:
        server = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)
        server.ping()
    except (redis.RedisError, ValueError) as exc:
        raise IngestError(f"cannot use Redis at {url}: {exc}") from None
    return server


def store_item(archive: Archive, data: dict[str, Any], counts: Counter) -> None:
    """One crawled item into the archive (inside the caller's transaction)."""
    if data.get("skip"):
        remember_skip(archive, data)
        counts["skipped_" + data["skip"]] += 1
        return
    if not data.get("pages") or not data.get("article"):
        counts["empty"] += 1
        return
    outcome, _ = archive_item(archive, data)
    counts[outcome] += 1


def _drain_runs(server: redis.Redis, archive: Archive) -> int:
    n = 0
    for raw in server.lrange(RUNS_PROCESSING, 0, -1):
        archive.record_run(json.loads(raw))
        server.lrem(RUNS_PROCESSING, 1, raw)
        n += 1
    while True:
        raw = server.lmove(RUNS_KEY, RUNS_PROCESSING, "LEFT", "RIGHT")
        if raw is None:
            return n
        archive.record_run(json.loads(raw))
        server.lrem(RUNS_PROCESSING, 1, raw)
        n += 1


def _commit(server: redis.Redis, archive: Archive, batch: list[bytes], counts: Counter) -> None:
    with archive.transaction():
        for raw in batch:
            try:
                store_item(archive, deserialize_item(raw), counts)
            except (ValueError, KeyError, TypeError):
                counts["malformed"] += 1  # counted and dropped: one bad item must not block the queue
            except sqlite3.IntegrityError:
                counts["conflict"] += 1  # rolled back to its savepoint; the rest of the batch goes on
    pipe = server.pipeline(transaction=True)
    for raw in batch:
        pipe.lrem(PROCESSING, 1, raw)
    pipe.execute()


def ingest(server: redis.Redis, archive: Archive, data_dir: Path, *, batch_size: int = 200,
           idle_exit: float | None = None, stop_after_runs: int | None = None, index_every: float = 10.0,
           say: Callable[[str], None] = lambda _m: None) -> Counter:
    """Move items into the archive until stopped (SIGINT/SIGTERM), until the queue has been empty
    for `idle_exit` seconds, or until `stop_after_runs` crawl runs have reported their end with the
    queue empty (a worker reports its run after its last item, so nothing of theirs is left).
    Indexes and groups copies every `index_every` seconds of work."""
    from indexer import catch_up

    counts: Counter = Counter()
    stopping = {"flag": False}

    def stop(signum, _frame):
        stopping["flag"] = True

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        left = server.lrange(PROCESSING, 0, -1)
        if left:
            say(f"replaying {len(left)} item(s) a previous writer took but did not commit")
            for start in range(0, len(left), batch_size):
                _commit(server, archive, left[start : start + batch_size], counts)
            counts["replayed"] += len(left)
        idle_since = time.monotonic()
        last_index = time.monotonic()
        # A writer killed after its commit but before indexing left articles unindexed: index them
        # now, even if no new item ever arrives.
        dirty = bool(left) or archive.count_unindexed() > 0
        while not stopping["flag"]:
            batch = []
            first = server.blmove(ITEMS_KEY, PROCESSING, 1.0, "LEFT", "RIGHT")
            if first is not None:
                batch.append(first)
                while len(batch) < batch_size:
                    raw = server.lmove(ITEMS_KEY, PROCESSING, "LEFT", "RIGHT")
                    if raw is None:
                        break
                    batch.append(raw)
            if batch:
                _commit(server, archive, batch, counts)
                counts["items"] += len(batch)
                dirty = True
                idle_since = time.monotonic()
            counts["runs"] += _drain_runs(server, archive)
            if dirty and (not batch or time.monotonic() - last_index >= index_every):
                counts["indexed"] += catch_up(archive, data_dir)[1]
                last_index = time.monotonic()
                dirty = False
                say(f"{counts['items']} item(s): {counts['new']} new, {counts['updated']} updated, "
                    f"{counts['unchanged']} unchanged")
            if idle_exit is not None and not batch and time.monotonic() - idle_since >= idle_exit:
                break
            if stop_after_runs is not None and counts["runs"] >= stop_after_runs and not batch \
                    and not server.llen(ITEMS_KEY):
                break
    except redis.RedisError as exc:
        raise IngestError(f"Redis failed while ingesting: {exc}") from None
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if dirty:
        counts["indexed"] += catch_up(archive, data_dir)[1]
    return counts
