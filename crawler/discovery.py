"""Finding article URLs: feeds (RSS 2.0, Atom, RDF), sitemaps (index, urlset, Google News),
listing pages and their pagination, and the continuation pages of multi-page articles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree

# The paths where outlets usually keep feeds and sitemaps, probed when none are configured.
USUAL_FEEDS = ["/feed", "/rss", "/feed/", "/rss.xml", "/index.xml", "/atom.xml"]
USUAL_SITEMAPS = ["/sitemap.xml", "/sitemap_index.xml", "/news-sitemap.xml", "/sitemap-news.xml"]

NOT_PAGES = re.compile(
    r"\.(jpe?g|png|gif|webp|svg|ico|pdf|docx?|xlsx?|pptx?|zip|rar|gz|mp3|mp4|m4a|avi|mov|css|js|json|xml|rss|woff2?)$",
    re.I,
)
NOT_ARTICLES = re.compile(
    r"/(tag|tags|topik|topic|kategori|category|categories|author|penulis|indeks|index|search|cari|"
    r"page|login|register|about|tentang|kontak|contact|redaksi|pedoman|privacy|feed|rss|amp/?$)(/|$)",
    re.I,
)
NEXT_TEXT = re.compile(
    r"^\s*(next|next page|older|older posts|selanjutnya|berikutnya|lanjut|halaman berikutnya|"
    r"ถัดไป|หน้าถัดไป|»|›|>>|→)\s*[»›>→]*\s*$",
    re.I,
)
# Query parameters that name a page, in the order they are tried. `p` last and only where a page
# shows it is a page (linked from page 1 as its next page): on WordPress `?p=3289` is a post id.
PAGE_PARAMS = ("page", "halaman", "hal", "paged", "pg")
ALL_PAGE_PARAMS = PAGE_PARAMS + ("p",)
# What page_number() can recognise: a page parameter, or a path ending in a number of 1-3 digits.
_PAGEISH = re.compile(r"[?&;](?:%s)=\d|/\d{1,3}/?(?:[?#]|$)" % "|".join(ALL_PAGE_PARAMS), re.I)
# A parser that never fetches, never expands entities and refuses huge trees: sitemaps and feeds
# come from strangers.
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, recover=True, remove_comments=True
)


class MalformedXML(ValueError):
    pass


@dataclass
class Entry:
    url: str
    date: str | None = None  # as printed: parsed later with the source's time zone
    title: str | None = None


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def parse_xml(body: bytes) -> etree._Element:
    if not body.strip():
        raise MalformedXML("empty document")
    if b"<!ENTITY" in body[:4096].upper():
        # Entity definitions have no business in a feed or sitemap; they are how XML bombs start.
        raise MalformedXML("document declares entities")
    try:
        root = etree.fromstring(body, parser=_XML_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise MalformedXML(str(exc)) from None
    if root is None:
        raise MalformedXML("no root element")
    return root


def xml_kind(root: etree._Element) -> str | None:
    """'sitemapindex', 'urlset', 'rss', 'atom' or 'rdf' (None: not a feed or a sitemap)."""
    name = _local(root.tag)
    return {"sitemapindex": "sitemapindex", "urlset": "urlset", "rss": "rss", "feed": "atom", "rdf": "rdf"}.get(name)


def _child_text(el: etree._Element, *names: str) -> str | None:
    for child in el.iter():
        if child is el:
            continue
        if _local(child.tag) in names and child.text and child.text.strip():
            return child.text.strip()
    return None


def sitemap_entries(root: etree._Element, base: str) -> Iterator[Entry]:
    """Entries of a sitemap index (child sitemaps) or urlset (pages, with Google News dates)."""
    wanted = "sitemap" if xml_kind(root) == "sitemapindex" else "url"
    for el in root:
        if _local(el.tag) != wanted:
            continue
        loc = _child_text(el, "loc")
        if not loc:
            continue
        date = _child_text(el, "publication_date") or _child_text(el, "lastmod")
        yield Entry(urljoin(base, loc), date, _child_text(el, "title"))


def feed_entries(root: etree._Element, base: str) -> Iterator[Entry]:
    kind = xml_kind(root)
    for el in root.iter():
        name = _local(el.tag)
        if kind == "atom" and name == "entry":
            href = None
            for link in el:
                if _local(link.tag) == "link" and link.get("rel", "alternate") == "alternate" and link.get("href"):
                    href = link.get("href")
                    break
            date = _child_text(el, "published") or _child_text(el, "updated")
        elif kind in ("rss", "rdf") and name == "item":
            href = _child_text(el, "link") or el.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about")
            if not href:
                guid = [g for g in el if _local(g.tag) == "guid" and g.get("isPermaLink", "true") != "false"]
                href = guid[0].text.strip() if guid and guid[0].text else None
            date = _child_text(el, "pubdate", "date", "published", "updated")
        else:
            continue
        if href:
            yield Entry(urljoin(base, href.strip()), date, _child_text(el, "title"))


def sitemaps_from_robots(text: str, base: str) -> list[str]:
    out = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            out.append(urljoin(base, value.strip()))
    return out


def clean_link(href: str | None, base: str) -> str | None:
    if not href:
        return None
    href = href.strip()
    if href.startswith(("javascript:", "mailto:", "tel:", "#", "data:")):
        return None
    url = urljoin(base, href)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def host_allowed(url: str, scope: list[str]) -> bool:
    """Whether the URL's host is in a source's scope: exactly (`www.` aside), or under a
    `*.example.com` wildcard."""
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    for d in scope:
        if d.startswith("*."):
            if host == d[2:] or host.endswith(d[1:]):
                return True
        elif host == d:
            return True
    return False


def page_number(url: str, params: tuple[str, ...] = PAGE_PARAMS) -> tuple[str, int] | None:
    """(URL without its page marker, page number) for `?page=N`, `/page/N` or a trailing `/N`.

    Only a shape: whether the URL really is page N of something is for the caller to show (it is
    linked from page 1 as the next page, or page 1 is known and shares its path).
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    for name in params:
        for i, (k, v) in enumerate(query):
            if k.lower() == name and v.isdigit():
                rest = urlencode(query[:i] + query[i + 1 :])
                return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, "")), int(v)
    m = re.match(r"^(.*?)/(?:page/|halaman/|hal/)?(\d{1,3})/?$", parts.path)
    if m and m.group(1) and not m.group(1).endswith("/"):
        last = m.group(1).rsplit("/", 1)[-1]
        # `/read/12345/slug/2` is page 2 of the slug; `/read/12345` is an id, not a page.
        if re.search(r"[a-z]", last, re.I) or "/page/" in parts.path or "/halaman/" in parts.path:
            return urlunsplit((parts.scheme, parts.netloc, m.group(1), parts.query, "")), int(m.group(2))
    return None


def may_be_page_link(href: str) -> bool:
    """A cheap first test for `page_number`: most of a page's hundreds of links fail it."""
    return bool(_PAGEISH.search(href))


def same_without_page(a: str, b: str) -> bool:
    from archive.urls import url_key

    pa, pb = page_number(a), page_number(b)
    return url_key(pa[0] if pa else a) == url_key(pb[0] if pb else b)


def looks_like_article(url: str) -> bool:
    """For listing links when the source gives no article_pattern: a slug or a numeric id."""
    path = urlsplit(url).path
    if NOT_ARTICLES.search(path) or path in ("", "/"):
        return False
    segments = [s for s in path.split("/") if s]
    return any(s.count("-") >= 2 or re.fullmatch(r"\d{4,}", s) for s in segments)


def not_a_page(url: str) -> bool:
    return bool(NOT_PAGES.search(urlsplit(url).path))
