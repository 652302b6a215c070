"""Text and metadata from an article's pages, with trafilatura."""

from __future__ import annotations

import logging

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.dates import parse_date
from crawler.discovery import host_allowed
from crawler.extract import NotAnArticle, Page, extract_article


logger = logging.getLogger(__name__)


class ExtractPipeline:
    """Sets `item["article"]`; drops pages that are not articles and counts why."""

    def __init__(self, crawler, min_words: int):
        self.crawler = crawler
        self.stats = crawler.stats
        self.min_words = min_words

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawler.settings.getint("CCNEWS_MIN_WORDS"))

    def process_item(self, item):
        adapter = ItemAdapter(item)
        if not adapter.get("pages") or adapter.get("skip"):
            return item  # a 304: nothing to extract
        spider_source = self.crawler.spider.source
        pages = [Page(p["url"], p["text"]) for p in adapter["pages"]]
        try:
            article = extract_article(
                pages, timezone=spider_source.timezone, language=spider_source.language,
                min_words=self.min_words,
            )
        except NotAnArticle as exc:
            # Counted here; recorded (so `--resume` need not fetch it again) and dropped by the archive.
            self.stats.inc_value(f"ccnews/skipped/{exc.reason}")
            adapter["skip"] = exc.reason
            adapter["article"] = {"url": adapter["url"], "canonical_url": None}
            return item
        except Exception as exc:  # noqa: BLE001 - one hostile page must not stop the crawl
            self.stats.inc_value("ccnews/errors/extraction")
            logger.warning("extraction failed for %s: %s: %s", adapter["url"], type(exc).__name__, exc)
            raise DropItem(f"extraction failed: {adapter['url']}") from None
        if article["canonical_url"] and not host_allowed(article["canonical_url"], spider_source.allowed_domains):
            # A republished copy pointing at the original outlet stays a record of its own.
            article["canonical_url"] = None
        if not article["published"] and adapter.get("listed_date"):
            dt = parse_date(adapter["listed_date"], spider_source.timezone)
            article["published"] = dt.isoformat() if dt else None
        since = self.crawler.spider.since
        published = parse_date(article["published"]) if article["published"] else None
        if since and published and published < since:
            self.stats.inc_value("ccnews/skipped/before_since")
            raise DropItem(f"published before --since: {adapter['url']}")
        adapter["article"] = article
        return item
