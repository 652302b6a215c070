"""Onboarding an outlet: from its homepage URL to a ready registry entry (`ccnews sources add`).

The probe asks what the generic crawl would (robots.txt and its sitemaps, the homepage's
`<link rel=alternate>` feeds, the usual feed and sitemap paths, the homepage's own links), samples
the article URLs found, infers an `article_pattern` from their shape and checks it against the
section and tag pages it saw, detects the language, proposes a time zone and a member city, and
extracts a few articles to show what ccnews would store. Requests obey robots.txt, identify
ccnews, and are few (about a dozen) and sequential.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from archive.errors import CcnewsError
from crawler import discovery as disc

USER_AGENT = "ccnews/0.1 (+https://github.com/ccnews/ccnews; creative-city news archive)"
SAMPLE = 30
EXTRACT = 3
# Time zones by country code (the host's TLD or the page's language); Indonesia has three, and
# the proposal says which one it assumed.
ZONES = {"id": "Asia/Jakarta", "th": "Asia/Bangkok", "my": "Asia/Kuala_Lumpur", "ph": "Asia/Manila",
         "vn": "Asia/Ho_Chi_Minh", "sg": "Asia/Singapore"}
LANG_COUNTRY = {"id": "id", "th": "th", "ms": "my", "vi": "vn", "tl": "ph", "jv": "id", "su": "id"}


class OnboardError(CcnewsError):
    """The homepage cannot be probed."""


@dataclass
class Proposal:
    id: str
    name: str
    homepage: str
    language: str | None = None
    country: str | None = None
    city: str | None = None
    timezone: str = "UTC"
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    article_pattern: str | None = None
    samples: list[str] = field(default_factory=list)
    rejected_seen: list[str] = field(default_factory=list)  # section/tag pages the pattern must reject
    pattern_accepts_pages: list[str] = field(default_factory=list)  # ...and those it wrongly accepts
    articles: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def toml(self) -> str:
        """The registry entry, with what was checked said in its comment."""
        def q(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        def lst(values: list[str]) -> str:
            return "[" + ", ".join(q(v) for v in values) + "]"

        stamp = datetime.now(UTC).date().isoformat()
        lines = [f"# proposed by `ccnews sources add` on {stamp}: found "
                 + ", ".join(f"{n} {k}" for k, n in (("feed(s)", len(self.feeds)), ("sitemap(s)", len(self.sitemaps)),
                                                       ("listing(s)", len(self.listings))) if n)
                 + f"; {len(self.articles)} article(s) extracted. Unchecked: run `ccnews sources check {self.id}`."]
        lines += [f"# {note}" for note in self.notes]
        lines += ["[[source]]", f"id = {q(self.id)}", f"name = {q(self.name)}", f"homepage = {q(self.homepage)}"]
        if self.language:
            lines.append(f"language = {q(self.language)}")
        if self.country:
            lines.append(f"country = {q(self.country.upper())}")
        if self.city:
            lines.append(f"city = {q(self.city)}")
        lines.append(f"timezone = {q(self.timezone)}")
        for key in ("feeds", "sitemaps", "listings"):
            if getattr(self, key):
                lines.append(f"{key} = {lst(getattr(self, key))}")
        if self.article_pattern:
            lines.append(f"article_pattern = {q(self.article_pattern)}")
        lines.append("delay = 1.0")
        return "\n".join(lines) + "\n"


class Fetcher:
    """Sequential, polite GETs that obey robots.txt."""

    def __init__(self, delay: float = 0.5, timeout: float = 20.0):
        import urllib3

        self.http = urllib3.PoolManager(headers={"User-Agent": USER_AGENT}, timeout=urllib3.Timeout(10.0, timeout),
                                        retries=urllib3.Retry(total=2, backoff_factor=0.5, redirect=5))
        self.delay = delay
        self.robots = None
        self.last = 0.0

    def get(self, url: str) -> tuple[int, bytes, str]:
        """(status, body, final URL); status 0 when the request failed or robots.txt forbids it."""
        import urllib3

        if self.robots is not None and not self.robots.can_fetch(url, USER_AGENT):
            return 0, b"", url
        wait = self.last + self.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last = time.monotonic()
        try:
            response = self.http.request("GET", url, preload_content=False)
            body = response.read(10 * 1024 * 1024 + 1, decode_content=True)
            final = response.geturl() or url
            response.release_conn()
        except (urllib3.exceptions.HTTPError, OSError):
            return 0, b"", url
        return response.status, body[: 10 * 1024 * 1024], urljoin(url, final)


def _decode(body: bytes, url: str, ctype: str = "text/html") -> str:
    from scrapy.http import HtmlResponse

    from crawler.encoding import page_text

    return page_text(HtmlResponse(url=url, body=body, headers={"Content-Type": ctype}))[0]


def probe(homepage: str, *, source_id: str | None = None, fetcher: Fetcher | None = None) -> Proposal:
    """Everything `ccnews sources add` proposes for the outlet at `homepage`."""
    from protego import Protego

    from crawler.extract import NotAnArticle, Page, detect_language, extract_article

    parts = urlsplit(homepage)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OnboardError(f"{homepage!r} is not an http(s) URL")
    fetcher = fetcher or Fetcher()
    status, body, _final = fetcher.get(urljoin(homepage, "/robots.txt"))
    robots_text = body.decode("utf-8", "replace") if status == 200 else ""
    fetcher.robots = Protego.parse(robots_text)
    status, body, final = fetcher.get(homepage)
    if status != 200:
        raise OnboardError(f"{homepage}: the homepage answered {'nothing' if not status else f'HTTP {status}'}")
    homepage = final
    html = _decode(body, homepage)
    from parsel import Selector

    page = Selector(text=html, base_url=homepage)
    host = (urlsplit(homepage).hostname or "").removeprefix("www.")
    name = " ".join((page.xpath("//title/text()").get() or host).split())[:120]
    proposal = Proposal(id=source_id or _slug(host), name=name, homepage=homepage)
    found: dict[str, list[disc.Entry]] = {}

    def read_xml(url: str) -> None:
        status, body, final = fetcher.get(url)
        if status != 200 or not body:
            return
        try:
            root = disc.parse_xml(body)
        except disc.MalformedXML:
            return
        xml = disc.xml_kind(root)
        if xml == "sitemapindex":
            children = [e.url for e in disc.sitemap_entries(root, final)][:3]
            entries = []
            for child in children:
                s, b, f = fetcher.get(child)
                if s == 200:
                    try:
                        entries += list(disc.sitemap_entries(disc.parse_xml(b), f))
                    except disc.MalformedXML:
                        pass
        elif xml == "urlset":
            entries = list(disc.sitemap_entries(root, final))
        elif xml in ("rss", "atom", "rdf"):
            entries = list(disc.feed_entries(root, final))
        else:
            return
        if entries:
            (proposal.sitemaps if xml in ("sitemapindex", "urlset") else proposal.feeds).append(url)
            found[url] = entries

    for url in disc.sitemaps_from_robots(robots_text, homepage)[:3]:
        read_xml(url)
    for link in page.xpath('//link[@rel="alternate"][@href]'):
        kind = (link.attrib.get("type") or "").lower()
        if ("rss" in kind or "atom" in kind) and len(proposal.feeds) < 3:
            read_xml(urljoin(homepage, link.attrib["href"]))
    if not found:
        for path in disc.USUAL_FEEDS + disc.USUAL_SITEMAPS:
            read_xml(urljoin(homepage, path))
            if found:
                break
    links = [u for u in (disc.clean_link(h, homepage) for h in page.xpath("//a/@href").getall()) if u]
    on_site = [u for u in dict.fromkeys(links) if disc.host_allowed(u, [host]) and not disc.not_a_page(u)]
    candidates = [e.url for entries in found.values() for e in entries if disc.host_allowed(e.url, [host])]
    if not candidates:
        # No feed or sitemap: the homepage's and its "all news" listing's links.
        listing = _listing_link(page, homepage, host)
        if listing:
            proposal.listings.append(listing)
            s, b, f = fetcher.get(listing)
            if s == 200:
                more = Selector(text=_decode(b, f), base_url=f)
                links += [u for u in (disc.clean_link(h, f) for h in more.xpath("//a/@href").getall()) if u]
                on_site = [u for u in dict.fromkeys(links) if disc.host_allowed(u, [host]) and not disc.not_a_page(u)]
        candidates = [u for u in on_site if disc.looks_like_article(u)]
    candidates = list(dict.fromkeys(candidates))
    proposal.samples = candidates[:SAMPLE]
    if not proposal.samples:
        proposal.notes.append("no article URL found: add a listing page by hand")
        return proposal
    proposal.article_pattern = infer_pattern(proposal.samples)
    sections = [u for u in on_site if u not in candidates and urlsplit(u).path.strip("/")]
    proposal.rejected_seen = sections[:20]
    if proposal.article_pattern:
        rx = re.compile(proposal.article_pattern)
        proposal.pattern_accepts_pages = [u for u in sections if rx.search(u)][:5]
        if proposal.pattern_accepts_pages:
            proposal.notes.append("the pattern also accepts pages that look like sections: "
                                  + ", ".join(proposal.pattern_accepts_pages[:3]))
    lang_hint = (page.xpath("//html/@lang").get() or "").split("-")[0].lower() or None
    for url in proposal.samples[:EXTRACT * 2]:
        if len(proposal.articles) >= EXTRACT:
            break
        s, b, f = fetcher.get(url)
        if s != 200:
            continue
        try:
            record = extract_article([Page(f, _decode(b, f))], timezone="UTC", language=lang_hint)
        except NotAnArticle:
            continue
        proposal.articles.append(
            {k: record.get(k) for k in ("url", "title", "published", "authors", "language", "word_count")}
            | {"text": (record.get("text") or "")[:300]}
        )
    langs = Counter(a["language"] for a in proposal.articles if a.get("language"))
    proposal.language = langs.most_common(1)[0][0] if langs else (lang_hint or detect_language(html[:4000], None))
    tld = host.rsplit(".", 1)[-1]
    proposal.country = tld if tld in ZONES else LANG_COUNTRY.get(proposal.language or "")
    proposal.timezone = ZONES.get(proposal.country or "", "UTC")
    if proposal.timezone == "Asia/Jakarta":
        proposal.notes.append("time zone: Asia/Jakarta (WIB) assumed; use Asia/Makassar (WITA) or Asia/Jayapura (WIT) "
                              "for central and eastern Indonesia")
    proposal.city = _city(host, name, [a.get("title") or "" for a in proposal.articles])
    return proposal


def infer_pattern(urls: list[str]) -> str | None:
    """A regular expression for the shape most sampled article URLs share: path segments that are
    the same literal in most of them stay literal, numeric ids become \\d{n,}, slugs [a-z0-9-]+."""
    shapes: Counter = Counter()
    paths = [urlsplit(u).path for u in urls]
    for path in paths:
        shapes[tuple(_kind(s) for s in path.strip("/").split("/"))] += 1
    if not shapes:
        return None
    shape, count = shapes.most_common(1)[0]
    if count < max(2, len(urls) // 3):
        return None
    matching = [p.strip("/").split("/") for p in paths if tuple(_kind(s) for s in p.strip("/").split("/")) == shape]
    parts = []
    for i, kind in enumerate(shape):
        values = Counter(segs[i] for segs in matching)
        value, n = values.most_common(1)[0]
        if kind == "word" and n >= 0.6 * len(matching) and (len(values) == 1 or n >= 0.8 * len(matching)):
            parts.append(re.escape(value))
        elif kind == "num":
            digits = min(len(segs[i]) for segs in matching)
            parts.append(r"\d{%d,}" % max(1, digits - 1) if digits > 2 else r"\d+")
        elif kind == "html":
            parts.append(r"[a-z0-9-]+\.html?")
        elif kind == "numslug":
            parts.append(r"[a-z0-9-]+-\d{5,}")
        else:
            parts.append(r"[a-z0-9-]+" if kind == "slug" else r"[^/]+")
    trailing = sum(p.endswith("/") for p in paths) > len(paths) / 2
    return "/" + "/".join(parts) + ("/?$" if trailing else "$") if parts else None


def _kind(segment: str) -> str:
    if segment.isdigit():
        return "num"
    if re.fullmatch(r"[a-z0-9-]+\.html?", segment, re.I):
        return "html"
    if re.fullmatch(r"[a-z0-9-]*[a-z][a-z0-9-]*-\d{5,}", segment, re.I):
        return "numslug"
    if segment.count("-") >= 2:
        return "slug"
    return "word"


def _listing_link(page: Any, homepage: str, host: str) -> str | None:
    words = re.compile(r"\b(berita|news|indeks|index|semua berita|lihat semua|ข่าว)\b", re.I)
    for a in page.xpath("//a[@href]"):
        text = " ".join(a.xpath("string(.)").get("").split())
        url = disc.clean_link(a.attrib["href"], homepage)
        if url and words.search(text) and disc.host_allowed(url, [host]) and urlsplit(url).path.strip("/"):
            return url
    return None


def _city(host: str, name: str, titles: list[str]) -> str | None:
    from archive.uccn import cities

    haystack = " ".join([host.replace("-", " ").replace(".", " "), name, *titles]).casefold()
    best = None
    for c in cities():
        for n in c.names:
            folded = n.casefold()
            if len(folded) > 3 and (folded in haystack or folded.replace(" ", "") in haystack):
                if best is None or len(folded) > len(best[0]):
                    best = (folded, c.name)
    return best[1] if best else None


def _slug(host: str) -> str:
    parts = [p for p in host.split(".") if p not in ("www", "com", "co", "id", "go", "or", "th", "net", "org", "ac")]
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(parts or [host]).lower()).strip("-")
    return slug[:64] or "outlet"
