"""Crawl-level bookkeeping: a crawl_runs row per run, and the index brought up to date at close."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from archive import Archive, ArchiveError, resolve_data_dir

logger = logging.getLogger(__name__)


INTERRUPTED_REASONS = {"shutdown", "cancelled", "interrupted", "killed"}


def judge_outcome(summary: dict[str, Any]) -> str:
    """ok, failed or interrupted, from the crawl's own figures, whatever its process said.

    A run that fetched nothing, got no successful answer, or met only errors has failed, even when
    Scrapy (or Scrapyd) calls it "finished".
    """
    stats = summary.get("stats") or {}
    if summary.get("finish_reason") in INTERRUPTED_REASONS:
        return "interrupted"
    if summary.get("finish_reason") in ("failed", "disk_full") or not summary.get("pages_fetched"):
        return "failed"
    answered = sum(
        v for k, v in stats.items() if k.startswith("downloader/response_status_count/2") or k.endswith("/304")
    )
    if not answered:
        return "failed"
    # Items that passed every pipeline: archived here, or pushed to Redis for the writer.
    kept = max(sum(summary.get(k, 0) for k in ("articles_new", "articles_updated", "articles_unchanged")),
               stats.get("item_scraped_count", 0))
    if not kept and summary.get("errors"):
        return "failed"  # errors and nothing archived, however many pages were skipped
    return "ok"


def run_summary(stats: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    """What a user wants to know about a run, from the crawl's own stats."""
    skipped = {k.split("/", 2)[2]: v for k, v in stats.items() if k.startswith("ccnews/skipped/")}
    if stats.get("offsite/filtered"):
        # Requests and redirects to hosts outside the source (another outlet, a cloud metadata
        # address): Scrapy dropped them; the run says so.
        skipped["off_site"] = stats["offsite/filtered"]
    errors = {k.split("/", 2)[2]: v for k, v in stats.items() if k.startswith("ccnews/errors/")}
    n_errors = sum(errors.values()) + stats.get("spider_exceptions/count", 0)
    summary = {
        "finish_reason": reason or stats.get("finish_reason"),
        "pages_fetched": stats.get("downloader/response_count", 0),
        "articles_new": stats.get("ccnews/articles/new", 0),
        "articles_updated": stats.get("ccnews/articles/updated", 0),
        "articles_unchanged": stats.get("ccnews/articles/unchanged", 0),
        "articles_skipped": sum(skipped.values()),
        "skipped": skipped,
        "errors": n_errors,
        "error_kinds": errors,
        "stats": {k: v for k, v in stats.items() if isinstance(v, (int, float, str))},
    }
    summary["outcome"] = judge_outcome(summary)
    if summary["outcome"] == "failed":
        summary["failure"] = failure_reason(summary)
    return summary


# Why a failed run failed, from the errors it counted, most telling first.
_REASONS = [
    ("disk_full", "the disk holding the archive is full"),
    ("dns", "DNS lookup failed"),
    ("ConnectionRefusedError", "connection refused"),
    ("DownloadConnectionRefusedError", "connection refused"),
    ("timeout", "the server did not answer in time"),
    ("too_large", "pages larger than DOWNLOAD_MAXSIZE"),
    ("decompression_bomb", "compressed pages larger than DOWNLOAD_MAXSIZE once decompressed"),
    ("redirect_loop", "too many redirects"),
    ("archive", "the archive could not be written"),
    ("extraction", "extraction failed"),
]


def failure_reason(summary: dict[str, Any]) -> str:
    """One line on why a run failed, for the crawl's summary and `ccnews runs`."""
    stats = summary.get("stats") or {}
    if stats.get("ccnews/failure"):
        return str(stats["ccnews/failure"])
    kinds = summary.get("error_kinds") or {}
    for key, text in _REASONS:
        if kinds.get(key):
            return text
    statuses = sorted(k.removeprefix("http_") for k in kinds if k.startswith("http_"))
    if statuses:
        return "HTTP " + ", ".join(statuses) + " on every entry" if not summary.get("articles_new") else \
            "HTTP " + ", ".join(statuses)
    if (summary.get("skipped") or {}).get("robots_disallowed"):
        return "robots.txt forbids the crawl"
    if kinds:
        return "errors: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    if not summary.get("pages_fetched"):
        return "no page could be fetched"
    return "nothing was archived"


def count_item_errors(crawler):
    """A handler for `item_error`: a pipeline raised, the article is lost for this run, and the
    run must say so."""

    def handler(item, response, spider, failure):
        crawler.stats.inc_value(f"ccnews/errors/item_{failure.type.__name__}")

    return handler


class RunRecorder:
    """Writes a crawl_runs row when a spider opens and fills it in when it closes."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.data_dir = resolve_data_dir(crawler.settings.get("ARCHIVE_DATA_DIR"))
        self.run_id: int | None = None
        self.summary: dict[str, Any] | None = None

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.getbool("CCNEWS_PROBE"):
            raise NotConfigured("probe runs are not recorded")
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(count_item_errors(crawler), signal=signals.item_error, weak=False)
        return ext

    def spider_opened(self, spider):
        with Archive(self.data_dir) as archive:
            # Scrapyd passes its job id as the spider argument `_job`.
            self.run_id = archive.start_run(spider.source.id, job=getattr(spider, "_job", None))
        spider.crawler.stats.set_value("ccnews/run_id", self.run_id)

    def spider_closed(self, spider, reason):
        stats = self.crawler.stats.get_stats()
        self.summary = run_summary(stats, reason)
        if self.run_id is None:
            return
        try:
            with Archive(self.data_dir) as archive:
                archive.finish_run(self.run_id, self.summary)
        except ArchiveError as exc:
            logger.error("could not record the run: %s", exc)


# The indexer beside a crawl commits when this many articles wait, or this long after its last
# commit; and when a source's crawl ends.
FOLLOW_BATCH = 200
FOLLOW_EVERY_S = 10.0


def follow_archive(data_dir: str, conn, parent: int | None = None) -> None:
    """In its own process beside a crawl: group copies and index what the crawl archived, in
    batches. Asked "flush" on `conn` (a source's crawl has ended), it brings the index up to the
    archive and answers with what it did since its last answer; asked "stop" (the last source has
    ended), it does the same and exits.

    A crawl killed hard closes its end of the pipe: the follower then finishes its batch and exits.
    """
    from archive.cpu import LEDGER
    from archive.processes import die_with_parent
    from indexer import IndexBusy, IndexProblem, catch_up

    # Ctrl-C reaches the whole process group: the crawl decides, and tells this process to finish.
    if parent is not None:
        die_with_parent(parent)
    counts = {"regrouped": 0, "indexed": 0}
    problem = {"error": None, "failure": None}

    def answer() -> None:
        conn.send({**counts, **problem, "cpu": {"stages": LEDGER.snapshot(), "total": time.process_time(),
                                                "pid": os.getpid()}})
        counts.update(regrouped=0, indexed=0)

    request, last = None, time.monotonic()
    try:
        with Archive(data_dir) as archive:
            while True:
                # Few large commits: each commit writes a segment and merges small ones (commits of
                # 40 articles cost 27 ms of CPU per article, of 200 about 8).
                due = request or time.monotonic() - last >= FOLLOW_EVERY_S or \
                    archive.count_unindexed() >= FOLLOW_BATCH
                try:
                    # While the crawl goes on, a rebuild holding the index is waited out a round
                    # at a time; when asked, for up to a minute.
                    if due:
                        # Only what has been grouped: indexed before, a copy would be indexed twice.
                        upto = archive.db.execute("select max(id) from articles").fetchone()[0] or 0
                        grouped, added = catch_up(archive, data_dir, upto=upto, wait=60.0 if request else 0.0)
                        counts["regrouped"] += grouped
                        counts["indexed"] += added
                        last = time.monotonic()
                except IndexBusy:
                    if request:
                        raise
                if request:
                    answer()
                    if request == "stop":
                        return
                    request = None
                if conn.poll(2.0):
                    request = conn.recv()  # EOFError when the crawl is gone
    except EOFError:
        return
    except (IndexProblem, ArchiveError) as exc:
        problem["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - the crawl's articles are archived; say so in one line
        problem["failure"] = f"{type(exc).__name__}: {exc}"
    # Nothing more is indexed in this run: each source still to close is told why.
    try:
        while True:
            if request is None:
                request = conn.recv()
            answer()
            if request == "stop":
                return
            request = None
    except (EOFError, OSError):
        pass


class _SharedFollower:
    """One indexing process (`follow_archive`) for every source crawled in this process: they all
    write to one archive and one index, and `ccnews crawl --all` started one each (a process of
    about 150 MB per source, each waiting for the others' index lock)."""

    process = None
    conn = None
    users = 0

    @classmethod
    def take(cls, data_dir: Path) -> None:
        if cls.process is None:
            from archive.processes import spawn_context

            ctx = spawn_context()  # as the extraction pool: no forked reactor, no Ctrl-C of its own
            cls.conn, child = ctx.Pipe()
            cls.process = ctx.Process(target=follow_archive, args=(str(data_dir), child, os.getpid()),
                                      name="ccnews-indexer", daemon=True)
            cls.process.start()
            child.close()
        cls.users += 1

    @classmethod
    def give_back(cls) -> dict[str, Any]:
        """The index brought up to the archive; the process stopped if no source is left. Returns
        its answer (counts since its last answer, or what went wrong)."""
        if cls.process is None:  # it ended under an earlier source, which said so
            return {"failure": "the indexing process had already ended"}
        cls.users -= 1
        last = cls.users <= 0
        process, result = cls.process, None
        try:
            cls.conn.send("stop" if last else "flush")
            while result is None:
                if cls.conn.poll(1.0):
                    result = cls.conn.recv()
                elif not process.is_alive():
                    break
        except (EOFError, OSError):
            pass
        if last or result is None:
            process.join(timeout=30)
            cls.process, cls.conn, cls.users = None, None, 0
        if result is None:
            result = {"failure": f"the indexing process ended with code {process.exitcode}"}
        return result


class IndexOnClose:
    """Indexes the articles this crawl adds or changes, while it crawls and up to its close.

    A process of its own (one for all the sources crawled in this process) groups copies and
    indexes in batches as articles are archived, so the crawl does not wait on Whoosh and the
    index is in step with the archive when each source's crawl ends.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.data_dir = resolve_data_dir(crawler.settings.get("ARCHIVE_DATA_DIR"))
        self.following = False

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("INDEX_ENABLED") or crawler.settings.getbool("CCNEWS_PROBE"):
            raise NotConfigured("indexing is off")
        if crawler.settings.get("REDIS_URL"):
            raise NotConfigured("in Redis mode the writer (`ccnews ingest`) indexes")
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider):
        _SharedFollower.take(self.data_dir)
        self.following = True

    def spider_closed(self, spider, reason):
        if not self.following:  # closed before it opened
            return
        self.following = False
        result = _SharedFollower.give_back()
        if "cpu" in result:
            from crawler.budget import BUDGET

            BUDGET.indexer(result["cpu"])
        if reason == "disk_full" and (result.get("error") or result.get("failure")):
            # The crawl already said the disk is full; the index could not grow either.
            self.crawler.stats.inc_value("ccnews/errors/index")
            return
        if result.get("error"):
            logger.error("index not updated: %s", result["error"])
            self.crawler.stats.set_value("ccnews/index_error", result["error"])
            return
        if result.get("failure"):
            logger.error("index not updated (%s); run `ccnews reindex`", result["failure"])
            self.crawler.stats.inc_value("ccnews/errors/index")
            return
        self.crawler.stats.set_value("ccnews/regrouped", result["regrouped"])
        self.crawler.stats.set_value("ccnews/indexed", result["indexed"])


class RunToRedis:
    """In Redis mode a worker has no archive: its run record goes to Redis for the writer, and the
    run's shared queue and dupefilter get an expiry once the last worker is done with them."""

    KEY_TTL_S = 7 * 86400

    def __init__(self, crawler):
        self.crawler = crawler
        self.started: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("REDIS_URL"):
            raise NotConfigured("not in Redis mode")
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(count_item_errors(crawler), signal=signals.item_error, weak=False)
        return ext

    def spider_opened(self, spider):
        from archive.db import now_iso

        self.started = now_iso()

    def spider_closed(self, spider, reason):
        import json
        import os
        import socket

        import redis

        from archive.db import now_iso
        from crawler.redis_io import RUNS_KEY

        summary = run_summary(self.crawler.stats.get_stats(), reason)
        if not summary["pages_fetched"] and not summary["errors"] and summary["outcome"] == "failed":
            summary["outcome"] = "idle"  # other workers had already taken the whole shared queue
        record = {"source": spider.source.id, "started": self.started, "finished": now_iso(),
                  "pid": os.getpid(), "host": socket.gethostname(), "job": getattr(spider, "_job", None),
                  **summary}
        settings = self.crawler.settings
        try:
            server = redis.Redis.from_url(settings.get("REDIS_URL"))
            server.rpush(RUNS_KEY, json.dumps(record, default=str))
            for key in (settings.get("SCHEDULER_QUEUE_KEY"), settings.get("SCHEDULER_DUPEFILTER_KEY")):
                if key:
                    server.expire(key % {"spider": spider.name}, self.KEY_TTL_S)
        except redis.RedisError as exc:
            logger.error("run record not sent to Redis: %s", exc)
