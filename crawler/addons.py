"""Scrapy add-ons: settings that follow from other settings, applied when a crawler is built.

Redis mode is one of them. Setting CCNEWS_REDIS_URL (`ccnews crawl --redis URL`, its environment
variable, or `scrapy crawl news -s CCNEWS_REDIS_URL=...` under Scrapyd) makes crawler processes
share scrapy-redis's request queue and dupefilter (each URL fetched once in total, whichever
worker fetches it) and push their items to Redis for the one `ccnews ingest` writer, instead of
writing SQLite. Workers of one crawl share a run name (CCNEWS_RUN, default: today's UTC date).
Before, the settings module read the environment at import time to swap the pipelines: a second
way for settings to travel, which `-s` could not reach.
"""

from __future__ import annotations

from scrapy.settings import SETTINGS_PRIORITIES


class RedisMode:
    def update_settings(self, settings) -> None:
        url = settings.get("CCNEWS_REDIS_URL")
        if not url:
            return
        for name, value in {
            "REDIS_URL": url,
            "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            # Keep the shared queue when one worker finishes: the others are still using it.
            "SCHEDULER_PERSIST": True,
            "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.FifoQueue",
            "REDIS_ITEMS_KEY": "ccnews:items",
            "REDIS_ITEMS_SERIALIZER": "crawler.redis_io.serialize_item",
            "ITEM_PIPELINES": {
                "crawler.pipelines.extract.ExtractPipeline": 300,
                "crawler.pipelines.tag.TagPipeline": 400,
                "scrapy_redis.pipelines.RedisPipeline": 800,
            },
            "EXTENSIONS": {"crawler.extensions.RunToRedis": 500},
        }.items():
            # The project's settings outrank add-ons; these follow from CCNEWS_REDIS_URL, so they
            # take the place of the project's at its own priority (a -s on the command line still wins).
            settings.set(name, value, priority=max(settings.getpriority(name) or 0, SETTINGS_PRIORITIES["addon"]))
