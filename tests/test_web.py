"""`ccnews serve`: the web page on the crawled fixture archive, over real HTTP on 127.0.0.1, and in
a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import csv
import http.cookiejar
import io
import json
import os
import re
import shutil
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from helpers import articles, by_path, run_ccnews

from ccnews.web import create_app
from crawler.registry import load_registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Served:
    """The web page of a data directory on 127.0.0.1, in a thread of the test."""

    def __init__(self, data: Path, registry: Path | None = None, **options):
        from werkzeug.serving import make_server

        self.app = create_app(data, load_registry(registry) if registry else {}, **options)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def web_data(crawled, tmp_path_factory):
    """A copy of the crawled fixture archive: the page's collections write into it."""
    data = tmp_path_factory.mktemp("web") / "data"
    shutil.copytree(crawled["data"], data)
    return data


@pytest.fixture(scope="module")
def served(web_data, sites):
    s = Served(web_data, sites.registry)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def page_server(served):
    return served.base


def get(base: str, path: str, opener=None) -> tuple[int, str]:
    try:
        with (opener or urllib.request.build_opener()).open(base + path, timeout=30) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def get_json(base: str, path: str):
    status, text = get(base, path)
    return status, json.loads(text)


class Browser:
    """A client with cookies that posts forms as the page's own forms do (token included)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  NoRedirect())

    def get(self, path: str) -> tuple[int, str]:
        return get(self.base, path, self.opener)

    def token(self, path: str = "/collections") -> str:
        _s, html = self.get(path)
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def post(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
        req = urllib.request.Request(self.base + path, data=urllib.parse.urlencode(fields).encode(), method="POST")
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers.get("Location") or r.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location") or exc.read().decode("utf-8")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def archive_rows(data: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(data / "archive.db") as db:
        return db.execute(sql, params).fetchall()


def test_a_syndicated_story_shows_once_with_its_copies_and_facet_counts(page_server, crawled):
    status, html = get(page_server, "/?q=Icheon")
    assert status == 200
    assert html.count('class="hit"') == 1
    assert "also published by:" in html and ">kota-uji</a>" in html
    # Counts beside each filter value, for the current query; each value is a link keeping the query.
    assert '<a class="" href="?q=Icheon&amp;source=warta-uji">warta-uji</a> <span class="n">1</span>' in html
    assert '<a class="" href="?q=Icheon&amp;source=kota-uji">kota-uji</a> <span class="n">1</span>' in html
    assert "<mark>Icheon</mark>" in html
    assert "<svg" in html and "articles per year" in html
    assert "<title>2016: 2</title>" in html  # the founding article and its copy, in the year's bar


def test_the_state_lives_in_the_url(page_server):
    _s, html = get(page_server, "/?q=batik&source=kota-uji&sort=date")
    assert 'value="batik"' in html and 'value="date" selected' in html
    assert "· warta-uji ·" not in html and "· kota-uji ·" in html  # only the chosen source's articles
    hits = html.count('class="hit"')
    assert hits >= 1
    _s, toggled_off = get(page_server, "/?q=batik")
    assert toggled_off.count('class="hit"') > hits


def test_malformed_queries_and_filters_are_said_inline(page_server):
    status, html = get(page_server, "/?q=" + urllib.parse.quote('"chiang mai'))
    assert status == 200 and 'class="error"' in html and "unbalanced quote" in html
    _s, html = get(page_server, "/?q=batik&field=pottery")
    assert "is not a creative field" in html
    _s, html = get(page_server, "/?q=batik&since=2025-01-01&until=2020-01-01")
    assert "later than --until" in html


def test_pages_and_csv_download(page_server, crawled):
    _s, first = get(page_server, "/?q=kota")
    assert 'rel="next"' in first or first.count('class="hit"') < 20
    status, text = get(page_server, "/export.csv?q=batik")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    by_url = {a["url"]: a for a in articles(crawled["data"])}
    assert rows and all(r["url"] in by_url for r in rows)
    assert all("batik" in (by_url[r["url"]]["text"] + by_url[r["url"]]["title"]).lower() for r in rows)


def test_an_article_page_shows_the_text_and_copies(page_server, crawled):
    original = by_path(articles(crawled["data"]), "/read/101/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik")
    status, html = get(page_server, f"/article/{original['id']}")
    assert status == 200 and original["title"] in html
    assert "Copies" in html and "kota-uji" in html
    assert get(page_server, "/article/999999")[0] == 404


def test_archived_values_are_escaped_and_never_become_script_links():
    from ccnews.web import marked, web_href

    assert web_href("javascript:alert(1)") == "#" and web_href("JaVaScRiPt:x") == "#"
    assert web_href("data:text/html,<script>") == "#"
    assert web_href("https://radarpekalongan.com/24530/x/") == "https://radarpekalongan.com/24530/x/"
    assert str(marked('<script>alert(1)</script> **batik** <img src=x onerror=y>')) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; <mark>batik</mark> &lt;img src=x onerror=y&gt;")


def test_every_asset_is_bundled(page_server):
    _s, html = get(page_server, "/?q=batik")
    assert 'href="/static/style.css"' in html
    assert "<script" not in html  # no JavaScript to fetch, no build step
    assert get(page_server, "/static/style.css")[0] == 200


def test_serve_without_an_archive_is_one_line(tmp_path):
    result = run_ccnews("serve", data_dir=tmp_path / "none", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: no archive at {tmp_path / 'none' / 'archive.db'}: run `ccnews crawl` or `ccnews demo` first"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ctrl_c_stops_the_server_with_one_line(crawled):
    import signal
    import subprocess
    import sys

    from helpers import REPO

    proc = subprocess.Popen([sys.executable, "-m", "ccnews", "serve", "--port", str(free_port()),
                             "--data-dir", str(crawled["data"])], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = proc.stderr.readline()
    assert first.startswith("serving "), first + proc.stderr.read()
    os.killpg(proc.pid, signal.SIGINT)
    _out, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130 and rest.strip().splitlines() == ["interrupted"]



def test_the_timeline_per_month_and_source_is_the_command_lines(page_server, web_data, tmp_path):
    _s, html = get(page_server, "/?q=batik&by=month&series=source")
    assert "articles per month, one colour per source" in html
    legend = re.findall(r'<li><svg width="10" height="10"><rect[^>]*></rect></svg> ([^<]+)</li>', html)
    assert sorted(legend) == ["kota-uji", "warta-uji"]
    status, text = get(page_server, "/timeline.csv?q=batik&by=month&series=source")
    assert status == 200 and text.startswith("period,source,articles")
    cli_csv = tmp_path / "t.csv"
    result = run_ccnews("timeline", "batik", "--by", "month", "--by-source", "--csv", str(cli_csv), data_dir=web_data)
    assert result.returncode == 0, result.stderr
    assert text.replace("\r\n", "\n") == cli_csv.read_text("utf-8").replace("\r\n", "\n")
    # Every dated match is counted once per source; the bars' titles carry the same counts.
    rows = list(csv.DictReader(io.StringIO(text)))
    _s, api = get_json(page_server, "/api/timeline?q=batik&by=month&series=source")
    assert sum(int(r["articles"]) for r in rows) == sum(sum(v) for v in api["series"].values()) > 0
    assert api["periods"] == sorted({r["period"] for r in rows})
    _s, by_city = get_json(page_server, "/api/timeline?q=batik&by=year&series=city")
    assert by_city["series"] and "Pekalongan" in by_city["series"]


def test_a_captured_page_is_its_stored_bytes_in_a_sandbox(page_server, web_data):
    from archive import Archive

    original = by_path(articles(web_data), "/read/101/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik")
    _s, html = get(page_server, f"/article/{original['id']}")
    frames = re.findall(r"<iframe[^>]*>", html)
    assert frames and all(" sandbox " in f and f'src="/raw/{original["id"]}/' in f for f in frames)
    with urllib.request.urlopen(f"{page_server}/raw/{original['id']}/1", timeout=30) as r:
        body, csp = r.read(), r.headers["Content-Security-Policy"]
        assert r.headers["Content-Type"].startswith("text/html")
    with Archive(web_data, create=False) as archive:
        assert body == archive.raw_pages(original["id"])[0]["body"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script" not in csp
    for path in (f"/raw/{original['id']}/9", "/raw/999999/1", "/raw/..%2F..%2Fetc%2Fpasswd/1",
                 "/raw/1/1/../../../archive.db", "/static/../archive.db"):
        assert get(page_server, path)[0] == 404, path


def test_every_page_runs_no_script(page_server):
    for path in ("/", "/?q=batik", "/collections", "/sources", "/runs"):
        with urllib.request.urlopen(page_server + path, timeout=30) as r:
            assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'none' covers it
            assert "default-src 'none'" in r.headers["Content-Security-Policy"], path
            assert b"<script" not in r.read(), path


def test_collections_from_a_search_with_a_token_the_same_as_the_command_line(served, web_data):
    b = Browser(served.base)
    fields = [("q", "batik"), ("source", "kota-uji"), ("name", "batik-kota"), ("description", "from the page")]
    # Without the page's token (a request forged by another site) nothing is written.
    status, _ = b.post("/collections", fields)
    assert status == 400 and not archive_rows(web_data, "select * from collections where name = 'batik-kota'")
    status, location = b.post("/collections", [("csrf_token", b.token()), *fields])
    assert status == 303 and location.endswith("/collections/batik-kota")
    shown = json.loads(run_ccnews("collection", "show", "batik-kota", "--json", data_dir=web_data).stdout)
    assert shown["query"] == "batik" and shown["filters"] == {"sources": ["kota-uji"]}
    cli = run_ccnews("search", "batik", "--source", "kota-uji", "--all-copies", "--json", "--limit", "100",
                     data_dir=web_data)
    expected = sorted(h["id"] for h in json.loads(cli.stdout))
    assert expected and sorted(a["id"] for a in shown["articles"]) == expected
    # Remove one from its page, add it back from the article page's form.
    gone = expected[0]
    status, _ = b.post("/collections/batik-kota/remove", [("csrf_token", b.token()), ("article_id", str(gone))])
    assert status == 303
    _s, page = b.get("/collections/batik-kota")
    assert page.count('class="member"') == len(expected) - 1 and f'href="/article/{gone}"' not in page
    b.post("/collections/add", [("csrf_token", b.token()), ("collection", "batik-kota"), ("article_id", str(gone)),
                                ("next", f"/article/{gone}")])
    _s, article_page = b.get(f"/article/{gone}")
    assert 'href="/collections/batik-kota"' in article_page
    # Exports are the command line's exports.
    for fmt in ("csv", "json", "ndjson"):
        _s, served_text = b.get(f"/collections/batik-kota/export.{fmt}")
        cli_text = run_ccnews("collection", "export", "batik-kota", "--format", fmt, data_dir=web_data).stdout
        assert served_text.replace("\r\n", "\n") == cli_text.replace("\r\n", "\n"), fmt
    assert len(json.loads(served_text.splitlines()[0])) > 5
    _s, api = get_json(served.base, "/api/collections")
    assert {"name": "batik-kota", "articles": len(expected)}.items() <= api[0].items()
    status, location = b.post("/collections/batik-kota/delete", [("csrf_token", b.token())])
    assert status == 303 and not archive_rows(web_data, "select * from collections where name = 'batik-kota'")
    # A redirect target from the form never leaves the site.
    status, location = b.post("/collections", [("csrf_token", b.token()), ("name", ""),
                                               ("next", "//evil.example/")])
    assert status == 303 and location.endswith("/collections") and "evil" not in location


def test_read_only_serves_no_form_and_refuses_writes(web_data, sites):
    s = Served(web_data, sites.registry, read_only=True)
    try:
        b = Browser(s.base)
        for path in ("/?q=batik", "/collections", f"/article/{articles(web_data)[0]['id']}"):
            assert 'method="post"' not in b.get(path)[1], path
        for path, fields in (("/collections", [("name", "x"), ("q", "batik")]),
                             ("/collections/add", [("collection", "x"), ("article_id", "1")]),
                             ("/collections/x/delete", [])):
            status, text = b.post(path, fields)
            assert status == 403 and "read-only" in text, path
        assert not archive_rows(web_data, "select * from collections where name = 'x'")
    finally:
        s.stop()


def test_sources_and_runs_pages_say_what_the_commands_say(page_server, web_data, sites):
    _s, html = get(page_server, "/sources")
    runs = json.loads(run_ccnews("runs", "--json", data_dir=web_data).stdout)
    counts = dict(archive_rows(web_data, "select source, count(*) from articles group by source"))
    for source, n in counts.items():
        row = re.search(rf'<strong>{source}</strong>.*?</tr>', html, re.S).group(0)
        assert f">{n}</a>" in row
        last = max((r for r in runs if r["source"] == source), key=lambda r: r["id"])
        assert f'href="/runs/{last["id"]}"' in row and f"<td>{last['outcome']}</td>" in row
    _s, api = get_json(page_server, "/api/sources")
    assert {r["source"]: r["articles"] for r in api if r["articles"]} == counts
    run = max(runs, key=lambda r: r["articles_skipped"])
    _s, page = get(page_server, f"/runs/{run['id']}")
    for reason, n in run["skipped"].items():
        assert f"{reason} {n}" in page
    _s, api_run = get_json(page_server, f"/api/runs/{run['id']}")
    assert api_run["skipped"] == run["skipped"] and api_run["pages_fetched"] == run["pages_fetched"]
    assert get(page_server, "/runs/999999")[0] == 404


def test_the_api_answers_what_the_commands_answer(page_server, web_data):
    for query, options in (("batik", []), ('"kota kreatif"', ["--sort", "date"]), ("Icheon", [])):
        cli = json.loads(run_ccnews("search", query, *options, "--json", data_dir=web_data).stdout)
        qs = urllib.parse.urlencode({"q": query, **({"sort": "date"} if options else {})})
        _s, api = get_json(page_server, "/api/search?" + qs)
        assert api["hits"] == cli and cli, query
    status, bad = get_json(page_server, "/api/search?q=" + urllib.parse.quote('"chiang mai'))
    assert status == 400 and "unbalanced quote" in bad["error"]
    one = cli[0]["id"]
    shown = json.loads(run_ccnews("show", str(one), "--json", data_dir=web_data).stdout)
    _s, api_article = get_json(page_server, f"/api/articles/{one}")
    assert {k: api_article[k] for k in ("title", "url", "published", "authors", "copies")} == \
        {k: shown[k] for k in ("title", "url", "published", "authors", "copies")}
    assert api_article["raw_pages"][0]["page_no"] == 1
    assert get_json(page_server, "/api/articles/999999")[0] == 404


def test_the_server_keeps_one_searcher_and_sees_a_reindex_and_a_repair(web_data, sites, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(web_data, data)
    s = Served(data)
    try:
        before = get_json(s.base, "/api/search?q=batik&all_copies=1&limit=100")[1]["hits"]
        get_json(s.base, "/api/search?q=batik&all_copies=1&limit=100")
        from indexer.index import keep_warm

        warm = keep_warm(data)
        assert warm.opens == 1  # two searches, one searcher
        gone, later = before[0]["id"], before[1]["id"]
        with sqlite3.connect(data / "archive.db") as db:
            db.execute("pragma foreign_keys = off")
            for table, key in (("raw_pages", "article_id"), ("article_urls", "article_id"),
                               ("article_tags", "article_id"), ("collection_articles", "article_id")):
                db.execute(f"delete from {table} where {key} = ?", [gone])
            db.execute("delete from articles where id = ?", [gone])
        # A repair commits beside the running server: its next search sees it without a restart.
        assert run_ccnews("reindex", "--verify", data_dir=data).returncode == 0
        after = [h["id"] for h in get_json(s.base, "/api/search?q=batik&all_copies=1&limit=100")[1]["hits"]]
        assert gone not in after and later in after and len(after) == len(before) - 1
        # A rebuilt index is a new directory: the server opens it.
        with sqlite3.connect(data / "archive.db") as db:
            db.execute("pragma foreign_keys = off")
            db.execute("delete from raw_pages where article_id = ?", [later])
            db.execute("delete from article_urls where article_id = ?", [later])
            db.execute("delete from article_tags where article_id = ?", [later])
            db.execute("delete from articles where id = ?", [later])
        assert run_ccnews("reindex", data_dir=data).returncode == 0
        final = [h["id"] for h in get_json(s.base, "/api/search?q=batik&all_copies=1&limit=100")[1]["hits"]]
        assert later not in final and len(final) == len(before) - 2
        assert warm.opens == 3
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing: .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def test_in_a_browser_search_filter_page_read_and_collect(browser, web_data, sites, tmp_path):
    s = Served(web_data, sites.registry)
    s.app.config["PER_PAGE"] = 3  # a few results per page, so the fixture archive has pages to go through
    shots = Path(os.environ.get("CCNEWS_SCREENSHOTS") or tmp_path)  # CCNEWS_SCREENSHOTS=docs keeps them
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(s.base + "/")
        page.fill("input[name=q]", "batik")
        page.press("input[name=q]", "Enter")
        page.wait_for_selector("li.hit")
        assert "q=batik" in page.url
        total = int(page.inner_text("p.summary").split()[0])
        seen = page.locator("li.hit a.title").all_inner_texts()
        while page.locator("a[rel=next]").count():
            page.click("a[rel=next]")
            page.wait_for_load_state()
            seen += page.locator("li.hit a.title").all_inner_texts()
        assert len(seen) == len(set(seen)) == total > 3  # every story once, over several pages
        page.goto(s.base + "/?q=batik")
        page.click(".facets a:text-is('kota-uji')")
        page.wait_for_url("**source=kota-uji**")
        assert all("kota-uji" in m for m in page.locator("li.hit .meta").all_inner_texts())
        assert 0 < int(page.inner_text("p.summary").split()[0]) < total
        # The timeline is drawn, per month and one colour per source.
        page.goto(s.base + "/?q=batik")
        page.click("figure.timeline a:text-is('month')")
        page.click("figure.timeline a:text-is('per source')")
        page.wait_for_url("**series=source**")
        assert page.locator("figure.timeline svg[role=img] rect").count() > 2
        assert sorted(t.strip() for t in page.locator(".legend li").all_inner_texts()) == ["kota-uji", "warta-uji"]
        box = page.locator("figure.timeline svg[role=img]").bounding_box()
        assert box["width"] > 300 and box["height"] > 100
        page.screenshot(path=str(shots / "serve-search.png"), full_page=True)
        page.locator("figure.timeline").screenshot(path=str(shots / "serve-timeline.png"))
        # An article with its copies and its page as captured, in a sandbox.
        page.goto(s.base + "/?q=" + urllib.parse.quote('"kota kreatif" chiang mai'))
        page.click("li.hit a.title >> nth=0")
        page.wait_for_selector("article h1")
        assert page.locator("section.copies li").count() >= 1
        frame = page.frame_locator("iframe.capture").first
        assert page.inner_text("article h1") in frame.locator("body").inner_text()
        # A tall window rather than full_page: chromium leaves frames blank in full-page captures.
        page.set_viewport_size({"width": 1280, "height": page.evaluate("document.body.scrollHeight")})
        page.screenshot(path=str(shots / "serve-article.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        page.click("section.copies a >> nth=0")
        page.wait_for_selector("article h1")
        # A collection made from a search, then exported.
        page.goto(s.base + "/?q=batik&source=kota-uji")
        page.fill("form.save input[name=name]", "kota-batik")
        page.click("form.save button")
        page.wait_for_url("**/collections/kota-batik")
        members = page.locator("tr.member").count()
        assert members >= 1 and "created with" in page.inner_text(".flash")
        with page.expect_download() as download:
            page.click("a:text-is('CSV')")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
        assert len(rows) == members and all(r["source"] == "kota-uji" for r in rows)
    finally:
        page.close()
        s.stop()


HOSTILE = "<script>window.__pwned=1</script>\"'><img src=x onerror=\"window.__pwned=2\">"
AUTHOR = 'Ratna <Dewi> "onmouseover=window.__pwned=3'


def hostile_page(title: str, beacon: str) -> str:
    import html

    para = ("Para perajin batik di Pekalongan menggelar pameran karya terbaru mereka di alun-alun kota selama "
            "tiga hari, dengan pengunjung dari berbagai daerah yang datang untuk melihat motif baru. ")
    return (
        f'<!DOCTYPE html><html lang="id"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta property="og:title" content="{html.escape(title)}">'
        f'<meta name="author" content="{html.escape(AUTHOR)}">'
        '<script type="application/ld+json">'
        + json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                      "author": {"@type": "Person", "name": AUTHOR}}).replace("<", "\\u003c") + "</script>"
        '<meta property="article:published_time" content="2024-05-02T09:00:00+07:00">'
        '<link rel="canonical" href="javascript:window.__pwned=4">'
        f'<script>window.__pwned = 5; new Image().src = "{beacon}/script";</script>'
        f'<link rel="stylesheet" href="{beacon}/style.css"><style>@import url("{beacon}/import.css");</style>'
        f'</head><body onload="window.__pwned=6"><article><h1>{html.escape(title)}</h1>'
        f'<p>{para * 3}{html.escape(HOSTILE)}</p>'
        f'<p>{para * 2}<a href="javascript:window.__pwned=7">tautan</a> <img src="{beacon}/img.png"></p>'
        f'<iframe src="{beacon}/frame"></iframe><object data="{beacon}/object"></object>'
        f'<p>{para * 3}</p></article></body></html>'
    )


def test_in_a_browser_hostile_pages_run_nothing_and_load_nothing(browser, tmp_path):
    from ccnews.sites import SiteServer, sitemap_site

    (tmp_path / "beacon").mkdir()
    (tmp_path / "beacon" / "_routes.json").write_text("{}")
    beacon = SiteServer(tmp_path / "beacon").start()  # answers 404 to everything, and counts
    root = tmp_path / "site"
    root.mkdir()
    paths = ["/berita/pameran-batik-%22%3E%3Cscript%3Ewindow.__pwned%3D8%3C%2Fscript%3E",
             "/berita/kain-batik-javascript:window.__pwned=9"]
    routes = {}
    for i, path in enumerate(paths):
        (root / f"p{i}.html").write_text(hostile_page(f"Pameran batik {i} {HOSTILE}", beacon.base), "utf-8")
        routes[path] = {"file": f"p{i}.html", "headers": {"Content-Type": "text/html; charset=utf-8"}}
    site = SiteServer(sitemap_site(root, routes, paths)).start()
    registry = tmp_path / "sources.toml"
    registry.write_text(f'''[[source]]
id = "hostile"
name = "Hostile"
homepage = "{site.base}/"
language = "id"
timezone = "Asia/Jakarta"
sitemaps = ["{site.base}/sitemap.xml"]
delay = 0.0
''', "utf-8")
    data = tmp_path / "data"
    try:
        result = run_ccnews("crawl", "hostile", data_dir=data, registry=registry)
        assert result.returncode == 0, result.stderr[-2000:]
    finally:
        site.stop()
    stored = articles(data)
    # The title is kept as the outlet wrote it; the byline cleaner keeps a quote and an attribute.
    assert len(stored) == 2 and all("<script>" in a["title"] and '"onmouseover=' in a["authors"][0] for a in stored)
    s = Served(data, registry)
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        beacon.requests.clear()
        author = {f"/article/{a['id']}": a["authors"][0] for a in stored}
        for path in ["/?q=batik", "/?q=pameran&sort=date", *[f"/article/{a['id']}" for a in stored],
                     *[f"/raw/{a['id']}/1" for a in stored], "/sources", "/collections"]:
            page.goto(s.base + path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("() => window.__pwned") is None, path
            if not path.startswith("/raw/"):  # a capture opened alone is the outlet's bytes, links and all
                assert page.locator("a[href^='javascript' i], [onerror], [onload]").count() == 0, path
            if path.startswith("/article/"):
                # The hostile values are shown as text.
                assert HOSTILE in page.inner_text("article h1")
                assert author[path] in page.inner_text("article dl")
                frame = page.frame_locator("iframe.capture").first
                assert "Para perajin batik" in frame.locator("body").inner_text()
        assert dialogs == []
        assert beacon.requests == []  # no image, style, frame or script of a captured page was fetched
    finally:
        page.close()
        s.stop()
        beacon.stop()
