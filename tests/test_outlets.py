"""Outlets as they are on the real web: patterns that see normalised URLs, exact host scope,
discovery when a configured URL fails, offset pagination, stale feeds."""

from __future__ import annotations

import json

import pytest
from helpers import FAST, articles, run_ccnews

from ccnews.sites import SiteArticle, SiteServer, SiteSpec, build_site

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` is the quick lane


def para(n: int, topic: str) -> str:
    return (f"Bagian {n}: kabar {topic} dari kota kreatif yang terus menggelar kegiatan bersama para perajin, "
            "pelajar dan pelaku usaha kecil di ruang publik kota sepanjang pekan dengan ribuan pengunjung.")


def article(path: str, topic: str, published: str = "2026-11-20T09:00:00+07:00", **extra) -> SiteArticle:
    return SiteArticle(path=path, title=f"Kabar {topic.title()}", pages=[[para(1, topic), para(2, topic)]],
                       published=published, shown_date="20 November 2026", **extra)


def crawl(tmp_path, spec, registry: str, routes=None, *extra):
    server = SiteServer(build_site(tmp_path / "site", spec, routes)).start()
    path = tmp_path / "sources.toml"
    path.write_text(registry.format(base=server.base), "utf-8")
    try:
        result = run_ccnews("crawl", "outlet", *FAST, *extra, data_dir=tmp_path / "data", registry=path)
    finally:
        server.stop()
    runs = json.loads(run_ccnews("runs", "--json", data_dir=tmp_path / "data").stdout or "[]")
    return result, runs[0] if runs else {}, server


BASE = """\
[[source]]
id = "outlet"
name = "Outlet"
homepage = "{{base}}/"
timezone = "Asia/Jakarta"
delay = 0.0
{body}
"""


def test_a_pattern_anchored_at_the_end_accepts_feed_entries_with_tracking_parameters(tmp_path):
    spec = SiteSpec(name="Solo", lang="id", articles=[
        article(f"/kabar-batik-solo-{n}-217230{n}", f"batik {n}", feed_suffix="?utm_source=rss&utm_medium=feed")
        for n in range(3)])
    result, run, _ = crawl(
        tmp_path, spec, BASE.format(body='feeds = ["{base}/feed"]\narticle_pattern = "-\\\\d{{6,}}$"')
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert run["articles_new"] == 3


def test_a_failed_configured_sitemap_makes_the_same_run_discover_the_feed(tmp_path):
    spec = SiteSpec(
        name="Disway",
        lang="id",
        articles=[article(f"/read/{n}/kabar-{n}", f"batik {n}") for n in range(3)],
        extra_sitemap_paths=[],
    )
    routes = {
        "/sitemap.xml": {"status": 404, "body": "<html>not here</html>", "headers": {"Content-Type": "text/html"}},
        "/robots.txt": {"body": "User-agent: *\nDisallow:\n", "headers": {"Content-Type": "text/plain"}},
    }
    result, run, server = crawl(
        tmp_path, spec, BASE.format(body='sitemaps = ["{base}/sitemap.xml"]\narticle_pattern = "/read/\\\\d+/"'), routes
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert run["articles_new"] == 3
    import sqlite_utils

    row = next(sqlite_utils.Database(tmp_path / "data" / "archive.db").query("select stats from crawl_runs"))
    stats = json.loads(row["stats"])
    assert stats["ccnews/config/failed"] == f"{server.base}/sitemap.xml (HTTP 404)"
    assert f"{server.base}/feed (3 entries)" in stats["ccnews/discovery/found"]
    assert f"outlet: found (add it to the registry): {server.base}/feed (3 entries)" in result.stderr


def test_a_listing_paginated_by_offset_is_followed(tmp_path):
    arts = [article(f"/read/{n}/kabar-{n}", f"kriya {n}", in_feed=False, in_sitemap=False, in_listing=False)
            for n in range(6)]
    spec = SiteSpec(name="Offset", lang="id", articles=arts)

    def listing(items, offsets):
        links = "".join(f'<li><a href="/read/{n}/kabar-{n}">Kabar {n}</a></li>' for n in items)
        pager = "".join(f'<a href="/kategori/lokal/{o}">{o // 10 + 1}</a> ' for o in offsets)
        return {"body": f"<html><body><ul>{links}</ul><div class='pager'>{pager}</div></body></html>",
                "headers": {"Content-Type": "text/html; charset=utf-8"}}

    # Two items a page in the test; outlets count 30 (`/kategori/lokal/30`, `/60`).
    routes = {"/kategori/lokal": listing([0, 1], [10, 20]), "/kategori/lokal/10": listing([2, 3], [20]),
              "/kategori/lokal/20": listing([4, 5], [10])}
    result, run, _ = crawl(
        tmp_path,
        spec,
        BASE.format(body='listings = ["{base}/kategori/lokal"]\narticle_pattern = "/read/\\\\d+/"'),
        routes,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert run["articles_new"] == 6


def test_a_feed_whose_newest_entry_is_months_old_is_reported_stale(tmp_path):
    spec = SiteSpec(name="Old", lang="id", articles=[
        article(f"/read/{n}/kabar-{n}", f"tenun {n}", published=f"2023-08-0{n + 1}T09:00:00+07:00") for n in range(2)])
    result, run, server = crawl(tmp_path, spec, BASE.format(body='feeds = ["{base}/feed"]\narticle_pattern = "/read/"'))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"outlet: stale feed: {server.base}/feed (newest entry 2023-08-02)" in result.stderr


def test_host_scope_is_exact_unless_a_wildcard_says_otherwise():
    from crawler.discovery import host_allowed
    from crawler.registry import parse_registry

    src = parse_registry('[[source]]\nid = "pr"\nname = "PR"\nhomepage = "https://www.pikiran-rakyat.com/"\n'
                         'domains = ["*.antaranews.com"]\n', "t.toml")["pr"]
    assert host_allowed("https://www.pikiran-rakyat.com/news/pr-1/x", src.scope)
    assert host_allowed("https://pikiran-rakyat.com/news/pr-1/x", src.scope)
    assert not host_allowed("https://bola.pikiran-rakyat.com/news/pr-1/x", src.scope)  # a sister outlet
    assert host_allowed("https://ambon.antaranews.com/berita/1/x", src.scope)


def check(tmp_path, spec, registry: str, routes=None, *extra):
    server = SiteServer(build_site(tmp_path / "site", spec, routes)).start()
    path = tmp_path / "sources.toml"
    path.write_text(registry.format(base=server.base), "utf-8")
    try:
        result = run_ccnews("sources", "check", *extra, "-s", "AUTOTHROTTLE_START_DELAY=0.01", registry=path)
    finally:
        server.stop()
    return result, server


def test_sources_check_reports_each_configured_url_and_suggests_the_fix(tmp_path):
    spec = SiteSpec(
        name="Disway", lang="id", articles=[article(f"/read/{n}/kabar-{n}", f"batik {n}") for n in range(3)]
    )
    routes = {
        "/sitemap.xml": {"status": 404, "body": "<html>not here</html>", "headers": {"Content-Type": "text/html"}}
    }
    body = 'sitemaps = ["{base}/sitemap.xml"]\nlistings = ["{base}/kategori/berita"]\narticle_pattern = "/read/\\\\d+/"'
    result, server = check(tmp_path, spec, BASE.format(body=body), routes, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    (report,) = json.loads(result.stdout)
    assert report["ok"] and report["title"].startswith("Kabar Batik")
    by_url = {u["url"]: u for u in report["urls"]}
    assert by_url[f"{server.base}/sitemap.xml"]["problem"] == "HTTP 404"
    listing = by_url[f"{server.base}/kategori/berita"]
    assert listing["ok"] and listing["accepted"] == listing["on_site"] >= 1
    assert (
        f"replace {server.base}/sitemap.xml with {server.base}/feed (found by discovery, 3 entries)"
        in report["suggestions"]
    )


def test_sources_check_says_when_the_pattern_rejects_most_entries(tmp_path):
    spec = SiteSpec(
        name="Redesign", lang="id", articles=[article(f"/artikel/{n}/kabar-{n}", f"tenun {n}") for n in range(4)]
    )
    result, server = check(
        tmp_path, spec, BASE.format(body='feeds = ["{base}/feed"]\narticle_pattern = "/read/\\\\d+/"')
    )
    assert result.returncode == 1
    assert f"outlet: {server.base}/feed: article_pattern accepts 0 of 4 entries" in result.stderr
    assert "suggestion: check article_pattern: it rejects " in result.stderr
    assert "Traceback" not in result.stderr


def test_sources_check_offline_is_one_line_per_source(tmp_path):
    reg = tmp_path / "dead.toml"
    reg.write_text("".join(f'[[source]]\nid = "dead{n}"\nname = "Dead"\nhomepage = "http://127.0.0.1:9/"\n'
                           f'feeds = ["http://127.0.0.1:9/feed{n}"]\ndelay = 0.0\n' for n in range(3)))
    result = run_ccnews("sources", "check", "-s", "RETRY_TIMES=0", registry=reg)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"dead{n}: connection refused" for n in range(3)] + [
        "Error: 3 of 3 source(s) yielded no article"]


def test_health_flags_the_signs_of_a_site_redesign(tmp_path):
    from archive import Archive

    registry = tmp_path / "sources.toml"
    registry.write_text(BASE.format(body="").replace("{base}", "http://127.0.0.1:1"), "utf-8")
    data = tmp_path / "data"
    with Archive(data) as archive:
        def run(mismatch, entries, started):
            run_id = archive.start_run("outlet")
            archive.db["crawl_runs"].update(run_id, {"started": started})
            archive.finish_run(run_id, {"outcome": "ok", "finish_reason": "finished", "pages_fetched": 10,
                                        "stats": {"ccnews/discovery/pattern_mismatch": mismatch,
                                                  "ccnews/discovery/entries": entries}})

        def stored(n, words, first_seen):
            archive.store_article({"url": f"http://127.0.0.1:1/read/{n}/a", "source": "outlet", "title": f"A {n}",
                                   "text": "kata " * words, "word_count": words, "fetched_at": first_seen,
                                   "first_seen": first_seen}, pages=[])

        for day, (mismatch, entries) in enumerate([(1, 20), (0, 25)], 1):
            run(mismatch, entries, f"2026-11-0{day}T00:00:00+00:00")
        for n in range(6):
            stored(n, 600, "2026-11-01T01:00:00+00:00")
        run(40, 3, "2026-11-20T00:00:00+00:00")  # the redesign: most listed URLs no longer match
        for n in range(6, 10):
            stored(n, 60, "2026-11-20T01:00:00+00:00")  # and what still matches extracts to a stub
    result = run_ccnews("health", "--json", data_dir=data, registry=registry)
    problems = [p["problem"] for p in json.loads(result.stdout)]
    assert result.returncode == 1
    assert any(p.startswith("article_pattern now rejects 93% of listed URLs (before: 2%)") for p in problems), problems
    assert any(p.startswith("articles of the last run average 60 words, against 600 before") for p in problems), (
        problems
    )


# -- onboarding an outlet in one command ---------------------------------------------------------

NO_FEED = {"status": 404, "body": "<html>404</html>", "headers": {"Content-Type": "text/html"}}
ROBOTS_ONLY = {"body": "User-agent: *\nDisallow: /private/\n", "headers": {"Content-Type": "text/plain"}}


def onboard(tmp_path, spec, routes=None, *extra):
    from crawler.registry import parse_registry

    server = SiteServer(build_site(tmp_path / "site", spec, routes)).start()
    try:
        result = run_ccnews("sources", "add", f"{server.base}/", "--delay", "0", *extra)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    entry = next(iter(parse_registry(result.stdout, "proposed").values()))
    return entry, result, server


def shape_accepts(entry, url: str) -> bool:
    import re

    from crawler.discovery import host_allowed

    return host_allowed(url, entry.scope) and bool(re.search(entry.article_pattern, url))


def test_sources_add_onboards_a_wordpress_outlet(tmp_path):
    spec = SiteSpec(name="Kabar Pekalongan", lang="id", articles=[
        article(f"/2024/0{n + 1}/1{n}/kabar-batik-pesisir-{n}/", f"batik pesisir {n}") for n in range(5)])
    entry, result, server = onboard(tmp_path, spec)
    assert entry.feeds == [f"{server.base}/feed"] or entry.sitemaps == [f"{server.base}/sitemap.xml"]
    assert shape_accepts(entry, f"{server.base}/2025/03/21/pekan-kriya-dibuka-hari-ini/")
    assert not shape_accepts(entry, f"{server.base}/tag/budaya")
    assert not shape_accepts(entry, f"{server.base}/kategori/berita")
    assert entry.language == "id" and entry.timezone in ("Asia/Jakarta", "UTC") and entry.city == "Pekalongan"
    assert result.stderr.count("extracted: Kabar Batik Pesisir") == 3


def test_sources_add_onboards_a_disway_like_outlet_with_rss_only(tmp_path):
    spec = SiteSpec(name="Radar Contoh", lang="id", articles=[
        article(f"/read/{700 + n}/kabar-tenun-ikat-{n}", f"tenun ikat {n}") for n in range(5)])
    routes = {"/feed": NO_FEED, "/sitemap.xml": NO_FEED, "/robots.txt": ROBOTS_ONLY}
    server_routes = routes | {"/rss": {"file": "feed.xml", "headers": {"Content-Type": "application/rss+xml"}}}
    entry, result, server = onboard(tmp_path, spec, server_routes)
    assert entry.feeds == [f"{server.base}/rss"] and not entry.sitemaps
    assert entry.article_pattern.startswith("/read/")
    assert shape_accepts(entry, f"{server.base}/read/98765/pekan-batik-nusantara-dibuka")
    assert not shape_accepts(entry, f"{server.base}/kategori/berita")


def test_sources_add_onboards_a_government_site_without_a_feed_and_writes_the_entry(tmp_path):
    spec = SiteSpec(name="Pemerintah Kota Pekalongan", lang="id", listing_path="/berita", per_listing_page=5, articles=[
        article(f"/berita/kabar-kriya-kota-hari-ke-{n}.html", f"kriya kota {n}") for n in range(5)])
    routes = {"/feed": NO_FEED, "/sitemap.xml": NO_FEED, "/robots.txt": ROBOTS_ONLY}
    registry = tmp_path / "mine.toml"
    registry.write_text('[[source]]\nid = "lain"\nname = "Lain"\nhomepage = "http://127.0.0.1:1/"\n', "utf-8")
    entry, result, server = onboard(
        tmp_path, spec, routes, "--id", "kota-contoh", "--sources", str(registry), "--write"
    )
    assert entry.id == "kota-contoh" and not entry.feeds and not entry.sitemaps
    assert entry.listings == [f"{server.base}/berita"]
    assert entry.article_pattern == "/berita/[a-z0-9-]+\\.html?$"
    assert not shape_accepts(entry, f"{server.base}/berita") and not shape_accepts(entry, f"{server.base}/tag/budaya")
    from crawler.registry import load_registry

    assert set(load_registry(registry)) == {"lain", "kota-contoh"}
    again = run_ccnews("sources", "add", f"{server.base}/", "--id", "kota-contoh", "--sources", str(registry))
    assert again.returncode != 0  # the server is gone, or the id is taken: either way, nothing written twice
    assert set(load_registry(registry)) == {"lain", "kota-contoh"}


def test_a_feed_entry_on_a_sister_subdomain_is_not_the_sources(tmp_path):
    spec = SiteSpec(name="Induk", lang="id", articles=[article("/read/1/kabar-induk", "kabar induk")])
    items = "".join(f"<item><title>Saudara {n}</title><link>http://bola.localhost:{{port}}/read/{n}/kabar-saudara</link></item>"
                    for n in range(2, 4))
    items += "<item><title>Induk</title><link>http://localhost:{port}/read/1/kabar-induk</link></item>"
    server = SiteServer(build_site(tmp_path / "site", spec, {"/berita.xml": {
        "body": f"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>{items}</channel></rss>",
        "headers": {"Content-Type": "application/rss+xml"}}}))
    port = server.httpd.server_address[1]
    server.routes["/berita.xml"]["body"] = server.routes["/berita.xml"]["body"].format(port=port)
    server.start()
    registry = tmp_path / "sources.toml"
    registry.write_text(
        f'[[source]]\nid = "outlet"\nname = "Induk"\nhomepage = "http://localhost:{port}/"\n'
        f'feeds = ["http://localhost:{port}/berita.xml"]\ntimezone = "Asia/Jakarta"\ndelay = 0.0\n',
        "utf-8",
    )
    try:
        result = run_ccnews("crawl", "outlet", *FAST, data_dir=tmp_path / "data", registry=registry)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    import sqlite_utils

    stats = json.loads(
        next(sqlite_utils.Database(tmp_path / "data" / "archive.db").query("select stats from crawl_runs"))["stats"]
    )
    assert stats.get("ccnews/discovery/off_site") == 2
    assert not any(k.startswith("ccnews/errors/") for k in stats)
    assert [r["title"] for r in articles(tmp_path / "data")] == ["Kabar Kabar Induk"]
