"""Bad input from a site on 127.0.0.1: every response ends in a counted skip or a bounded crawl,
memory stays bounded, no traceback reaches the user, and nothing already archived is lost."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import FAST, REPO, Sites, articles, run_ccnews
from hostile import HostileServer

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


GOOD = ("<p>PEKALONGAN – Perajin batik di kampung Kauman menggelar pameran kain batik tulis yang menarik "
        "ratusan pengunjung dari berbagai daerah. Pameran ini menjadi bagian dari program Kota Kreatif UNESCO "
        "yang dijalankan pemerintah kota sejak penetapan pada tahun 2014 silam.</p>"
        "<p>Para pengunjung dapat melihat langsung proses mencanting dan mewarnai kain, serta membeli batik "
        "langsung dari perajin dengan harga yang lebih terjangkau dibanding toko di pusat kota.</p>")

ENTITY_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>\n"
)


def hostile_site(root: Path) -> Path:
    root.mkdir(parents=True)
    files = {
        "good.html": (
            f"<html><head><title>Pameran Batik Kauman</title></head><body><article>{GOOD}</article></body></html>"
        ),
        "malformed.html": "<html><head><title>Rusak</title><body><div>"
        f"<p>{GOOD}<table><tr><td><<<>>></b></i></div></div>"
        "<script>document.write('<p>'</script><p>tidak ditutup",
        "feed.xml": "<?xml version='1.0'?><rss version='2.0'><channel><title>Hostile</title>"
        + "".join(
            f"<item><link>{{{{BASE}}}}/read/{n}/{slug}</link></item>"
            for n, slug in [
                (1, "huge"),
                (2, "huge-chunked"),
                (3, "bomb"),
                (4, "hang"),
                (5, "loop"),
                (6, "to-file"),
                (7, "to-ftp"),
                (8, "offsite"),
                (9, "malformed"),
                (10, "invalid-utf8"),
                (11, "latin1-says-utf8"),
                (12, "good"),
            ]
        )
        + "</channel></rss>",
        "bomb-feed.xml": ENTITY_BOMB + "<rss version='2.0'><channel><item><link>&lol9;</link></item></channel></rss>",
        "bomb-sitemap.xml": ENTITY_BOMB
        + "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><url><loc>&lol9;</loc></url></urlset>",
        "self-index.xml": "<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        "<sitemap><loc>{{BASE}}/sitemap_index.xml</loc></sitemap></sitemapindex>",
    }
    for name, text in files.items():
        (root / name).write_text(text, "utf-8")
    (root / "invalid.html").write_bytes(
        b"<html><head><title>Byte Rusak</title></head><body><p>"
        + GOOD.encode()
        + b"\xff\xfe\xc3\x28 batik \x80\x81</p></body></html>"
    )
    (root / "latin1.html").write_bytes(
        (
            "<html><head><title>Café Batik</title></head><body><p>" + GOOD + " Kafé dan crème brûlée.</p></body></html>"
        ).encode("latin-1", "replace")
    )
    html = {"Content-Type": "text/html; charset=utf-8"}
    xml = {"Content-Type": "application/xml"}
    routes = {
        "/feed": {"file": "feed.xml", "headers": xml},
        "/bomb-feed.xml": {"file": "bomb-feed.xml", "headers": xml},
        "/bomb-sitemap.xml": {"file": "bomb-sitemap.xml", "headers": xml},
        "/sitemap_index.xml": {"file": "self-index.xml", "headers": xml},
        "/read/1/huge": {"hostile": {"kind": "huge", "size": 100 * 1024 * 1024}},
        "/read/2/huge-chunked": {"hostile": {"kind": "huge", "size": 100 * 1024 * 1024, "length": False}},
        "/read/3/bomb": {"hostile": {"kind": "gzip_bomb", "size": 1 << 30}},
        "/read/4/hang": {"hostile": {"kind": "hang"}},
        "/read/5/loop": {"redirect": "/read/5/loop-b", "status": 302},
        "/read/5/loop-b": {"redirect": "/read/5/loop", "status": 302},
        "/read/6/to-file": {"redirect": "file:///etc/passwd", "status": 302},
        "/read/7/to-ftp": {"redirect": "ftp://127.0.0.1/read/7", "status": 302},
        "/read/8/offsite": {"redirect": "http://127.0.0.2:9/read/8/elsewhere", "status": 302},
        "/read/9/malformed": {"file": "malformed.html", "headers": html},
        "/read/10/invalid-utf8": {"file": "invalid.html", "headers": html},
        "/read/11/latin1-says-utf8": {"file": "latin1.html", "headers": html},
        "/read/12/good": {"file": "good.html", "headers": html},
        "/agenda": {"hostile": {"kind": "calendar"}},
        "/arsip": {"hostile": {"kind": "links", "count": 100_000}},
    }
    (root / "_routes.json").write_text(json.dumps(routes), "utf-8")
    return root


MEASURE = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
           "print('peak-rss-mb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, file=sys.stderr); "
           "sys.exit(code)")

REGISTRY = """
[[source]]
id = "hostile"
name = "Hostile"
homepage = "{base}/"
feeds = ["{base}/feed", "{base}/bomb-feed.xml"]
sitemaps = ["{base}/sitemap_index.xml", "{base}/bomb-sitemap.xml"]
listings = ["{base}/agenda?page=1", "{base}/arsip"]
article_pattern = "/read/"
timezone = "Asia/Jakarta"
delay = 0.0
"""


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    good = Sites(tmp / "good").start()
    server = HostileServer(hostile_site(tmp / "site")).start()  # bombs built before the crawl
    try:
        data = tmp / "data"
        first = run_ccnews("crawl", "warta-uji", *FAST, data_dir=data, registry=good.registry)
        assert first.returncode == 0
        before = articles(data)
        registry = tmp / "all.toml"
        registry.write_text(good.registry.read_text("utf-8") + REGISTRY.format(base=server.base), "utf-8")
        t0 = time.monotonic()
        # A wrapper process whose only child is the crawl, so its peak memory is the crawl's own.
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, sys.executable, "-m", "ccnews", "crawl", "hostile", *FAST,
             "-s", "DOWNLOAD_TIMEOUT=5", "-s", "RETRY_TIMES=0"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
            env={**os.environ, "CCNEWS_DATA": str(data), "CCNEWS_SOURCES": str(registry)},
        )
        elapsed = time.monotonic() - t0
        peak_mb = float(result.stderr.strip().splitlines()[-1].split()[-1])
        yield {"data": data, "result": result, "before": before, "elapsed": elapsed, "peak_mb": peak_mb,
               "server": server}
    finally:
        server.stop()
        good.stop()


def stats(data: Path) -> dict:
    with sqlite3.connect(data / "archive.db") as db:
        row = db.execute("select stats, skipped, errors, outcome from crawl_runs where source = 'hostile'").fetchone()
    return {"stats": json.loads(row[0]), "skipped": json.loads(row[1]), "errors": row[2], "outcome": row[3]}


def test_the_crawl_ends_without_a_traceback(hostile_crawl):
    r = hostile_crawl["result"]
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr + r.stdout
    assert hostile_crawl["elapsed"] < 60  # a 100,000-link listing once held the crawl for 84 s


def test_memory_stays_bounded(hostile_crawl):
    # 100 MB pages, a 1 GB gzip bomb and a 100,000-link listing, and the crawl process stays small.
    assert hostile_crawl["peak_mb"] < 400


def test_nothing_already_archived_is_lost(hostile_crawl):
    data = hostile_crawl["data"]
    with sqlite3.connect(data / "archive.db") as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    before = {a["url"]: a["content_hash"] for a in hostile_crawl["before"]}
    after = {a["url"]: a["content_hash"] for a in articles(data) if a["url"] in before}
    assert after == before


def test_good_and_repairable_pages_are_archived(hostile_crawl):
    rows = {a["url"].split("/", 3)[3]: a for a in articles(hostile_crawl["data"]) if a["source"] == "hostile"}
    assert "Perajin batik di kampung Kauman" in rows["read/12/good"]["text"]
    assert "Perajin batik" in rows["read/9/malformed"]["text"]
    assert "Perajin batik" in rows["read/10/invalid-utf8"]["text"]
    assert "crème brûlée" in rows["read/11/latin1-says-utf8"]["text"]
    assert set(rows) == {"read/9/malformed", "read/10/invalid-utf8", "read/11/latin1-says-utf8", "read/12/good"}


def test_oversized_bombs_hangs_and_bad_redirects_are_counted(hostile_crawl):
    s = stats(hostile_crawl["data"])
    errors = {k.split("/", 2)[2]: v for k, v in s["stats"].items() if k.startswith("ccnews/errors/")}
    # Each hostile answer met its own defence, and was counted as what it is:
    assert errors == {
        "too_large": 2,  # 100 MB with a Content-Length, and 100 MB streamed without one
        "decompression_bomb": 1,  # 1 GB once inflated: Scrapy stops inflating at DOWNLOAD_MAXSIZE
        "timeout": 1,  # the page that never finishes
        "http_302": 2,  # redirects to file:// and ftp:// are not followed
    }
    # The entity bombs in a feed and a sitemap, and the redirect to another host.
    assert s["skipped"] == {"malformed_xml": 2, "off_site": 1}


def test_redirects_to_other_schemes_and_hosts_are_not_followed(hostile_crawl):
    paths = [p for p, _m, _s in hostile_crawl["server"].requests]
    assert "/read/6/to-file" in paths and "/read/8/offsite" in paths
    assert not [a for a in articles(hostile_crawl["data"]) if "passwd" in (a["text"] or "") or "elsewhere" in a["url"]]


def test_redirect_loop_and_self_referencing_sitemap_end(hostile_crawl):
    paths = [p for p, _m, _s in hostile_crawl["server"].requests]
    assert paths.count("/read/5/loop") <= 4
    assert paths.count("/sitemap_index.xml") == 1


def test_endless_calendar_and_huge_listing_are_bounded(hostile_crawl):
    paths = [p for p, _m, _s in hostile_crawl["server"].requests]
    calendar = [p for p in paths if p.startswith("/agenda")]
    assert len(calendar) <= 6  # the first page and CCNEWS_LISTING_DEPTH (5) more
    assert paths.count("/arsip") == 1
    assert stats(hostile_crawl["data"])["stats"].get("ccnews/discovery/links_truncated") == 1
