"""Items are logged by URL and reason, never whole: an item carries the page's raw bytes, and a
hostile site could otherwise fill the disk with its own pages through our logs."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import logformatter


def item_url(item: Any) -> str:
    try:
        return str(item.get("url") or item.get("requested_url") or "?")[:500]
    except AttributeError:
        return "?"


class UrlOnlyLogFormatter(logformatter.LogFormatter):
    def dropped(self, item, exception, response, spider):
        reason = str(exception).splitlines()[0][:300] if str(exception) else type(exception).__name__
        return {"level": logging.INFO, "msg": "Dropped %(url)s: %(reason)s",
                "args": {"url": item_url(item), "reason": reason}}

    def item_error(self, item, exception, response, spider):
        return {"level": logging.ERROR, "msg": "Error processing %(url)s",
                "args": {"url": item_url(item)}}

    def scraped(self, item, response, spider):
        return {"level": logging.DEBUG, "msg": "Scraped %(url)s", "args": {"url": item_url(item)}}
