"""The one generic spider: every outlet is an entry in the source registry, not code."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest, NotConfigured

try:  # Scrapy 2.14+ has its own download exceptions
    from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError
except ImportError:  # pragma: no cover - older Scrapy
    DownloadCancelledError = DownloadTimeoutError = type("_Never", (Exception,), {})
from scrapy.http import Response, TextResponse
from scrapy.selector import Selector
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

from archive import Archive, resolve_data_dir, url_key
from archive.db import now_iso
from archive.urls import TRACKING_PARAMS, strip_tracking
from crawler import discovery as disc
from crawler.dates import parse_date
from crawler.encoding import page_text
from crawler.items import ArticleItem
from crawler.registry import RegistryError, Source, load_registry

_KEEP_HEADERS = ("content-type", "etag", "last-modified", "date", "content-language")


def nearby_date(anchor, levels: int = 3, crowd: int = 50) -> str | None:
    """The <time datetime> of a listing item: in the link's nearest ancestors (up to `levels`),
    stopping at one with more than `crowd` children (that is the list itself, not this item).
    Searching every ancestor's whole subtree made a 100,000-link page cost 80 s of CPU."""
    el = anchor
    for _ in range(levels):
        el = el.getparent()
        # Counted up to crowd + 1 only: len() of an lxml element walks all its children.
        if el is None or sum(1 for _ in itertools.islice(el, crowd + 1)) > crowd:
            return None
        found = el.find(".//time[@datetime]")
        if found is not None:
            return found.get("datetime")
    return None


class NewsSpider(scrapy.Spider):
    """Crawl one source: `scrapy crawl news -a source=radar-pekalongan [-a since=2024-01-01]`."""

    name = "news"
    # 304 answers to our conditional GETs come to the callback, not to the error path.
    custom_settings: dict[str, Any] = {}

    def __init__(self, source: str | None = None, since: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not source:
            raise NotConfigured("give a source: scrapy crawl news -a source=ID")
        self.source_id = source
        self.since_arg = since

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):  # noqa: ANN001 - Scrapy's signature
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        try:
            registry = load_registry(settings.get("CCNEWS_SOURCES"))
        except RegistryError as exc:
            raise NotConfigured(str(exc)) from None
        if spider.source_id not in registry:
            raise NotConfigured(f"unknown source {spider.source_id!r} (see `ccnews sources list`)")
        spider.source = registry[spider.source_id]
        spider.allowed_domains = spider.source.allowed_domains
        # The crawler's settings are not frozen yet when the spider is built.
        crawler.settings.set("DOWNLOAD_DELAY", spider.source.delay, priority="spider")
        since = spider.since_arg or settings.get("CCNEWS_SINCE")
        spider.since = parse_date(since, spider.source.timezone) if since else None
        if since and spider.since is None:
            raise NotConfigured(f"--since {since!r} is not a date")
        spider.listing_depth = settings.getint("CCNEWS_LISTING_DEPTH")
        spider.max_pages = settings.getint("CCNEWS_MAX_ARTICLE_PAGES")
        spider.max_links = settings.getint("CCNEWS_MAX_LINKS_PER_PAGE")
        spider.refetch = settings.getbool("CCNEWS_REFETCH_KNOWN")
        spider.pattern = re.compile(spider.source.article_pattern) if spider.source.article_pattern else None
        spider.known = {}
        if settings.get("REDIS_URL"):
            # Workers share one queue and dupefilter per source and run; they have no archive.
            run = settings.get("CCNEWS_RUN") or datetime.now(UTC).strftime("%Y%m%d")
            prefix = f"ccnews:{spider.source.id}:{run}"
            crawler.settings.set("SCHEDULER_QUEUE_KEY", f"{prefix}:requests", priority="spider")
            crawler.settings.set("SCHEDULER_DUPEFILTER_KEY", f"{prefix}:dupefilter", priority="spider")
        elif not settings.getbool("CCNEWS_PROBE"):
            # One read when the crawl opens, so the spider itself never blocks on the database.
            # Not Scrapy's JOBDIR: here a request restored from it went out without a robots.txt check.
            with Archive(resolve_data_dir(settings.get("ARCHIVE_DATA_DIR"))) as archive:
                spider.known = archive.known_url_keys(spider.source.id, all_skipped=settings.getbool("CCNEWS_RESUME"))
        spider.scheduled: set[str] = set()
        src = spider.source
        spider.configured_all = {url_key(u) for u in [*src.feeds, *src.sitemaps, *src.listings]}
        spider.configured = set(spider.configured_all)
        spider.failed_config, spider.discovered, spider.discovering, spider.stale = [], {}, False, []
        spider.url_report: dict[str, dict[str, Any]] = {}
        spider.stale_days = settings.getint("CCNEWS_STALE_DAYS")
        return spider

    # -- start ------------------------------------------------------------------------------

    async def start(self):
        src: Source = self.source
        for url in src.feeds:
            yield self._xml_request(url, "feed")
        for url in src.sitemaps:
            yield self._xml_request(url, "sitemap")
        for url in src.listings:
            yield scrapy.Request(url, callback=self.parse_listing, cb_kwargs={"depth": 0},
                                 errback=self.on_error, meta={"ccnews_kind": "listing"})
        if not src.feeds and not src.sitemaps:
            for request in self._discovery_requests():
                yield request

    def _report(self, url: str, **fields: Any) -> None:
        """What one configured (or discovered) feed, sitemap or listing gave, for `sources check`."""
        entry = self.url_report.setdefault(url, {"url": url, "configured": url_key(url) in self.configured_all})
        entry.update(fields)
        self.crawler.stats.set_value("ccnews/check/urls", json.dumps(list(self.url_report.values())))

    def _accepted_share(self, urls: list[str]) -> tuple[int, int, str | None]:
        """(entries on the source's hosts, of those the pattern accepts, one it rejects)."""
        on_site = [u for u in urls if disc.host_allowed(u, self.source.scope) and not disc.not_a_page(u)]
        if self.pattern is None:
            return len(on_site), len(on_site), None
        rejected = [u for u in on_site if not self.pattern.search(strip_tracking(u, TRACKING_PARAMS))]
        return len(on_site), len(on_site) - len(rejected), rejected[0] if rejected else None

    def _configured_failed(self, url: str, reason: str) -> list[scrapy.Request]:
        """A configured feed, sitemap or listing failed: say so once, and discover in this same run
        what the site offers (robots.txt, the homepage's <link rel=alternate>, usual paths), so
        one wrong URL in the registry never hides a working feed."""
        if url_key(url) in self.configured_all:
            self._report(url, ok=False, problem=reason)
        if url_key(url) not in self.configured:
            return []
        self.configured.discard(url_key(url))
        self.failed_config.append(f"{url} ({reason})")
        self.crawler.stats.set_value("ccnews/config/failed", "; ".join(self.failed_config))
        self.logger.warning("configured %s failed (%s): looking for what the site offers", url, reason)
        return list(self._discovery_requests())

    def _found(self, url: str, entries: int) -> None:
        """A feed or sitemap that discovery found and that lists entries: what to add to the registry."""
        if url_key(url) in self.configured_all or not entries:
            return
        self.discovered.setdefault(url, entries)
        self.crawler.stats.set_value(
            "ccnews/discovery/found", "; ".join(f"{u} ({n} entries)" for u, n in self.discovered.items())
        )

    def _discovery_requests(self):
        if self.discovering:
            return
        self.discovering = True
        home = self.source.homepage
        yield scrapy.Request(disc.urljoin(home, "/robots.txt"), callback=self.parse_robots,
                             errback=self.on_probe_error)
        yield scrapy.Request(home, callback=self.parse_homepage, errback=self.on_probe_error)
        for path in disc.USUAL_FEEDS:
            yield self._xml_request(disc.urljoin(home, path), "feed", probe=True)
        for path in disc.USUAL_SITEMAPS:
            yield self._xml_request(disc.urljoin(home, path), "sitemap", probe=True)

    def _xml_request(self, url: str, kind: str, probe: bool = False) -> scrapy.Request:
        return scrapy.Request(
            url, callback=self.parse_xml, cb_kwargs={"kind": kind, "probe": probe},
            errback=self.on_probe_error if probe else self.on_error, meta={"ccnews_kind": kind},
        )

    # -- discovery --------------------------------------------------------------------------

    def parse_robots(self, response: Response):
        text = response.text if isinstance(response, TextResponse) else response.body.decode("utf-8", "replace")
        for url in disc.sitemaps_from_robots(text, response.url):
            self._inc("discovery/robots_sitemaps")
            yield self._xml_request(url, "sitemap")

    def parse_homepage(self, response: Response):
        if not isinstance(response, TextResponse):
            return
        for link in page_selector(response).xpath('//link[@rel="alternate"][@href]'):
            kind = (link.attrib.get("type") or "").lower()
            if "rss" in kind or "atom" in kind or "rdf" in kind:
                self._inc("discovery/homepage_feeds")
                yield self._xml_request(response.urljoin(link.attrib["href"]), "feed")
        if not self.source.listings:
            # With nothing configured, the homepage is the first listing.
            yield from self.parse_listing(response, depth=self.listing_depth)

    def parse_xml(self, response: Response, kind: str, probe: bool = False):
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE"))
            except Exception as exc:  # noqa: BLE001 - gzip raises several unrelated types
                self._skip("malformed_xml", f"{response.url}: bad gzip ({type(exc).__name__})")
                yield from self._configured_failed(response.url, "bad gzip")
                return
        try:
            root = disc.parse_xml(body)
        except disc.MalformedXML as exc:
            if not probe:
                self._skip("malformed_xml", f"{response.url}: {exc}")
                yield from self._configured_failed(response.url, "not XML")
            return
        found = disc.xml_kind(root)
        if found is None:
            if not probe:
                self._skip("malformed_xml", f"{response.url}: neither a feed nor a sitemap")
                yield from self._configured_failed(response.url, "neither a feed nor a sitemap")
            return
        if found == "sitemapindex":
            self._inc("discovery/sitemaps")
            for entry in disc.sitemap_entries(root, response.url):
                if self._older_than_since(entry.date):
                    self._inc("discovery/sitemaps_before_since")
                    continue
                yield self._xml_request(entry.url, "sitemap")
            return
        entries = list(disc.sitemap_entries(root, response.url) if found == "urlset" else
                       disc.feed_entries(root, response.url))
        self._inc("discovery/sitemaps" if found == "urlset" else "discovery/feeds")
        if not entries:
            yield from self._configured_failed(response.url, "no entries")
            return
        self._found(response.url, len(entries))
        newest = max(
            (d for d in (parse_date(e.date, self.source.timezone) for e in entries if e.date) if d), default=None
        )
        if url_key(response.url) in self.configured_all or response.url in self.discovered:
            on_site, accepted, rejected = self._accepted_share([e.url for e in entries])
            self._report(response.url, ok=True, kind=found, status=response.status, entries=len(entries),
                         newest=newest.isoformat() if newest else None, on_site=on_site, accepted=accepted,
                         rejected_example=rejected)
        if found != "urlset" and newest is not None:
            self._check_stale(response.url, newest)
        for entry in entries:
            request = self.article_request(entry.url, entry.date, via=found)
            if request is not None:
                yield request

    def _check_stale(self, url: str, newest: datetime) -> None:
        """A feed whose newest entry is months old is reported: the outlet moved its feed."""
        if (datetime.now(UTC) - newest).days > self.stale_days:
            self.stale.append(f"{url} (newest entry {newest.date().isoformat()})")
            self.crawler.stats.set_value("ccnews/stale_feeds", "; ".join(self.stale))
            # Said once in the run's summary ("stale feed: ..."); here for -v only.
            self.logger.info("feed %s is stale: its newest entry is from %s", url, newest.date().isoformat())

    def parse_listing(self, response: Response, depth: int):
        if not isinstance(response, TextResponse):
            self._skip("not_html", response.url)
            return
        self._inc("discovery/listing_pages")
        seen_next = False
        # The cap goes inside the XPath: a 100,000-link page must not become 100,000 selectors.
        anchors = page_selector(response).xpath(f"(//a[@href])[position() <= {self.max_links + 1}]")
        if len(anchors) > self.max_links:
            self._inc("discovery/links_truncated")
        links = []
        for anchor in anchors[: self.max_links]:
            url = disc.clean_link(anchor.attrib["href"], response.url)
            if url:
                links.append((url, anchor))
        pager, pager_links = self._pager(response.url, [u for u, _a in links])
        candidates = 0
        for url, anchor in links:
            text = " ".join(anchor.xpath("string(.)").get("").split())
            rel = (anchor.attrib.get("rel") or "").lower()
            marked = rel == "next" or bool(disc.NEXT_TEXT.match(text))
            if marked or url in pager_links:
                if (not seen_next and depth < self.listing_depth and disc.host_allowed(url, self.source.scope)
                        and (marked or url == pager)):
                    seen_next = True
                    yield response.follow(url, callback=self.parse_listing, cb_kwargs={"depth": depth + 1},
                                          errback=self.on_error, meta={"ccnews_kind": "listing"})
                continue
            if self.pattern is None and not disc.looks_like_article(url):
                self._inc("discovery/not_article_like")  # a listing link without a slug or id
                continue
            date = nearby_date(anchor.root)
            request = self.article_request(url, date, via="listing")
            candidates += request is not None or url_key(url) in self.scheduled
            if request is not None:
                yield request
        if depth == 0 and url_key(response.url) in self.configured_all:
            on_site, accepted, rejected = self._accepted_share(
                [u for u, _a in links if self.pattern is not None or disc.looks_like_article(u)])
            self._report(response.url, ok=bool(candidates), kind="listing", status=response.status,
                         entries=candidates, on_site=on_site, accepted=accepted, rejected_example=rejected,
                         next_page=pager)
        if depth == 0 and not candidates:
            yield from self._configured_failed(response.url, "no article link")

    def _pager(self, current: str, urls: list[str]) -> tuple[str | None, set[str]]:
        """This listing's pager: (the next page's URL, every pager link). A pager is recognised by
        its shape only when its numbers read as one: page N+1 of a numbered pager, or the next
        offset of one counted in items (`/kategori/lokal/30`, `/60`: offset 30 is the second page,
        not page 30). Links to `/event/887/` and `/event/912/` are articles, not a pager."""
        here = disc.page_number(current)
        now = here[1] if here else 1
        numbered: dict[int, str] = {}
        for url in urls:
            there = disc.page_number(url)
            if there is not None and disc.same_without_page(current, url):
                numbered.setdefault(there[1], url)
        above = sorted(n for n in numbered if n > now)
        if not above:
            return None, set()
        nxt = above[0]
        sequence = nxt == now + 1
        offsets = (here is None and len(above) >= 2 and above[1] == 2 * nxt) or (
            here is not None and now > 1 and (nxt - now) > 1 and now % (nxt - now) == 0)
        if not (sequence or offsets):
            return None, set()
        return numbered[nxt], set(numbered.values())

    # -- articles ---------------------------------------------------------------------------

    def article_request(self, url: str, listed_date: str | None, via: str) -> scrapy.Request | None:
        if not disc.host_allowed(url, self.source.scope):
            self._inc("discovery/off_site")
            return None
        if disc.not_a_page(url):
            self._inc("discovery/not_a_page")  # an image, a PDF, a feed: not an article's page
            return None
        if self._continuation_of_known(url):
            self._skip("continuation")  # fetched from its page 1, and merged into it
            return None
        url = strip_tracking(url)  # one fingerprint per article, also across workers sharing a dupefilter
        # The pattern sees the URL without tracking parameters: `-\d{6,}$` must match `...-2172305?utm_source=rss`.
        if self.pattern is not None and not self.pattern.search(strip_tracking(url, TRACKING_PARAMS)):
            self._inc("discovery/pattern_mismatch")
            return None
        key = url_key(url)
        if key in self.scheduled:
            return None
        self.scheduled.add(key)
        self._inc("discovery/entries")
        if self._older_than_since(listed_date):
            self._skip("before_since")
            return None
        headers = {}
        known = self.known.get(key)
        if known and known.get("skipped"):
            self._skip("already_skipped")  # judged on an earlier run: not relevant, or (resuming) not an article
            return None
        if known:
            listed = parse_date(listed_date, self.source.timezone) if listed_date else None
            fetched = parse_date(known["fetched_at"])
            changed = bool(listed and fetched and listed > fetched)
            if not (changed or self.refetch or known.get("etag") or known.get("last_modified")):
                self._skip("already_archived")
                return None
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
        return scrapy.Request(
            url, callback=self.parse_article, errback=self.on_error, headers=headers,
            meta={"handle_httpstatus_list": [304], "ccnews_kind": "article", "listed_date": listed_date,
                  "known_id": known["id"] if known else None, "requested_url": url, "via": via},
        )

    def _continuation_of_known(self, url: str) -> bool:
        """Page 2+ of an article this crawl fetches or has archived: decided from evidence (its page 1
        is known and shares its path), never from the URL's shape alone (`?p=3289` is a WordPress
        post, `/event/887/` an id)."""
        found = disc.page_number(url)
        if not found or found[1] < 2:
            return False
        first = url_key(found[0])
        return first in self.scheduled or bool(self.known.get(first, {}).get("id"))

    def parse_article(self, response: Response):
        meta = response.meta
        if response.status == 304:
            self._inc("articles/not_modified")
            yield ArticleItem(source=self.source.id, url=response.url, requested_url=meta.get("requested_url"),
                              pages=[], fetched_at=now_iso(), article={"not_modified": meta.get("known_id")})
            return
        if not isinstance(response, TextResponse) or not _is_html(response):
            self._skip("not_html", response.url)
            return
        pages = list(meta.get("ccnews_pages", []))
        pages.append(_page_record(response))
        next_url = self._next_article_page(response, pages) if len(pages) < self.max_pages else None
        if next_url:
            self._inc("articles/continuation_pages")
            yield response.follow(
                next_url, callback=self.parse_article, errback=self.on_continuation_error,
                meta={**{k: meta[k] for k in ("listed_date", "known_id", "requested_url", "via") if k in meta},
                      "ccnews_pages": pages, "ccnews_kind": "article"},
            )
            return
        yield self._item(pages, meta)

    def _item(self, pages: list[dict[str, Any]], meta: dict[str, Any]) -> ArticleItem:
        return ArticleItem(source=self.source.id, url=pages[0]["url"], requested_url=meta.get("requested_url"),
                           pages=pages, listed_date=meta.get("listed_date"), fetched_at=now_iso())

    def _next_article_page(self, response: TextResponse, pages: list[dict[str, Any]]) -> str | None:
        """The link to page N+1 of this article, if it is split over pages."""
        first = pages[0]["url"]
        current = len(pages)
        have = {url_key(p["url"]) for p in pages}
        base = disc.page_number(first)
        # Page 1 is the article itself, unless it says `?page=1`: `?p=103` is a WordPress post.
        article_key = url_key(base[0] if base and base[1] == 1 else first)
        # lxml directly, and the cheap test first: a real page holds hundreds of links and few
        # carry a page number (Selector objects and URL joins for all of them cost 30 ms a page).
        hrefs = (a.get("href") for a in page_selector(response).root.iter("a") if a.get("href"))
        for href in itertools.islice(hrefs, self.max_links):
            if not disc.may_be_page_link(href):
                continue
            url = disc.clean_link(href, response.url)
            # Linked from page 1 with the next number: evidence enough, `?p=N` included.
            found = disc.page_number(url, disc.ALL_PAGE_PARAMS) if url else None
            if not found or found[1] != current + 1:
                continue
            if url_key(found[0]) == article_key and url_key(url) not in have:
                return url
        return None

    def on_continuation_error(self, failure):
        """A missing page 2 still leaves page 1 worth keeping."""
        self._count_error(failure)
        meta = failure.request.meta
        if meta.get("ccnews_pages"):
            yield self._item(meta["ccnews_pages"], meta)

    # -- errors and counting ----------------------------------------------------------------

    def on_error(self, failure):
        reason = self._count_error(failure)
        if failure.request.meta.get("ccnews_kind") in ("feed", "sitemap", "listing"):
            yield from self._configured_failed(failure.request.url, reason)

    def _count_error(self, failure) -> str:
        """Count and log one failed request; returns the reason in a few words."""
        request = failure.request
        reason = failure.type.__name__
        if failure.check(HttpError):
            status = failure.value.response.status
            reason = f"HTTP {status}"
            self._inc(f"errors/http_{status}")
            self.logger.warning("HTTP %s for %s", status, request.url)
        elif failure.check(TimeoutError, TCPTimedOutError, DownloadTimeoutError):
            self._inc("errors/timeout")
            self.logger.warning("timed out: %s", request.url)
            reason = "timed out"
        elif failure.check(DownloadCancelledError):
            self._inc("errors/too_large")
            self.logger.warning("refused, larger than DOWNLOAD_MAXSIZE: %s", request.url)
        elif failure.check(IgnoreRequest) and "during decompression" in failure.getErrorMessage():
            # A small compressed body that inflates past DOWNLOAD_MAXSIZE (Scrapy stops inflating).
            self._inc("errors/decompression_bomb")
            self.logger.warning("refused, larger than DOWNLOAD_MAXSIZE once decompressed: %s", request.url)
            reason = "compressed page too large once decompressed"
        elif failure.check(IgnoreRequest) and "max redirections" in failure.getErrorMessage():
            self._inc("errors/redirect_loop")
            self.logger.warning("too many redirects (a loop?): %s", request.url)
            reason = "too many redirects"
        elif failure.check(IgnoreRequest) and "robots.txt" in failure.getErrorMessage():
            self._skip("robots_disallowed", request.url)
        elif failure.check(DNSLookupError):
            self._inc("errors/dns")
            self.logger.warning("DNS lookup failed: %s", request.url)
            reason = "DNS lookup failed"
        else:
            if "ConnectionRefused" in failure.type.__name__:
                reason = "connection refused"
            self._inc(f"errors/{failure.type.__name__}")
            self.logger.warning("%s for %s: %s", failure.type.__name__, request.url, failure.getErrorMessage())
        return reason

    def on_probe_error(self, failure):
        """A usual feed or sitemap path that is missing is no error: most are."""
        self._inc("discovery/probes_missing")

    def _older_than_since(self, date: str | None) -> bool:
        if not self.since or not date:
            return False
        dt = parse_date(date, self.source.timezone)
        return bool(dt and dt < self.since)

    def _inc(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"ccnews/{key}", n)

    def _skip(self, reason: str, detail: str | None = None) -> None:
        self._inc(f"skipped/{reason}")
        if detail:
            self.logger.info("skipped (%s): %s", reason, detail)


def _is_html(response: TextResponse) -> bool:
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
    return not ctype or "html" in ctype or "xml" in ctype and b"<html" in response.body[:2048].lower()


def page_selector(response: TextResponse) -> Selector:
    """The page parsed, held only by the caller. `response.selector` and its response refer to each
    other, so every page fetched (its body, its text and an lxml tree several times its size) stayed
    in memory until Python's occasional full garbage collection: hundreds of pages at a time, 400 MB
    on 1,500 real news pages."""
    return Selector(text=response.text, type="html", base_url=response.url)


def _page_record(response: TextResponse) -> dict[str, Any]:
    text, encoding = page_text(response)
    headers = {}
    for name in _KEEP_HEADERS:
        value = response.headers.get(name)
        if value:
            headers[name] = value.decode("latin-1")
    return {"url": response.url, "status": response.status, "headers": headers,
            "content_type": headers.get("content-type"), "encoding": encoding,
            "body": response.body, "text": text, "fetched_at": now_iso()}
