"""Running crawls from Python (the command line, the demo and tests call this)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.settings import Settings

from crawler import settings as default_settings
from crawler.extensions import run_summary


def crawl_settings(
    *,
    data_dir: str | Path | None = None,
    sources_file: str | Path | None = None,
    since: str | None = None,
    max_articles: int = 0,
    overrides: dict[str, Any] | None = None,
    probe: bool = False,
) -> Settings:
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    if data_dir:
        settings.set("ARCHIVE_DATA_DIR", str(data_dir), priority="cmdline")
    if sources_file:
        settings.set("CCNEWS_SOURCES", str(sources_file), priority="cmdline")
    if since:
        settings.set("CCNEWS_SINCE", since, priority="cmdline")
    if max_articles:
        settings.set("CCNEWS_MAX_ARTICLES", int(max_articles), priority="cmdline")
        settings.set("CLOSESPIDER_ITEMCOUNT", int(max_articles), priority="cmdline")
    if probe:
        settings.set("CCNEWS_PROBE", True, priority="cmdline")
        settings.set("CLOSESPIDER_ITEMCOUNT", 1, priority="cmdline")
        settings.set("INDEX_ENABLED", False, priority="cmdline")
    for name, value in (overrides or {}).items():
        settings.set(name, value, priority="cmdline")
    return settings


class OneLineErrors(logging.Filter):
    """For the command line: an error is one line (what and where), never a traceback or an item dump.
    The full detail stays available with `-v` and in Scrapyd's logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and (record.exc_info or len(record.getMessage()) > 300):
            exc = record.exc_info[1] if record.exc_info else None
            message = record.getMessage().splitlines()[0][:200]
            if exc is not None:
                message += f" ({type(exc).__name__}: {str(exc)[:200]})"
            record.msg, record.args = message, ()
            record.exc_info = record.exc_text = None
        return True


def share_budgets(settings: Settings, sources: int) -> None:
    """Split the process's budgets between the sources crawled side by side: Scrapy's limits are
    per source, and 39 outlets of real pages each with its own requests in flight and 5 MB of
    fetched pages waiting for the same two extraction workers took the crawl process to 2 GB.

    Each source gets `CCNEWS_REQUESTS_BUDGET` / n concurrent requests (at least 2, at most
    CONCURRENT_REQUESTS) and `CCNEWS_PAGES_BUDGET` / n bytes of pages waiting for extraction
    (Scrapy's SCRAPER_SLOT_MAX_ACTIVE_SIZE: at least 500 KB, at most its 5 MB). A value given on the
    command line is kept."""
    from scrapy.settings import SETTINGS_PRIORITIES

    for name, budget, floor, ceiling in (
        ("CONCURRENT_REQUESTS", "CCNEWS_REQUESTS_BUDGET", 2, settings.getint("CONCURRENT_REQUESTS")),
        ("SCRAPER_SLOT_MAX_ACTIVE_SIZE", "CCNEWS_PAGES_BUDGET", 500_000, 5_000_000),
    ):
        if settings.getpriority(name) <= SETTINGS_PRIORITIES["project"]:
            each = settings.getint(budget) // max(1, sources)
            settings.set(name, min(ceiling, max(floor, each)), priority="project")


def run_crawl(
    source_ids: list[str],
    settings: Settings,
    progress: Callable[[dict[str, dict[str, Any]]], None] | None = None,
    interval: float = 1.0,
) -> dict[str, dict[str, Any]]:
    """Crawl the sources concurrently in this process; returns a summary per source.

    Twisted's reactor runs once per process, so call this once per process (the command line
    does; the scheduler starts a process per crawl).
    """
    from crawler.spiders.news import NewsSpider

    share_budgets(settings, len(source_ids))
    process = CrawlerProcess(settings)
    if settings.getbool("CCNEWS_ONE_LINE_ERRORS"):
        for handler in logging.getLogger().handlers:
            handler.addFilter(OneLineErrors())
        # Deprecation notices (scrapy-redis still uses older Scrapy APIs) are for developers.
        warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning)
    summaries: dict[str, dict[str, Any]] = {}
    crawlers = {}
    handlers = []  # Scrapy's signals hold weak references: keep the closures alive
    for sid in source_ids:
        crawler = process.create_crawler(NewsSpider)
        crawlers[sid] = crawler

        def closed(spider, reason, sid=sid, crawler=crawler):
            summaries[sid] = run_summary(crawler.stats.get_stats(), reason)

        handlers.append(closed)
        crawler.signals.connect(closed, signal=signals.spider_closed)
        d = process.crawl(crawler, source=sid)

        def failed(failure, sid=sid):
            summaries[sid] = {"finish_reason": "failed", "failure": failure.getErrorMessage(),
                              **{k: 0 for k in ("pages_fetched", "articles_new", "articles_updated",
                                                "articles_unchanged", "articles_skipped")},
                              "skipped": {}, "errors": 1, "error_kinds": {}}

        d.addErrback(failed)

    if progress is not None:
        from twisted.internet import task

        def report():
            progress({sid: c.stats.get_stats() if c.stats else {} for sid, c in crawlers.items()})

        loop = task.LoopingCall(report)
        loop.start(interval, now=False)
    process.start(stop_after_crawl=True, install_signal_handlers=True)
    if settings.get("CCNEWS_CPU_REPORT"):
        from crawler.budget import BUDGET

        stats = [c.stats.get_stats() if c.stats else {} for c in crawlers.values()]
        BUDGET.write(settings.get("CCNEWS_CPU_REPORT"), sum(s.get("downloader/response_count", 0) for s in stats),
                     sum(s.get("ccnews/articles/new", 0) + s.get("ccnews/articles/updated", 0) for s in stats))
    return summaries
