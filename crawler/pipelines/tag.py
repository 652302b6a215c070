"""Creative-city tags and relevance for each extracted article."""

from __future__ import annotations

from itemadapter import ItemAdapter

from crawler.tagging import RELEVANT, tag


class TagPipeline:
    """Sets `item["tags"]`; for a source with keep = "relevant", marks the rest to be skipped."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        adapter = ItemAdapter(item)
        article = adapter.get("article") or {}
        if "not_modified" in article or adapter.get("skip"):
            return item
        if not adapter.get("tags"):  # the extraction worker usually tagged it already
            adapter["tags"] = tag(article.get("title"), article.get("text")).as_dict()
        if self.crawler.spider.source.keep == "relevant" and adapter["tags"]["relevance"] < RELEVANT:
            adapter["skip"] = "not_relevant"
            self.crawler.stats.inc_value("ccnews/skipped/not_relevant")
        return item
