"""Small news sites served from 127.0.0.1: the demo's outlet and city site, and test fixtures.

A site is a folder with a `_routes.json` mapping each URL path (with its query) to a file or a
behaviour (status, redirect, headers, gzip). `{{BASE}}` in served text becomes the site's own
address, and `{{name}}` the address of any sibling site given to the server.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import itertools
import json
import sys
import threading
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
# For answers that are not files.
LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)


class SiteServer:
    """Serves one site folder on 127.0.0.1 in a background thread; records every request."""

    def __init__(self, root: str | Path, port: int = 0, names: dict[str, SiteServer] | None = None):
        self.root = Path(root)
        self.routes: dict[str, dict[str, Any]] = json.loads((self.root / "_routes.json").read_text("utf-8"))
        self.names = names if names is not None else {}
        self.requests: list[tuple[str, str, int]] = []
        self.conditional = True
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test and demo output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server._handle(self)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A crawler that hangs up (or is killed) mid-request is no error of the site's.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.httpd = Server((LOOPBACK, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.httpd.server_address[1]}"

    def start(self) -> SiteServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def hits(self, path: str) -> int:
        """How many times `path` (with its query) was requested with a full 200 answer."""
        return sum(1 for p, _m, status in self.requests if p == path and status == 200)

    def _substitute(self, data: bytes) -> bytes:
        data = data.replace(b"{{BASE}}", self.base.encode())
        for name, other in self.names.items():
            data = data.replace(b"{{%s}}" % name.encode(), other.base.encode())
        return data

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        key = parts.path + (f"?{parts.query}" if parts.query else "")
        route = self.routes.get(key) or self.routes.get(parts.path) if parts.query else self.routes.get(key)
        status = 404
        headers: dict[str, str] = {"Content-Type": "text/html; charset=utf-8"}
        body = b"<html><body><h1>404 Not Found</h1></body></html>"
        last_modified = LAST_MODIFIED
        if route is not None:
            status = route.get("status", 200)
            headers.update(route.get("headers", {}))
            if "redirect" in route:
                status = route.get("status", 301)
                location = route["redirect"]
                headers["Location"] = self._substitute(location.encode()).decode()
                body = b""
            elif "file" in route:
                path = self.root / route["file"]
                body = path.read_bytes()
                if route.get("gunzip"):
                    body = gzip.decompress(body)
                else:
                    body = self._substitute(body)
                last_modified = formatdate(path.stat().st_mtime, usegmt=True)
                if route.get("gzip"):
                    body = gzip.compress(body, mtime=0)
            elif "body" in route:
                body = route["body"].encode()
            if status == 200 and self.conditional and route.get("conditional", True):
                etag = '"%s"' % hashlib.sha1(body).hexdigest()[:16]
                headers["ETag"] = etag
                headers["Last-Modified"] = last_modified
                # RFC 9110: when If-None-Match is sent, If-Modified-Since is ignored.
                if req.headers.get("If-None-Match") is not None:
                    fresh = req.headers.get("If-None-Match") == etag
                else:
                    fresh = _not_modified_since(req.headers.get("If-Modified-Since"), last_modified)
                if fresh:
                    status, body = 304, b""
        self.requests.append((key, "GET", status))
        req.send_response(status)
        for name, value in headers.items():
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)


def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
    req.send_response(status)
    req.send_header("Content-Type", ctype)
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    req.wfile.write(body)


def _not_modified_since(value: str | None, last_modified: str) -> bool:
    if not value:
        return False
    try:
        return parsedate_to_datetime(value) >= parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False


# -- generating an outlet-shaped site from a list of articles ---------------------------------


@dataclass
class SiteArticle:
    path: str
    title: str
    pages: list[list[str]]  # paragraphs of each page (one page for most articles)
    published: str  # ISO 8601 with offset, as the outlet's meta tag gives it
    shown_date: str  # the date as printed on the page
    byline: str = ""
    lang: str = "id"
    description: str = ""
    tags: list[str] = field(default_factory=list)
    meta_date: bool = True  # False: the page prints its date only in the text
    in_feed: bool = True
    in_sitemap: bool = True
    in_listing: bool = True
    footer: list[str] = field(default_factory=list)  # boilerplate lines inside the body
    feed_suffix: str = ""  # appended to the URL in the feed (tracking parameters)
    canonical: str | None = None  # the path its <link rel=canonical> names (default: its own)


@dataclass
class SiteSpec:
    name: str
    lang: str
    articles: list[SiteArticle]
    listing_path: str = "/kategori/berita"
    per_listing_page: int = 3
    page_param: str = "page"  # multi-page articles: ?page=N
    extra_sitemap_paths: list[str] = field(default_factory=list)


def _page_path(site: SiteSpec, art: SiteArticle, n: int) -> str:
    """Page n of a multi-page article: `?page=n`, or `&page=n` after a query (`/?p=103&page=2`)."""
    return f"{art.path}{'&' if '?' in art.path else '?'}{site.page_param}={n}"


def _page_html(site: SiteSpec, art: SiteArticle, page_no: int) -> str:
    esc = html.escape
    n_pages = len(art.pages)
    paras = "\n".join(f"      <p>{esc(p)}</p>" for p in art.pages[page_no - 1])
    footer = "\n".join(f"      <p>{esc(p)}</p>" for p in art.footer) if page_no == n_pages else ""
    pager = ""
    if n_pages > 1:
        links = []
        for n in range(1, n_pages + 1):
            href = art.path if n == 1 else _page_path(site, art, n)
            links.append(f'<a href="{html.escape(href)}">{n}</a>')
        if page_no < n_pages:
            links.append(f'<a href="{html.escape(_page_path(site, art, page_no + 1))}">Selanjutnya</a>')
        pager = '<div class="pagination">Halaman ' + " ".join(links) + "</div>"
    meta = ""
    if art.meta_date:
        meta = f'  <meta property="article:published_time" content="{art.published}">\n'
    # A few other articles, as outlets show them (not all of them: a 50,000-page site was quadratic).
    related = "".join(
        f'<li><a href="{esc(o.path)}">{esc(o.title)}</a></li>'
        for o in itertools.islice((o for o in site.articles if o is not art), 12)
    )[:2000]
    byline = f'<div class="byline">{esc(art.byline)}</div>' if art.byline and page_no == 1 else ""
    return f"""<!DOCTYPE html>
<html lang="{art.lang}">
<head>
  <meta charset="utf-8">
  <title>{esc(art.title)} - {esc(site.name)}</title>
  <meta property="og:type" content="article">
  <meta property="og:title" content="{esc(art.title)}">
  <meta name="description" content="{esc(art.description or art.pages[0][0][:150])}">
  <meta name="keywords" content="{esc(", ".join(art.tags))}">
{meta}  <link rel="canonical" href="{{{{BASE}}}}{art.path if art.canonical is None else art.canonical}">
  <link rel="alternate" type="application/rss+xml" href="/feed">
</head>
<body>
  <header><nav><a href="/">{esc(site.name)}</a> | <a href="{site.listing_path}">Berita</a>
    | <a href="/tag/budaya">Budaya</a></nav></header>
  <main>
    <article>
      <h1>{esc(art.title)}</h1>
      <div class="date">{esc(art.shown_date)}</div>
      {byline}
      <div class="content">
{paras}
{footer}
      </div>
      {pager}
    </article>
  </main>
  <aside><h3>Berita Terkait</h3><ul>{related}</ul></aside>
  <footer><p>&copy; {esc(site.name)}. Semua hak dilindungi.</p><a href="/redaksi">Redaksi</a></footer>
</body>
</html>
"""


def _listing_html(site: SiteSpec, arts: list[SiteArticle], page: int, last: int) -> str:
    esc = html.escape
    items = "\n".join(
        f'    <div class="item"><a href="{esc(a.path)}">{esc(a.title)}</a> '
        f'<time datetime="{a.published}">{esc(a.shown_date)}</time></div>'
        for a in arts
    )
    nxt = f'<a rel="next" href="{site.listing_path}?page={page + 1}">Berikutnya</a>' if page < last else ""
    return f"""<!DOCTYPE html>
<html lang="{site.lang}"><head><meta charset="utf-8"><title>Berita - {esc(site.name)}</title>
<meta property="og:type" content="website"></head>
<body><h1>Berita</h1>
{items}
<div class="pager">{nxt}</div>
</body></html>
"""


def build_site(root: str | Path, site: SiteSpec, extra_routes: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write the site's files and routes into `root`."""
    root = Path(root)
    (root / "pages").mkdir(parents=True, exist_ok=True)
    routes: dict[str, dict[str, Any]] = {}

    def add(path: str, name: str, content: str, ctype: str, **extra: Any) -> None:
        (root / name).write_text(content, encoding="utf-8")
        routes[path] = {"file": name, "headers": {"Content-Type": ctype}, **extra}

    for i, art in enumerate(site.articles):
        for n in range(1, len(art.pages) + 1):
            path = art.path if n == 1 else _page_path(site, art, n)
            add(path, f"pages/a{i}-p{n}.html", _page_html(site, art, n), "text/html; charset=utf-8")
    listed = [a for a in site.articles if a.in_listing]
    chunks = [listed[i : i + site.per_listing_page] for i in range(0, len(listed), site.per_listing_page)] or [[]]
    for n, chunk in enumerate(chunks, 1):
        path = site.listing_path if n == 1 else f"{site.listing_path}?page={n}"
        add(path, f"pages/listing-{n}.html", _listing_html(site, chunk, n, len(chunks)), "text/html; charset=utf-8")
    home_links = "".join(f'<li><a href="{a.path}">{html.escape(a.title)}</a></li>' for a in site.articles[:5])
    add("/", "pages/home.html",
        f'<!DOCTYPE html><html lang="{site.lang}"><head><meta charset="utf-8"><title>{html.escape(site.name)}</title>'
        '<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed">'
        f'<meta property="og:type" content="website"></head><body><h1>{html.escape(site.name)}</h1>'
        f'<ul>{home_links}</ul><a href="{site.listing_path}">Indeks berita</a></body></html>',
        "text/html; charset=utf-8")
    add("/tag/budaya", "pages/tag.html",
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Tag: budaya</title></head><body>'
        f'<h1>Budaya</h1><ul>{home_links}</ul></body></html>', "text/html; charset=utf-8")
    items = "\n".join(
        f"<item><title>{html.escape(a.title)}</title><link>{{{{BASE}}}}{html.escape(a.path + a.feed_suffix)}</link>"
        f"<pubDate>{formatdate(_epoch(a.published))}</pubDate></item>"
        for a in site.articles if a.in_feed
    )
    add("/feed", "feed.xml",
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{html.escape(site.name)}</title>'
        f"<link>{{{{BASE}}}}/</link>\n{items}\n</channel></rss>\n", "application/rss+xml; charset=utf-8")
    urls = "\n".join(
        f"<url><loc>{{{{BASE}}}}{html.escape(a.path)}</loc><lastmod>{a.published}</lastmod></url>"
        for a in site.articles if a.in_sitemap
    ) + "".join(f"\n<url><loc>{{{{BASE}}}}{html.escape(p)}</loc></url>" for p in site.extra_sitemap_paths)
    add("/sitemap.xml", "sitemap.xml",
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}\n</urlset>\n',
        "application/xml")
    add("/robots.txt", "robots.txt",
        "User-agent: *\nDisallow: /private/\n\nSitemap: {{BASE}}/sitemap.xml\n", "text/plain")
    routes.update(extra_routes or {})
    (root / "_routes.json").write_text(json.dumps(routes, indent=1, ensure_ascii=False), encoding="utf-8")
    return root


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def load_spec(path: str | Path) -> SiteSpec:
    data = json.loads(Path(path).read_text("utf-8"))
    arts = [SiteArticle(**a) for a in data.pop("articles")]
    return SiteSpec(articles=arts, **data)


def stored_pages_site(corpus: str | Path, root: str | Path) -> tuple[Path, list[dict[str, Any]]]:
    """A site serving a corpus of stored pages (fundus layout: manifest.jsonl, gzipped pages)
    under their original paths, with a sitemap listing them all. Returns the site folder and
    the manifest entries, each with the `path` it is served at."""
    corpus, root = Path(corpus), Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text("utf-8").splitlines() if line.strip()]
    routes: dict[str, dict[str, Any]] = {}
    from archive.urls import strip_tracking

    for entry in entries:
        # Served where a real server answers: utm_* parameters make no difference to it.
        parts = urlsplit(strip_tracking(entry["url"]))
        listed = urlsplit(entry["url"])
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        prefix = ""
        if path in routes or path == "/":
            prefix = f"/{parts.hostname}"
            path = prefix + path
        entry["path"] = path
        # The sitemap lists the URL as the outlet's feed gave it, tracking parameters and all.
        entry["listed_path"] = prefix + (listed.path or "/") + (f"?{listed.query}" if listed.query else "")
        # No charset in the header: the page's own declaration (or detection) must do.
        routes[path] = {"file": str((corpus / entry["file"]).resolve()), "gunzip": True,
                        "headers": {"Content-Type": "text/html"}}
    return sitemap_site(root, routes, [e["listed_path"] for e in entries]), entries


def add_sitemap(root: Path, routes: dict[str, dict[str, Any]], listed: list[str], name: str = "sitemap.xml") -> None:
    """Writes a sitemap of the `listed` paths into `root` as `name`, and its route."""
    urls = "\n".join(f"<url><loc>{{{{BASE}}}}{html.escape(p)}</loc></url>" for p in listed)
    (root / name).write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}\n</urlset>\n',
        encoding="utf-8")
    routes[f"/{name}"] = {"file": name, "headers": {"Content-Type": "application/xml"}}


def sitemap_site(root: Path, routes: dict[str, dict[str, Any]], listed: list[str]) -> Path:
    """Writes a sitemap of the `listed` paths and the routes (sitemap included) into `root`: a site
    SiteServer can serve."""
    add_sitemap(root, routes, listed)
    (root / "_routes.json").write_text(json.dumps(routes), encoding="utf-8")
    return root


# -- a small web archive for the demo --------------------------------------------------------------


class ArchiveServer:
    """Serves the captures of WARC files on 127.0.0.1 as a web archive does: a CDX API at
    `/<coll>/cdx` (pywb's shape, one JSON object per line) and raw captures at
    `/<coll>/<timestamp>id_/<url>`. For the offline demo; real archives run pywb or the Wayback
    Machine, which the backfill tests use."""

    def __init__(self, warcs: list[Path], collection: str = "demo"):
        from warcio.archiveiterator import ArchiveIterator

        self.collection = collection
        self.captures: dict[tuple[str, str], tuple[int, list[tuple[str, str]], bytes]] = {}
        self.rows: list[dict[str, str]] = []
        for path in warcs:
            with open(path, "rb") as fh:
                for record in ArchiveIterator(fh):
                    if record.rec_type != "response":
                        continue
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    stamp = (
                        record.rec_headers.get_header("WARC-Date")
                        .replace("-", "")
                        .replace(":", "")
                        .replace("T", "")[:14]
                    )
                    http = record.http_headers
                    body = record.content_stream().read()
                    self.captures[(stamp, url)] = (int(http.get_statuscode()), http.headers, body)
                    self.rows.append({"urlkey": url, "timestamp": stamp, "url": url, "status": http.get_statuscode(),
                                      "mime": (http.get_header("Content-Type") or "").split(";")[0]})
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self)

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def cdx(self) -> str:
        return f"http://{LOOPBACK}:{self.httpd.server_address[1]}/{self.collection}/cdx"

    def start(self) -> ArchiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        from urllib.parse import parse_qs

        parts = urlsplit(req.path)
        prefix = f"/{self.collection}/"
        if parts.path == prefix + "cdx":
            query = parse_qs(parts.query)
            wanted = (query.get("url") or [""])[0].removesuffix("*")
            start, end = (query.get("from") or ["0"])[0], (query.get("to") or ["99999999999999"])[0]
            lines = [
                json.dumps(r)
                for r in self.rows
                if r["url"].split("://", 1)[-1].startswith(wanted) and start <= r["timestamp"] <= end.ljust(14, "9")
            ]
            if not lines:
                return _send(req, 404, b'{"error": "No Captures found"}', "application/json")
            return _send(req, 200, "\n".join(lines).encode(), "text/x-ndjson")
        if parts.path.startswith(prefix) and "id_/" in parts.path:
            stamp, url = parts.path[len(prefix):].split("id_/", 1)
            url += f"?{parts.query}" if parts.query else ""
            found = self.captures.get((stamp, url))
            if found is None:
                return _send(req, 404, b"not archived", "text/plain")
            status, headers, body = found
            req.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    req.send_header(name, value)
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)
            return
        _send(req, 404, b"", "text/plain")


def write_capture_warc(path: Path, captures: list[tuple[str, str, str]]) -> Path:
    """A WARC.GZ of (url, WARC-Date, HTML) responses, as a crawler of the time would have written."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, stamp, page in captures:
            body = page.encode("utf-8")
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=UTF-8"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                                          http_headers=http, warc_headers_dict={"WARC-Date": stamp}))
    return path
