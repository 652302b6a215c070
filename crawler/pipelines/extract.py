"""Text, metadata and tags from an article's pages: trafilatura, in worker processes.

Extraction is CPU work; with `CCNEWS_EXTRACT_PROCESSES` > 0 it runs in a process pool so the crawl
(downloads, parsing of feeds and listings, archive writes) never waits on it and both cores work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from archive.cpu import LEDGER, stage
from archive.processes import die_with_parent, spawn_context
from archive.urls import is_front_page, url_key
from crawler.budget import BUDGET
from crawler.dates import parse_date
from crawler.discovery import NOT_ARTICLES, host_allowed
from crawler.extract import NotAnArticle, Page, extract_article

logger = logging.getLogger(__name__)


def extract_and_tag(pages: list[tuple[str, str]], timezone: str, language: str | None, min_words: int,
                    hints: dict[str, Any] | None = None, source_id: str | None = None,
                    ) -> tuple[str, Any, Any, dict[str, Any]]:
    """("ok", article, tags, cpu), ("skip", reason, None, cpu) or ("error", message, None, cpu): what
    a worker returns; `cpu` is what the call cost by stage, and the worker's CPU total so far."""
    from crawler.tagging import tag

    before, start = LEDGER.snapshot(), time.thread_time()
    try:
        article = extract_article([Page(u, h) for u, h in pages], timezone=timezone, language=language,
                                  min_words=min_words, hints=hints, source_id=source_id)
        with stage("extract: tagging"):
            tags = tag(article.get("title"), article.get("text")).as_dict()
        result = "ok", article, tags
    except NotAnArticle as exc:
        result = "skip", exc.reason, None
    except Exception as exc:  # noqa: BLE001 - one hostile page must not stop the crawl
        result = "error", f"{type(exc).__name__}: {exc}", None
    stages = LEDGER.since(before)
    stages["extract: other"] = max(0.0, time.thread_time() - start - sum(stages.values()))
    return (*result, {"stages": stages, "pid": os.getpid(), "process": time.process_time()})


def plausible_canonical(url: str, source) -> bool:
    """Whether a page's canonical link may name the same article elsewhere on its site.

    A republished copy pointing at the original outlet stays a record of its own; the front page,
    a listing or a section page is never an article's canonical (templates that print one on
    every page would otherwise merge every article into one).
    """
    if not host_allowed(url, source.scope):
        return False
    key = url_key(url)
    if is_front_page(key):
        return False
    if key in {url_key(u) for u in [source.homepage, *source.listings, *source.feeds, *source.sitemaps]}:
        return False
    return not NOT_ARTICLES.search(urlsplit(url).path)


def extraction_pool(processes: int) -> ProcessPoolExecutor:
    """The worker processes that run `extract_and_tag`, for a crawl, an import or a backfill."""
    # "spawn": workers do not inherit the reactor, its threads or open sockets.
    # Not max_tasks_per_child: with it the pool hung here after replacing a worker (a
    # 10,000-page crawl stopped with both sides waiting).
    return ProcessPoolExecutor(processes, mp_context=spawn_context(), initializer=die_with_parent,
                               initargs=(os.getpid(),))


def prepare_article(article: dict[str, Any], source, fallback_date: str | None = None,
                    fallback_kind: str = "listing") -> dict[str, Any]:
    """What the archive keeps of an extracted article: a canonical link only where it is plausible,
    and a publication date from the page, else from the listing (or a capture's date, an upper
    bound), saying which."""
    if article["canonical_url"] and not plausible_canonical(article["canonical_url"], source):
        article["canonical_url"] = None
    article["date_source"] = "page" if article["published"] else None
    if not article["published"] and fallback_date:
        dt = parse_date(fallback_date, source.timezone)
        article["published"] = dt.isoformat() if dt else None
        article["date_source"] = fallback_kind if dt else None
    return article


class _SharedPool:
    """One pool of extraction workers for every source crawled in this process: `ccnews crawl
    --all` runs the sources side by side, and a pool each (one worker per core per source) started
    two processes of about 250 MB per source: 78 for 39 sources, 20 GB. Shut down when the last
    source closes."""

    pool: ProcessPoolExecutor | None = None
    users = 0

    @classmethod
    def take(cls, processes: int) -> ProcessPoolExecutor:
        if cls.pool is None:
            from twisted.internet import reactor

            cls.pool = extraction_pool(processes)
            # A second Ctrl-C stops the reactor without closing the spiders: drop the queued pages
            # then, rather than extracting them all before the process can exit.
            reactor.addSystemEventTrigger("before", "shutdown", cls._abandon)
        cls.users += 1
        return cls.pool

    @classmethod
    def give_back(cls) -> None:
        cls.users -= 1
        if cls.users <= 0 and cls.pool is not None:
            pool, cls.pool, cls.users = cls.pool, None, 0
            pool.shutdown(wait=True, cancel_futures=True)

    @classmethod
    def _abandon(cls) -> None:
        if cls.pool is not None:
            cls.pool.shutdown(wait=False, cancel_futures=True)


class ExtractPipeline:
    """Sets `item["article"]` and `item["tags"]`; marks pages that are not articles and counts why."""

    def __init__(self, crawler, min_words: int, processes: int):
        self.crawler = crawler
        self.stats = crawler.stats
        self.min_words = min_words
        self.processes = processes
        self.pool: ProcessPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler):
        n = crawler.settings.getint("CCNEWS_EXTRACT_PROCESSES", -1)
        if n < 0:
            n = os.cpu_count() or 1
        return cls(crawler, crawler.settings.getint("CCNEWS_MIN_WORDS"), n)

    def open_spider(self):
        BUDGET.opened()
        if self.processes > 0:
            self.pool = _SharedPool.take(self.processes)

    def close_spider(self):
        if self.pool is not None:
            _SharedPool.give_back()
            self.pool = None

    async def process_item(self, item):
        adapter = ItemAdapter(item)
        if not adapter.get("pages") or adapter.get("skip"):
            return item  # a 304: nothing to extract
        source = self.crawler.spider.source
        args = ([(p["url"], p["text"]) for p in adapter["pages"]], source.timezone, source.language, self.min_words,
                source.extract or None, source.id)
        if self.pool is not None:
            status, value, tags, cpu = await asyncio.get_running_loop().run_in_executor(
                self.pool, extract_and_tag, *args)
            BUDGET.worker(cpu)
        else:  # extracted in this process: its stages are in this process's ledger already
            status, value, tags, _cpu = extract_and_tag(*args)
        if status == "skip":
            # Counted here; recorded (so `--resume` need not fetch it again) and dropped by the archive.
            self.stats.inc_value(f"ccnews/skipped/{value}")
            adapter["skip"] = value
            adapter["article"] = {"url": adapter["url"], "canonical_url": None}
            return item
        if status == "error":
            self.stats.inc_value("ccnews/errors/extraction")
            logger.warning("extraction failed for %s: %s", adapter["url"], value[:300])
            raise DropItem(f"extraction failed: {adapter['url']}")
        article = prepare_article(value, source, adapter.get("listed_date"))
        since = self.crawler.spider.since
        published = parse_date(article["published"]) if article["published"] else None
        if since and published and published < since:
            self.stats.inc_value("ccnews/skipped/before_since")
            raise DropItem(f"published before --since: {adapter['url']}")
        adapter["article"] = article
        adapter["tags"] = tags
        # The decoded text went to the extractor; the archive keeps the bytes.
        for page in adapter["pages"]:
            page.pop("text", None)
        return item
