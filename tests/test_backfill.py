"""Backfill from web archives: a real pywb (in its own virtualenv) serves a collection of an old
domain's pages; a Wayback-shaped server on 127.0.0.1 stands in for the Internet Archive's answers
(array-of-arrays CDX, 429, dropped connections, redirect and truncated captures)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import FAST, SEED_BODY, SEED_TITLE, articles, run_ccnews
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ccnews.sites import SiteArticle, SiteServer, SiteSpec, build_site

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


PYWB_PACKAGES = ["pywb==2.10.*"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pywb_venv() -> Path:
    """pywb in a virtualenv of its own (its pins are not ours), kept between runs."""
    key = hashlib.sha1(json.dumps(PYWB_PACKAGES).encode()).hexdigest()[:12]
    venv = Path(os.environ.get("CCNEWS_PYWB_VENV", Path(tempfile.gettempdir()) / f"ccnews-pywb-{key}"))
    if not (venv / ".ready").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PYWB_PACKAGES],
                                capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            if os.environ.get("CI"):
                raise RuntimeError(f"cannot install pywb: {result.stderr[-2000:]}")
            pytest.skip("cannot install pywb here (no package index?)")
        (venv / ".ready").write_text("ok")
    return venv


OLD = "radar-2016.test"


def old_page(title: str, paragraphs: list[str], published: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='id'><head><meta charset='utf-8'><title>{title} | Radar</title>"
        f"<meta property='og:title' content='{title}'><meta property='article:published_time' content='{published}'>"
        f"</head><body><div class='menu'><a href='/'>Radar</a></div><article><h1>{title}</h1>{body}</article>"
        "<footer>Radar 2016</footer></body></html>"
    )


OLD_ARTICLES = [
    ("/24530/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik/", SEED_TITLE, SEED_BODY, "2016-03-11T08:30:00+07:00"),
    ("/24601/festival-batik-pekalongan-2016/", "Festival Batik Pekalongan 2016 Dibuka",
     [f"Festival batik tahunan kembali digelar di Pekalongan dengan ratusan perajin, hari ke-{i}, "
      "disambut warga dan wisatawan yang memadati kawasan museum batik sejak pagi." for i in range(4)],
     "2016-05-02T09:00:00+07:00"),
    ("/25010/pekalongan-kota-kreatif-dua-tahun/", "Dua Tahun Pekalongan Kota Kreatif UNESCO",
     [f"Dua tahun setelah ditetapkan sebagai Kota Kreatif UNESCO pada 1 Desember 2014, bagian {i}, "
      "Pekalongan terus menggelar pelatihan dan pameran kerajinan bersama komunitas." for i in range(4)],
     "2016-12-01T10:00:00+07:00"),
]


def build_collection_warc(path: Path) -> Path:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for n, (p, title, paras, published) in enumerate(OLD_ARTICLES):
        body = old_page(title, paras, published).encode("utf-8")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=UTF-8"),
                                           ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            f"http://{OLD}{p}", "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
            warc_headers_dict={"WARC-Date": f"2016-{3 + 4 * n:02d}-15T10:00:00Z"}))
    tag = b"<html><head><title>Tag batik</title></head><body><a href='/24601/x/'>x</a></body></html>"
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(f"http://{OLD}/tag/batik/", "response", payload=io.BytesIO(tag),
                                                  length=len(tag), http_headers=http,
                                                  warc_headers_dict={"WARC-Date": "2016-06-01T00:00:00Z"}))
    path.write_bytes(buf.getvalue())
    return path


ROOTS: dict[str, Path] = {}


def pywb_root(cdx: str) -> Path:
    return ROOTS[cdx]


@pytest.fixture(scope="session")
def pywb(pywb_venv, tmp_path_factory):
    """A real pywb serving a collection `radar` built from WARC files of the old domain."""
    root = tmp_path_factory.mktemp("pywb")
    warc = build_collection_warc(root / "radar-2016.warc.gz")
    bin_ = pywb_venv / "bin"
    subprocess.run([str(bin_ / "wb-manager"), "init", "radar"], cwd=root, check=True, capture_output=True)
    subprocess.run([str(bin_ / "wb-manager"), "add", "radar", str(warc)], cwd=root, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([str(bin_ / "wayback"), "-b", "127.0.0.1", "-p", str(port)], cwd=root,
                            stdout=open(root / "wayback.log", "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(f"{base}/radar/cdx?url={OLD}/*&output=json", timeout=5).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError((root / "wayback.log").read_text()[-2000:]) from None
            time.sleep(0.3)
    ROOTS[f"{base}/radar/cdx"] = root
    yield f"{base}/radar/cdx"
    proc.terminate()
    proc.wait(timeout=10)


REGISTRY = """\
[[source]]
id = "radar"
name = "Radar Pekalongan"
homepage = "{live}/"
language = "id"
city = "Pekalongan"
timezone = "Asia/Jakarta"
feeds = ["{live}/feed"]
article_pattern = "/read/\\\\d+/"
former_domains = ["{old}"]
former_article_pattern = "/\\\\d{{4,}}/[a-z0-9-]+/?$"
delay = 0.0
"""


@pytest.fixture
def live_outlet(tmp_path):
    """The outlet today, on its new domain: the founding article moved to /read/101/, two new ones."""
    para = lambda n: (f"Pekalongan kembali menggelar pekan kriya ke-{n} bersama para perajin batik dan tenun, "  # noqa: E731
                      "dengan pameran, lokakarya dan pasar malam di alun-alun yang ramai dikunjungi warga setiap hari.")
    spec = SiteSpec(name="Radar", lang="id", articles=[
        SiteArticle(path="/read/101/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik", title=SEED_TITLE,
                    pages=[SEED_BODY], published="2016-03-11T08:30:00+07:00", shown_date="11 Maret 2016"),
        SiteArticle(path="/read/901/pekan-kriya-2024", title="Pekan Kriya Pekalongan 2024", pages=[[para(1), para(2)]],
                    published="2024-06-01T09:00:00+07:00", shown_date="1 Juni 2024"),
        SiteArticle(path="/read/902/pekan-kriya-2025", title="Pekan Kriya Pekalongan 2025", pages=[[para(3), para(4)]],
                    published="2025-06-01T09:00:00+07:00", shown_date="1 Juni 2025"),
    ])
    server = SiteServer(build_site(tmp_path / "live", spec)).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(REGISTRY.format(live=server.base, old=OLD), "utf-8")
    yield server, registry
    server.stop()


def test_one_backfill_and_one_crawl_give_the_whole_story_once(pywb, live_outlet, tmp_path):
    server, registry = live_outlet
    data = tmp_path / "data"
    result = run_ccnews("backfill", "radar", "--since", "2014-01-01", "--until", "2020-12-31", "--cdx", pywb,
                        "--delay", "0", data_dir=data, registry=registry)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 new" in result.stderr and "pattern_mismatch 1" in result.stderr, result.stderr
    crawl = run_ccnews("crawl", "radar", *FAST, data_dir=data, registry=registry)
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    rows = articles(data)
    titles = sorted(r["title"] for r in rows)
    # The founding article is one record, reached at its 2016 address and at today's.
    assert titles.count(SEED_TITLE) == 1, titles
    assert len(rows) == 5, titles
    founding = next(r for r in rows if r["title"] == SEED_TITLE)
    assert founding["published"] == "2016-03-11T08:30:00+07:00"
    shown = json.loads(run_ccnews("show", str(founding["id"]), "--json", data_dir=data).stdout)
    assert {urlsplit(u).hostname for u in shown["urls"]} == {OLD, "127.0.0.1"}
    # Provenance: the 2016 capture came from the web archive, with its capture time and replay URL.
    import sqlite_utils

    db = sqlite_utils.Database(data / "archive.db")
    old_pages = list(db.query("select * from raw_pages where url like ?", [f"http://{OLD}/%"]))
    assert len(old_pages) == 3 and {p["origin"] for p in old_pages} == {"web-archive"}
    assert all(p["capture_time"].startswith("2016-") and "id_/http://" in p["replay_url"] for p in old_pages)
    # Searchable, with its republished copy if any: the story is findable by the city's name.
    found = json.loads(run_ccnews("search", "Chiang Mai", "--json", data_dir=data).stdout)
    assert any(h["title"] == SEED_TITLE for h in found)
    assert {h["title"]: h["origin"] for h in found}[SEED_TITLE] in ("live", "web-archive")
    origins = {h["title"]: h["origin"] for h in json.loads(run_ccnews("search", "pekalongan", "--json", "--limit", "50",
                                                                     data_dir=data).stdout)}
    assert origins.get("Pekan Kriya Pekalongan 2024") == "live"
    assert origins.get("Dua Tahun Pekalongan Kota Kreatif UNESCO") == "web-archive"
    # Run again: nothing is fetched twice.
    again = run_ccnews("backfill", "radar", "--since", "2014-01-01", "--until", "2020-12-31", "--cdx", pywb,
                       "--delay", "0", data_dir=data, registry=registry)
    assert "0 fetched" in again.stderr and "already_archived 3" in again.stderr, again.stderr


def test_backfill_respects_the_period(pywb, live_outlet, tmp_path):
    _server, registry = live_outlet
    data = tmp_path / "data"
    result = run_ccnews("backfill", "radar", "--since", "2016-01-01", "--until", "2016-06-30", "--cdx", pywb,
                        "--delay", "0", data_dir=data, registry=registry)
    assert result.returncode == 0, result.stderr[-3000:]
    # Published in the period, though captured after it; the December article is left out.
    assert sorted(r["title"] for r in articles(data)) == sorted([SEED_TITLE, "Festival Batik Pekalongan 2016 Dibuka"])
    assert "after_until 1" in result.stderr


# -- a Wayback-shaped archive, for the Internet Archive's answers and failures ----------------------


def serve(handler) -> tuple[ThreadingHTTPServer, str]:
    """A threaded HTTP server on a free loopback port, serving in the background."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


class Wayback:
    """CDX as an array of arrays (the Wayback Machine's `output=json`) and `id_` replays, with
    failures on demand."""

    def __init__(self, captures: dict[str, tuple[int, dict, bytes]]):
        self.captures = captures  # url -> (status, headers, body) as replayed
        self.cdx_failures: list[str] = []  # "429" or "drop", consumed one per CDX request
        self.requests: list[str] = []
        self.timed: list[tuple[float, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                outer.timed.append((time.monotonic(), self.path))
                outer.handle(self)

        self.httpd, self.base = serve(Handler)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, req):
        parts = urlsplit(req.path)
        if parts.path == "/cdx":
            failure = self.cdx_failures.pop(0) if self.cdx_failures else None
            if failure == "drop":
                req.close_connection = True
                req.connection.shutdown(socket.SHUT_RDWR)
                return
            if failure == "429":
                return self.send(req, 429, {"Retry-After": "1", "Content-Type": "text/plain"}, b"slow down")
            rows = [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]]
            for url in self.captures:
                rows.append([url, "20160315100000", url, "text/html", "200", "X", "1"])
            return self.send(req, 200, {"Content-Type": "application/json"}, json.dumps(rows).encode())
        if parts.path.startswith("/web/"):
            original = parts.path.split("id_/", 1)[1] + (f"?{parts.query}" if parts.query else "")
            status, headers, body = self.captures.get(original, (404, {}, b"not archived"))
            if headers.get("truncate"):
                req.send_response(200)
                req.send_header("Content-Type", "text/html")
                req.send_header("Content-Length", str(len(body) * 4))
                req.end_headers()
                req.wfile.write(body)
                req.wfile.flush()
                req.close_connection = True
                req.connection.shutdown(socket.SHUT_RDWR)
                return
            return self.send(req, status, headers, body)
        self.send(req, 404, {}, b"")

    @staticmethod
    def send(req, status, headers, body):
        req.send_response(status)
        for k, v in headers.items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)


@pytest.fixture
def wayback(live_outlet):
    pages = {f"http://{OLD}{p}": (200, {"Content-Type": "text/html; charset=utf-8"},
                                   old_page(t, paras, pub).encode()) for p, t, paras, pub in OLD_ARTICLES}
    pages[f"http://{OLD}/24700/pindah-alamat/"] = (
        302,
        {"Location": f"http://{OLD}/24601/festival-batik-pekalongan-2016/"},
        b"",
    )
    pages[f"http://{OLD}/24800/berita-terpotong/"] = (200, {"truncate": "1"}, b"<html><body>" + b"x" * 500)
    server = Wayback(pages)
    yield server
    server.stop()


def test_an_array_of_arrays_cdx_after_a_429_works_and_odd_captures_are_counted(wayback, live_outlet, tmp_path):
    _server, registry = live_outlet
    wayback.cdx_failures = ["429"]
    started = time.monotonic()
    result = run_ccnews("backfill", "radar", "--since", "2016-01-01", "--until", "2016-12-31", "--cdx",
                        f"{wayback.base}/cdx", "--replay", f"{wayback.base}/web", "--delay", "0",
                        data_dir=tmp_path / "data", registry=registry)
    assert result.returncode == 0, result.stderr[-3000:]
    # The request that got 429 was made again, after the second that Retry-After asked for.
    cdx = [(at, p) for at, p in wayback.timed if p.startswith("/cdx")]
    assert cdx[0][1] == cdx[1][1] and cdx[1][0] - cdx[0][0] >= 1.0
    assert time.monotonic() - started >= 1.0
    assert sorted(r["title"] for r in articles(tmp_path / "data")) == sorted(t for _p, t, _b, _d in OLD_ARTICLES)
    assert "replay_redirect 1" in result.stderr and "truncated 1" in result.stderr, result.stderr


def test_a_cdx_server_that_drops_every_connection_is_one_line(wayback, live_outlet, tmp_path):
    _server, registry = live_outlet
    wayback.cdx_failures = ["drop"] * 20
    result = run_ccnews("backfill", "radar", "--since", "2016-01-01", "--until", "2016-12-31", "--cdx",
                        f"{wayback.base}/cdx", "--delay", "0", data_dir=tmp_path / "data", registry=registry,
                        timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: 127.0.0.1/cdx does not answer")


def test_the_scheduler_backfills_a_source_once(pywb, live_outlet, tmp_path):
    import sqlite_utils

    _server, registry = live_outlet
    registry.write_text(
        registry.read_text("utf-8").replace("delay = 0.0", 'delay = 0.0\nbackfill_since = "2016-01-01"\nevery = "1d"'),
        "utf-8",
    )
    data = tmp_path / "data"
    env = {"CCNEWS_BACKFILL_CDX": pywb}
    tick = run_ccnews("schedule", "tick", data_dir=data, registry=registry, env=env)
    assert tick.returncode == 0, tick.stderr
    assert "started the first backfill of radar" in tick.stderr
    db = sqlite_utils.Database(data / "archive.db")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = list(db.query("select outcome from backfills")) if "backfills" in db.table_names() else []
        if rows and rows[0]["outcome"] != "running":
            break
        time.sleep(0.5)
    assert [r["outcome"] for r in db.query("select outcome from backfills")] == ["ok"]
    assert any(r["url"].startswith(f"http://{OLD}/") for r in articles(data))
    again = run_ccnews("schedule", "tick", data_dir=data, registry=registry, env=env)
    assert "backfill" not in again.stderr


class CommonCrawlData:
    """Common Crawl's side on 127.0.0.1: collinfo.json naming a crawl whose CDX API is the pywb
    collection, and the collection's WARC files served by byte range, as data.commoncrawl.org does."""

    def __init__(self, archive_dir: Path, cdx: str):
        outer = self
        self.ranges: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                if self.path == "/collinfo.json":
                    body = json.dumps([{"id": "CC-MAIN-2016-11", "name": "March 2016", "cdx-api": cdx,
                                        "from": "2016-02-01T00:00:00", "to": "2016-12-31T23:59:59"},
                                       {"id": "CC-MAIN-2024-10", "name": "2024", "cdx-api": "http://127.0.0.1:9/none",
                                        "from": "2024-02-01T00:00:00", "to": "2024-03-01T00:00:00"}]).encode()
                    return Wayback.send(self, 200, {"Content-Type": "application/json"}, body)
                path = archive_dir / self.path.lstrip("/")
                if not path.is_file():
                    return Wayback.send(self, 404, {}, b"")
                start, end = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
                outer.ranges.append(self.headers["Range"])
                with open(path, "rb") as fh:
                    fh.seek(start)
                    return Wayback.send(
                        self, 206, {"Content-Type": "application/octet-stream"}, fh.read(end - start + 1)
                    )

        self.httpd, self.base = serve(Handler)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_common_crawl_index_and_byte_ranges(pywb, live_outlet, tmp_path):
    _server, registry = live_outlet
    archive_dir = Path(pywb_root(pywb)) / "collections" / "radar" / "archive"
    cc = CommonCrawlData(archive_dir, pywb)
    try:
        result = run_ccnews("backfill", "radar", "--from", "commoncrawl", "--cc-index", cc.base, "--cc-data", cc.base,
                            "--since", "2016-01-01", "--until", "2016-12-31", "--delay", "0",
                            data_dir=tmp_path / "data", registry=registry)
    finally:
        cc.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    rows = articles(tmp_path / "data")
    assert sorted(r["title"] for r in rows) == sorted(t for _p, t, _b, _d in OLD_ARTICLES)
    assert len(cc.ranges) == 3  # one byte range per capture, the 2024 crawl never asked
    import sqlite_utils

    pages = list(
        sqlite_utils.Database(tmp_path / "data" / "archive.db").query("select archive, replay_url from raw_pages")
    )
    assert {p["archive"] for p in pages} == {"commoncrawl:radar-2016.warc.gz"}
    assert all("#bytes=" in p["replay_url"] for p in pages)
