"""Store extracted articles, with their raw pages, in the archive."""

from __future__ import annotations

from itemadapter import ItemAdapter

from scrapy.exceptions import DropItem

from archive import Archive, ArchiveError, resolve_data_dir


class ArchivePipeline:
    """Upserts each article; counts new, updated and unchanged ones."""

    def __init__(self, crawler, data_dir, probe: bool):
        self.crawler = crawler
        self.data_dir = data_dir
        self.stats = crawler.stats
        self.probe = probe
        self.archive: Archive | None = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(crawler, resolve_data_dir(settings.get("ARCHIVE_DATA_DIR")), settings.getbool("CCNEWS_PROBE"))

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
            self.archive.mark_unchanged(article["not_modified"], adapter["fetched_at"])
            self.stats.inc_value("ccnews/articles/unchanged")
            return item
        if adapter.get("skip"):
            urls = [adapter["url"], adapter.get("requested_url"), article.get("canonical_url")]
            self.archive.remember_skipped(urls, adapter["source"], adapter["skip"], (adapter.get("tags") or {}).get("relevance"))
            raise DropItem(f"{adapter['skip']}: {adapter['url']}")  # counted where it was judged
        first = adapter["pages"][0]
        headers = first.get("headers") or {}
        record = {
            **article,
            "source": adapter["source"],
            "fetched_at": adapter["fetched_at"],
            "etag": headers.get("etag"),
            "last_modified": headers.get("last-modified"),
        }
        pages = [{k: p[k] for k in ("url", "status", "headers", "content_type", "encoding", "body", "fetched_at")}
                 for p in adapter["pages"]]
        aliases = [adapter.get("requested_url")] if adapter.get("requested_url") else []
        try:
            outcome, article_id = self.archive.store_article(record, pages, aliases, tags=adapter.get("tags"))
        except ArchiveError as exc:
            self.stats.inc_value("ccnews/errors/archive")
            raise DropItem(f"not archived: {exc}") from None
        self.stats.inc_value(f"ccnews/articles/{outcome}")
        article["id"] = article_id
        # The bodies are safely archived; do not keep megabytes alive in the item.
        adapter["pages"] = [{"url": p["url"]} for p in pages]
        return item
