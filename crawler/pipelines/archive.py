"""Store extracted articles, with their raw pages, in the archive."""

from __future__ import annotations

import logging

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from archive import Archive, ArchiveError, resolve_data_dir
from archive.cpu import stage
from archive.errors import ArchiveFull

logger = logging.getLogger(__name__)


def close_crawl(crawler, reason: str) -> None:
    """Ask the engine to close the spider with `reason`, as Scrapy's CloseSpider extension does."""
    engine = crawler.engine
    if hasattr(engine, "close_spider_async"):  # Scrapy 2.14+
        from scrapy.utils.defer import deferred_from_coro

        deferred_from_coro(engine.close_spider_async(reason=reason))
    else:  # pragma: no cover - older Scrapy
        engine.close_spider(crawler.spider, reason)


class ArchivePipeline:
    """Upserts each article; counts new, updated and unchanged ones."""

    def __init__(self, crawler, data_dir, probe: bool, limit: int = 0):
        self.crawler = crawler
        self.data_dir = data_dir
        self.stats = crawler.stats
        self.probe = probe
        self.archive: Archive | None = None
        self.full = False
        self.limit = limit  # --max-articles: the crawl closes at it, pages still in flight are not kept
        self.kept = 0

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(crawler, resolve_data_dir(settings.get("ARCHIVE_DATA_DIR")), settings.getbool("CCNEWS_PROBE"),
                   settings.getint("CCNEWS_MAX_ARTICLES"))

    def open_spider(self):
        if not self.probe:
            self.archive = Archive(self.data_dir)
            self.archive.upsert_sources([self.crawler.spider.source.as_dict()])

    def close_spider(self):
        if self.archive is not None:
            self.archive.close()

    def process_item(self, item):
        adapter = ItemAdapter(item)
        article = adapter["article"]
        if self.archive is None:
            if adapter.get("skip"):
                raise DropItem(f"{adapter['skip']}: {adapter['url']}")
            self.stats.set_value("ccnews/probe/title", article.get("title"))
            self.stats.set_value("ccnews/probe/url", adapter["url"])
            self.stats.inc_value("ccnews/articles/new")
            return item
        if "not_modified" in article:
            with stage("archive: write"):
                self.archive.mark_unchanged(article["not_modified"], adapter["fetched_at"])
            self.stats.inc_value("ccnews/articles/unchanged")
            return item
        if adapter.get("skip"):
            with stage("archive: write"):
                remember_skip(self.archive, adapter)
            raise DropItem(f"{adapter['skip']}: {adapter['url']}")  # counted where it was judged
        if self.limit and self.kept >= self.limit:
            self.stats.inc_value("ccnews/skipped/over_limit")  # fetched before the crawl could close
            raise DropItem(f"over --max-articles: {adapter['url']}")
        self.kept += 1
        try:
            with stage("archive: write"):
                outcome, article_id = store_item(self.archive, adapter)
        except ArchiveFull as exc:
            # Fetching on would only fetch what cannot be kept: stop the crawl, say why once.
            self.stats.inc_value("ccnews/errors/disk_full")
            if not self.full:
                self.full = True
                logger.error("%s", exc)
                self.crawler.stats.set_value("ccnews/failure", str(exc))
                close_crawl(self.crawler, "disk_full")
            raise DropItem("not archived: the disk is full") from None
        except ArchiveError as exc:
            self.stats.inc_value("ccnews/errors/archive")
            raise DropItem(f"not archived: {exc}") from None
        self.stats.inc_value(f"ccnews/articles/{outcome}")
        article["id"] = article_id
        # The bodies are safely archived; do not keep megabytes alive in the item.
        adapter["pages"] = [{"url": p["url"]} for p in adapter["pages"]]
        return item


def remember_skip(archive: Archive, item) -> None:
    """Record the URLs a page judged not worth keeping was reached by (never its canonical link:
    that names another page, which may well be an article)."""
    urls = [item.get("url"), item.get("requested_url")]
    archive.remember_skipped(urls, item["source"], item["skip"], (item.get("tags") or {}).get("relevance"))


def store_item(archive: Archive, item) -> tuple[str, int]:
    """One extracted article and its raw pages into the archive: the one path from a crawled item
    to archive rows, for the crawl's pipeline and for the Redis writer alike."""
    article = item["article"]
    pages = item["pages"]
    headers = pages[0].get("headers") or {}
    record = {k: v for k, v in article.items() if k != "id"}
    record.update(source=item["source"], fetched_at=item.get("fetched_at"),
                  etag=headers.get("etag"), last_modified=headers.get("last-modified"))
    pages = [{k: p.get(k) for k in ("url", "status", "headers", "content_type", "encoding", "body", "fetched_at",
                                     "origin", "archive", "capture_time", "replay_url")}
             for p in pages]
    record["origin"] = "web-archive" if pages[0].get("archive") else "live"
    aliases = [item["requested_url"]] if item.get("requested_url") else []
    return archive.store_article(record, pages, aliases, tags=item.get("tags"))
